"""Context guard: long sessions send a capped history; the session keeps everything."""

from __future__ import annotations

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import U, make_agent


async def test_sliding_window(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, contextGuard={"enabled": True, "strategy": "sliding_window", "maxTurns": 2})
    for i in range(5):
        await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s",
                                               "newMessage": {"parts": [{"text": f"message {i}"}]}})
    sent = [m.get("content") for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent == ["message 3", "openai-x says: message 3", "message 4"]
    history = (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/s")).json()
    assert len(history["events"]) == 10


async def test_threshold(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, contextGuard={"enabled": True, "strategy": "threshold", "maxTokens": 60})
    for i in range(6):
        await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s",
                                               "newMessage": {"parts": [{"text": f"message {i} " + "x" * 60}]}})
    sent = [m.get("content") for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    assert sent[-1].startswith("message 5") and len(sent) < 11
    assert not any(s.startswith("message 0") for s in sent)


async def test_blank_max_turns_keeps_magecs_20(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """Magec's guard keeps 20 turns when ``maxTurns`` is not set (it kept everything here); a
    ``null`` or an emptied number box (``""``) is blank too (they were a 400)."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, contextGuard={"enabled": True, "strategy": "sliding_window",
                                                            "maxTurns": None})
    agent = (await apps.admin.get(f"/api/v1/admin/agents/{aid}")).json()
    assert agent["contextGuard"]["maxTurns"] == 0
    for blank in ("", None):
        r = await apps.admin.put(f"/api/v1/admin/agents/{aid}", json={**agent, "contextGuard": {
            **agent["contextGuard"], "maxTokens": blank}})
        assert r.status_code == 200 and r.json()["contextGuard"]["maxTokens"] == 0, r.text
    r = await apps.admin.put(f"/api/v1/admin/agents/{aid}", json={**agent, "contextGuard": {
        **agent["contextGuard"], "maxTurns": -1}})
    assert r.status_code == 400 and r.json()["field"] == "contextGuard.maxTurns"
    for i in range(22):
        r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s",
                                                   "newMessage": {"parts": [{"text": f"message {i}"}]}})
        assert r.status_code == 200, r.text
    sent = [m.get("content") for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] == "user"]
    assert sent == [f"message {i}" for i in range(2, 22)]


async def test_blank_max_tokens_keeps_under_magecs_102400(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """Magec's threshold without ``maxTokens`` compacts at 102,400 tokens (an unknown model's
    128,000 less its 20 % buffer); here it sent everything, however long."""
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x, contextGuard={"enabled": True, "strategy": "threshold"})
    for i in range(6):  # ≈ 20,000 estimated tokens a turn (a 40,000-character message and its echo)
        r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "s",
                                                   "newMessage": {"parts": [{"text": f"message {i} " + "x" * 40_000}]}})
        assert r.status_code == 200, r.text
    messages = [m for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] != "system"]
    users = [m["content"].split(" ")[1] for m in messages if m["role"] == "user"]
    assert users == ["1", "2", "3", "4", "5"]  # the first turn went, the last 102,400 tokens stayed
    assert sum(len(m["content"]) for m in messages) // 4 <= 102_400
