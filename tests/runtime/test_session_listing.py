"""The session listing (``GET …/users/{user}/sessions``, ADK's shape) holds a bounded amount of
state whatever is stored: a session whose state is too big to list, or that is not one of the most
recently updated, is listed with ``state: {}`` and ``stateOmitted: true``; reading the session
itself still gives its whole state. On each session store (SQLite, PostgreSQL, Redis)."""

from __future__ import annotations

from magec.memory.session_listing import STATE_LIMIT, STATE_SESSIONS
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_run_api import make_agent

U = "/api/v1/agent"


async def test_a_listing_leaves_big_and_old_states_out(session_apps: Apps, openai_x: FakeServer) -> None:
    apps = session_apps
    _, aid = await make_agent(apps, openai_x)
    base = f"{U}/apps/{aid}/users/ada/sessions"
    blob = "y" * (STATE_LIMIT + 1024)
    for sid, state in (("small", {"client:note": "kept"}), ("big", {"client:blob": blob}), ("empty", {})):
        r = await apps.user.post(f"{base}/{sid}", json={"state": state})
        assert r.status_code == 200, r.text
    r = await apps.user.get(base)
    assert r.status_code == 200, r.text
    assert len(r.content) < 4096, len(r.content)  # the big state is not in the answer
    listed = {s["id"]: s for s in r.json()}
    assert set(listed) == {"small", "big", "empty"}
    assert listed["small"]["state"] == {"client:note": "kept"} and "stateOmitted" not in listed["small"]
    assert listed["empty"]["state"] == {} and "stateOmitted" not in listed["empty"]
    assert listed["big"]["state"] == {} and listed["big"]["stateOmitted"] is True
    assert all(s["events"] == [] and s["lastUpdateTime"] > 0 and s["userId"] == "ada" for s in listed.values())
    # the session itself is read whole
    whole = (await apps.user.get(f"{base}/big")).json()
    assert whole["state"]["client:blob"] == blob
    # only the most recently updated sessions are listed with their state
    for i in range(STATE_SESSIONS):
        assert (await apps.user.post(f"{base}/later-{i}", json={"state": {"client:n": i}})).status_code == 200
    listed = {s["id"]: s for s in (await apps.user.get(base)).json()}
    assert len(listed) == STATE_SESSIONS + 3
    assert listed["small"]["state"] == {} and listed["small"]["stateOmitted"] is True
    assert listed[f"later-{STATE_SESSIONS - 1}"]["state"] == {"client:n": STATE_SESSIONS - 1}
    assert sum(1 for s in listed.values() if not s.get("stateOmitted")) == STATE_SESSIONS
