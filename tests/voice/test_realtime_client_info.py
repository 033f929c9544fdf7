"""``GET /api/v1/client/info`` in Magec's shape, the voice-events cookie, and CORS on the user API."""

from __future__ import annotations

from pathlib import Path

from magec.api.user.client_info import VOICE_COOKIE
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.voice.helpers import OPENAI_KEY, A, agent, backend

INFO = "/api/v1/client/info"


def step(agent_id: str, response: bool = False) -> dict[str, object]:
    return {"type": "agent", "agentId": agent_id, "responseAgent": response}


async def test_client_info_open_paired_and_refused(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    voiced = await agent(apps, "Voiced", transcription={"backend": bid}, tts={"backend": bid})
    mute = await agent(apps, "Mute")
    r = await apps.admin.post(f"{A}/flows", json={"name": "Duo", "root": {"type": "sequential", "steps": [
        step(mute), step(voiced, response=True)]}})
    fid = r.json()["id"]

    # open mode: unpaired, but every agent and flow listed so an unpaired UI can work
    r = await apps.user.get(INFO)
    assert r.status_code == 200
    body = r.json()
    assert body["paired"] is False and body["openMode"] is True
    assert {a["id"] for a in body["allowedAgents"]} == {voiced, mute, fid}

    c = (await apps.admin.post(f"{A}/clients", json={"name": "Kitchen tablet", "allowedAgents": [fid, mute]})).json()
    # clients exist: no token → Magec's unpaired answer, nothing else
    r = await apps.user.get(INFO)
    assert r.status_code == 200 and r.json() == {"paired": False}
    r = await apps.user.get(INFO, headers={"Authorization": "Bearer mgc_wrong"})
    assert r.status_code == 401
    r = await apps.user.get(INFO, headers={"Authorization": f"Bearer {c['token']}"})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "paired": True,
        "name": "Kitchen tablet",
        "defaultAgent": fid,
        "allowedAgents": [
            {"id": fid, "name": "Duo", "type": "flow", "voice": {"stt": True, "tts": True}, "agents": [
                {"id": mute, "name": "Mute", "type": "agent", "voice": {"stt": False, "tts": False}},
                {"id": voiced, "name": "Voiced", "type": "agent", "responseAgent": True,
                 "voice": {"stt": True, "tts": True}},
            ]},
            {"id": mute, "name": "Mute", "type": "agent", "voice": {"stt": False, "tts": False}},
        ],
    }
    # the WebSocket cookie: HttpOnly, SameSite=Strict, only for the voice-events path
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{VOICE_COOKIE}={c['token']}")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api/v1/voice/events" in cookie
    # unpairing (no token) clears it
    r = await apps.user.get(INFO, headers={"Cookie": f"{VOICE_COOKIE}={c['token']}"})
    assert r.json() == {"paired": False} and f'{VOICE_COOKIE}=""' in r.headers["set-cookie"]
    # a disabled client is refused like a bad token
    await apps.admin.put(f"{A}/clients/{c['id']}", json={"name": "Kitchen tablet", "allowedAgents": [fid], "enabled": False})
    r = await apps.user.get(INFO, headers={"Authorization": f"Bearer {c['token']}"})
    assert r.status_code == 401


PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
ROUTES = ["/api/v1/agent/run_sse", "/api/v1/agent/apps/a/users/u/sessions", "/api/v1/voice/a/speech",
          "/v1/chat/completions", INFO]


async def test_cors_default_is_same_origin_only(sqlite_apps: Apps) -> None:
    for path in ROUTES:
        r = await sqlite_apps.user.options(path, headers={"Origin": "https://voice.example.com", **PREFLIGHT})
        assert "access-control-allow-origin" not in r.headers, path
    r = await sqlite_apps.user.post("/api/v1/agent/run", json={}, headers={"Origin": "https://voice.example.com"})
    assert r.status_code == 403 and r.json()["field"] == "Origin"


async def test_cors_configured_origins(tmp_path: Path) -> None:
    async with running_apps(tmp_path, config={"cors_origins": ["https://voice.example.com/"]}) as apps:
        for path in ROUTES:
            r = await apps.user.options(path, headers={"Origin": "https://voice.example.com", **PREFLIGHT})
            assert r.status_code == 200, (path, r.text)
            assert r.headers["access-control-allow-origin"] == "https://voice.example.com"
            assert "authorization" in r.headers["access-control-allow-headers"].lower()
            assert "POST" in r.headers["access-control-allow-methods"]
            r = await apps.user.options(path, headers={"Origin": "https://evil.example.com", **PREFLIGHT})
            assert "access-control-allow-origin" not in r.headers
        r = await apps.user.get(INFO, headers={"Origin": "https://voice.example.com"})
        assert r.headers["access-control-allow-origin"] == "https://voice.example.com"
        # a cross-origin write from the allowed origin gets through the guard (here to a 400)
        r = await apps.user.post("/api/v1/agent/run", json={}, headers={"Origin": "https://voice.example.com"})
        assert r.status_code == 400 and r.headers["access-control-allow-origin"] == "https://voice.example.com"
    async with running_apps(tmp_path / "any", config={"cors_origins": ["*"]}) as apps:
        r = await apps.user.options("/api/v1/agent/run_sse", headers={"Origin": "https://any.example", **PREFLIGHT})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
        r = await apps.user.post("/api/v1/agent/run", json={}, headers={"Origin": "https://any.example"})
        assert r.status_code == 400


async def test_voice_ui_served_at_root_and_can_be_turned_off(tmp_path: Path, sqlite_apps: Apps) -> None:
    r = await sqlite_apps.user.get("/")
    assert r.status_code == 200 and "magec voice" in r.text and "content-security-policy" in r.headers
    r = await sqlite_apps.user.get("/manifest.webmanifest")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/manifest+json")
    # the catch-all never answers for the API
    r = await sqlite_apps.user.get("/api/v1/not-a-route")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    async with running_apps(tmp_path / "off", config={"voice_ui_enabled": False}) as apps:
        assert (await apps.user.get("/")).status_code == 404
        assert (await apps.user.get("/api/v1/client/info")).status_code == 200
        assert (await apps.user.get("/openapi.json")).status_code == 200
    # voice.ui.dir serves another build (e.g. Magec's own Voice UI) at the same place
    other = tmp_path / "other-ui"
    (other / "assets").mkdir(parents=True)
    (other / "index.html").write_text("<!doctype html><title>another voice ui</title>")
    (other / "assets" / "app.js").write_text("console.log('hi')")
    async with running_apps(tmp_path / "dir", config={"voice_ui_dir": str(other)}) as apps:
        assert "another voice ui" in (await apps.user.get("/")).text
        assert "another voice ui" in (await apps.user.get("/deep/link")).text
        assert (await apps.user.get("/assets/app.js")).text == "console.log('hi')"
