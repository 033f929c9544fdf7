"""Served below a root path (an ASGI mount, or a proxy that sets ``root_path``), every user route
is still reached: the gated routers (magec.api.routing) match the path below the root path, as
Starlette's own routes do."""

from __future__ import annotations

from pathlib import Path

import httpx

from magec.server import user_app
from magec.testing.apps import running_apps


async def test_user_routes_answer_below_a_root_path(tmp_path: Path) -> None:
    async with running_apps(tmp_path) as apps:
        transport = httpx.ASGITransport(app=user_app(apps.ctx), root_path="/magec")
        async with httpx.AsyncClient(transport=transport, base_url="http://user") as client:
            for path in ("/magec/v1/models", "/magec/api/v1/agent/list-apps", "/magec/api/v1/health"):
                r = await client.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[:200])
            # and a path no router serves is still a 404, not another route's answer
            assert (await client.get("/magec/v1/nothing-here")).status_code == 404
