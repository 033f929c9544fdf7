"""``GET /api/v1/admin/server``: the user API's base URL the Admin UI shows webhook and OpenAI URLs
with: ``server.publicURL`` when set, else the admin's host with the user port."""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps


async def test_user_api_url_from_the_host_and_user_port(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", config={"port": 18080}) as apps:
        r = await apps.admin.get("/api/v1/admin/server")
        assert r.status_code == 200 and r.json() == {"userApiUrl": "http://admin:18080"}


async def test_user_api_url_is_the_public_url_when_set(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", config={"public_url": "https://magec.example/"}) as apps:
        r = await apps.admin.get("/api/v1/admin/server")
        assert r.json() == {"userApiUrl": "https://magec.example"}
