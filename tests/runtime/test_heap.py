"""Start-up imports run with the collector paused; the serving heap is frozen while a runtime is
up, and released when it closes; code loaded later is frozen at the next rebuild; a bulky object
defers the older collections while it lives; a let-go list is freed off the calling thread
(magec/heap.py)."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from pathlib import Path

import pytest

from magec import heap
from magec.heap import YOUNG_THRESHOLD
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


class _Owner(list[object]):
    """Stands for a bulky request's history (a list that takes a weak reference)."""


def test_older_collections_wait_while_a_bulky_object_lives_and_resume_when_it_dies() -> None:
    before = gc.get_threshold()
    first, second = _Owner(), _Owner()
    heap.defer_older_collections(first)
    heap.defer_older_collections(second)  # deferrals nest: the last one to die ends them
    assert heap.deferring() and gc.get_threshold() == (before[0], heap.DEFERRED, heap.DEFERRED)
    del first
    assert heap.deferring()
    del second
    assert not heap.deferring() and gc.get_threshold() == before


def test_letting_go_of_a_list_ends_its_deferral_though_something_still_holds_it() -> None:
    """A turn's end lets go of its history: the deferral ends there, even if a finished response
    keeps the (now empty) list alive in a reference cycle that only an older pass would free."""
    before = gc.get_threshold()
    owner = _Owner(range(10))
    heap.defer_older_collections(owner)
    assert heap.deferring()
    assert heap.let_go(owner) is None and owner == []
    assert not heap.deferring() and gc.get_threshold() == before
    heap.defer_older_collections(other := _Owner())
    del owner  # its death ends nothing more: the other deferral holds
    assert heap.deferring()
    del other
    assert gc.get_threshold() == before


def test_a_deferral_past_its_bound_gives_way_while_its_owner_lives(monkeypatch: pytest.MonkeyPatch) -> None:
    """An owner caught in a reference cycle (only a full collection could free it) must not stop
    the older collections for good: the next young collection past the bound restores them."""
    before = gc.get_threshold()
    owner = _Owner()
    heap.defer_older_collections(owner)
    assert heap.deferring()
    monkeypatch.setattr(heap, "MAX_DEFERRAL_S", 0.0)
    gc.collect(0)
    assert not heap.deferring() and gc.get_threshold() == before
    heap.defer_older_collections(_keep := _Owner())  # no new deferral until none lives
    assert not heap.deferring()
    del owner, _keep
    monkeypatch.setattr(heap, "MAX_DEFERRAL_S", 30.0)
    heap.defer_older_collections(again := _Owner())  # then deferring works again
    assert heap.deferring()
    del again
    assert gc.get_threshold() == before


def test_let_go_empties_a_list_at_once_and_frees_its_items_in_a_worker_thread() -> None:
    freed: list[str] = []

    class Item:
        def __del__(self) -> None:
            freed.append(threading.current_thread().name)

    shared = [Item() for _ in range(heap.LET_GO_MIN * 3)]
    also_held = shared  # the turn's other holders of the same list
    done = heap.let_go(shared)
    assert also_held == [] and done is not None
    done.result(timeout=30)
    assert len(freed) == heap.LET_GO_MIN * 3 and {n.split("_")[0] for n in freed} == {"magec-let-go"}
    short = [Item()]
    assert heap.let_go(short) is None and short == [] and freed[-1] == threading.current_thread().name


async def test_code_imported_while_serving_is_frozen_at_the_next_rebuild(tmp_path: Path) -> None:
    """A vendor SDK imported when its first backend is added joins the frozen heap: the next
    configuration change (a rebuild) freezes again, and only then."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "magec_late_module.py").write_text("TABLE = [{'row': i} for i in range(2000)]\n")
    sys.path.insert(0, str(tmp_path / "pkg"))
    try:
        async with running_apps(tmp_path / "data") as apps:
            r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "A", "key": "A_KEY", "value": "v"})
            assert r.status_code in (200, 201), r.text
            frozen = gc.get_freeze_count()
            importlib.import_module("magec_late_module")
            r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "B", "key": "B_KEY", "value": "v"})
            assert r.status_code in (200, 201), r.text
            assert gc.get_freeze_count() >= frozen + 2000
            frozen = gc.get_freeze_count()
            r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "C", "key": "C_KEY", "value": "v"})
            assert r.status_code in (200, 201), r.text
            assert gc.get_freeze_count() <= frozen  # nothing new: no freeze (frozen objects may die)
    finally:
        sys.path.remove(str(tmp_path / "pkg"))
        sys.modules.pop("magec_late_module", None)


def test_a_deferred_block_defers_until_it_ends_also_when_it_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(ValueError), heap.deferred():
        assert heap.deferring()
        raise ValueError("a body that does not parse")
    assert not heap.deferring() and gc.get_threshold() == before


def test_start_up_imports_pause_the_collector_and_give_it_back_also_when_they_raise() -> None:
    """``magec serve`` (and the CLI's commands) import ~1 s of modules with the collector paused:
    after the block it collects again (a server left without it would never free a cycle), and a
    collector that was off before stays off."""
    assert gc.isenabled()
    with heap.collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ImportError), heap.collection_paused():
        raise ImportError("a module that fails to import")
    assert gc.isenabled()
    gc.disable()
    try:
        with heap.collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
