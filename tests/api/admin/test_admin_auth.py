"""Admin password: bearer required on /api/*, constant-time compare, 429 after 5 failures a minute."""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps

A = "/api/v1/admin"


async def test_admin_password(tmp_path: Path) -> None:
    # the in-process client's peer is 127.0.0.1: as a trusted proxy its X-Forwarded-For counts
    async with running_apps(tmp_path / "d", admin_password="s3cret-pass",
                            config={"trusted_proxies": ["127.0.0.1"]}) as apps:
        ok = await apps.admin.get(f"{A}/auth/check")
        assert ok.status_code == 200 and ok.json() == {"ok": True}
        anon = apps.admin.build_request("GET", f"{A}/backends")
        anon.headers.pop("authorization")
        r = await apps.admin.send(anon)
        assert r.status_code == 401 and "error" in r.json()
        assert (await apps.admin.get("/api/v1/health")).status_code == 200
        for _ in range(10):  # no credentials at all: 401, but never a lockout
            anon = apps.admin.build_request("GET", f"{A}/backends")
            anon.headers.pop("authorization")
            assert (await apps.admin.send(anon)).status_code == 401
        bad = {"Authorization": "Bearer wrong"}
        for _ in range(4):
            assert (await apps.admin.get(f"{A}/backends", headers=bad)).status_code == 401
        assert (await apps.admin.get(f"{A}/backends", headers={"Authorization": "Basic x"})).status_code == 401
        r = await apps.admin.get(f"{A}/backends", headers=bad)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        # even the right password is refused while the IP is locked out
        assert (await apps.admin.get(f"{A}/backends")).status_code == 429
        # another client IP (behind the trusted proxy) is unaffected
        r = await apps.admin.get(f"{A}/backends", headers={"X-Forwarded-For": "10.9.9.9"})
        assert r.status_code == 200
        # IPv6: one host holds a whole /64, so its addresses count as one (each address counted
        # alone gave it unlimited guesses)
        for i in range(1, 6):
            r = await apps.admin.get(f"{A}/backends", headers={**bad, "X-Forwarded-For": f"2001:db8:1:2::{i:x}"})
            assert r.status_code == 401
        r = await apps.admin.get(f"{A}/backends", headers={**bad, "X-Forwarded-For": "2001:db8:1:2:ffff::9"})
        assert r.status_code == 429
        r = await apps.admin.get(f"{A}/backends", headers={"X-Forwarded-For": "2001:db8:1:3::1"})
        assert r.status_code == 200  # the next /64 is another network


async def test_open_without_password(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d") as apps:
        assert (await apps.admin.get(f"{A}/backends")).status_code == 200
