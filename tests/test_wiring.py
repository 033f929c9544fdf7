"""The composition root (magec.server) wires every part explicitly.

No first-party module is loaded by a name in a string (only the ``local`` extra's third-party
packages are, in ``backends/local/_deps.py``), and the apps built by ``server.user_app`` /
``server.admin_app`` carry every part's routes, so a missing router fails here, not silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import magec
from magec.testing.apps import running_apps

ROOT = Path(magec.__file__).parent
BY_NAME = re.compile(r"\bimport_module\(|\bimport_optional\(|__import__\(")


def test_no_module_is_loaded_by_name_outside_the_local_extra() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted(ROOT.rglob("*.py"))
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if BY_NAME.search(line)
    ]
    assert all(f.startswith("backends/local/_deps.py:") for f in found), found


async def test_both_apps_carry_every_parts_routes(tmp_path: Path) -> None:
    from magec.server import admin_app, user_app

    async with running_apps(tmp_path / "data") as apps:
        user = set(user_app(apps.ctx).openapi()["paths"])
        admin = set(admin_app(apps.ctx).openapi()["paths"])
        assert apps.ctx.runtime is not None
        assert apps.ctx.runtime.memory is not None and apps.ctx.runtime.mcp is not None
    assert {"/api/v1/agent/run", "/v1/chat/completions", "/api/v1/voice/{agent_id}/speech"} <= user
    assert {
        "/api/v1/admin/backends/types",
        "/api/v1/admin/memory/types",
        "/api/v1/admin/voice/{agent_id}/speech",
        "/api/v1/admin/agent/run",
        "/api/v1/admin/clients/{id}/regenerate-token",
    } <= admin
