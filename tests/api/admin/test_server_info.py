"""``GET /api/v1/admin/server``: the user API's base URL the Admin UI shows webhook and OpenAI URLs
with (``server.publicURL`` when set, else the admin's host with the user port), and who may reach
this server (the Overview's "No admin password" panel reads ``adminPasswordSet``)."""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps


async def test_user_api_url_from_the_host_and_user_port(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", config={"port": 18080}) as apps:
        r = await apps.admin.get("/api/v1/admin/server")
        assert r.status_code == 200 and r.json() == {"userApiUrl": "http://admin:18080", "adminPasswordSet": False,
                                                     "adminListen": "127.0.0.1:8081", "openAccess": "local"}


async def test_user_api_url_is_the_public_url_when_set(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", config={"public_url": "https://magec.example/"}) as apps:
        r = await apps.admin.get("/api/v1/admin/server")
        assert r.json()["userApiUrl"] == "https://magec.example"


async def test_a_set_password_is_said_never_shown(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data", admin_password="right-password-123") as apps:
        r = await apps.admin.get("/api/v1/admin/server", headers={"Authorization": "Bearer right-password-123"})
        assert r.json()["adminPasswordSet"] is True and "right-password-123" not in r.text
