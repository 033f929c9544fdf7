"""The serving heap is frozen while a runtime is up, and released when it closes (runtime/heap.py)."""

from __future__ import annotations

import gc
from pathlib import Path

from magec.runtime.heap import YOUNG_THRESHOLD
from magec.testing.apps import running_apps


async def test_the_start_up_heap_is_frozen_while_serving_and_released_after(tmp_path: Path) -> None:
    before_threshold, before_frozen = gc.get_threshold(), gc.get_freeze_count()
    async with running_apps(tmp_path / "data") as apps:
        assert gc.get_freeze_count() > before_frozen + 10_000  # ADK, the SDKs, the built apps
        assert gc.get_threshold()[0] >= YOUNG_THRESHOLD
        r = await apps.user.get("/api/v1/health")  # serving works on the settled heap
        assert r.status_code == 200
    assert gc.get_threshold() == before_threshold
    assert gc.get_freeze_count() == 0
