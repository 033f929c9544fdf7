"""Invalid flows (reason names the step; others unaffected) and live changes with no restart."""

from __future__ import annotations

import json

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, U, agent, backend, flow, run, seq, step, texts


async def test_invalid_agent_makes_only_that_flow_invalid(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    good = await agent(apps, await backend(apps, oai, "openai"), "Good")
    r = await apps.admin.post(f"{A}/agents", json={"name": "Brainless"})
    bad = r.json()["id"]
    broken = await flow(apps, "Broken", seq(step(good), step(bad)))
    fine = await flow(apps, "Fine", seq(step(good)))
    view = (await apps.admin.get(f"{A}/flows/{broken}")).json()
    assert view["valid"] is False
    assert view["invalidReason"] == "Step 2: agent 'Brainless': LLM backend not configured"
    assert (await apps.admin.get(f"{A}/flows/{fine}")).json()["valid"] is True
    r = await apps.user.post(f"{U}/run", json={"appName": broken, "userId": "u",
                                               "newMessage": {"parts": [{"text": "hi"}]}})
    assert r.status_code == 503 and "Step 2" in r.json()["error"]
    assert texts(await run(apps, fine, "hi")) == ["oai-reply-1"]
    assert texts(await run(apps, good, "hi")) == ["oai-reply-2"]


async def test_force_deleted_agent_leaves_an_invalid_empty_flow(sqlite_apps: Apps, oai: FakeServer) -> None:
    apps = sqlite_apps
    only = await agent(apps, await backend(apps, oai, "openai"), "Only")
    fid = await flow(apps, "Lonely", seq(step(only)))
    assert (await apps.admin.delete(f"{A}/agents/{only}")).status_code == 409
    assert (await apps.admin.delete(f"{A}/agents/{only}", params={"force": "true"})).status_code == 204
    view = (await apps.admin.get(f"{A}/flows/{fid}")).json()
    assert view["valid"] is False and view["invalidReason"].startswith("The flow: a sequential step needs")


async def test_live_edits_apply_to_the_next_run(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Alpha", systemPrompt="Version one.")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Beta")
    fid = await flow(apps, "Live", seq(step(a)))
    await run(apps, fid, "first")
    assert arrivals.names() == ["oai"] and "Version one." in json.dumps(oai.requests[-1].json)
    # edit the flow: add a step
    r = await apps.admin.put(f"{A}/flows/{fid}", json={"name": "Live", "root": seq(step(a), step(b, response=True))})
    assert r.status_code == 200, r.text
    arrivals.log.clear()
    events = await run(apps, fid, "second")
    assert arrivals.names() == ["oai", "claude"] and texts(events) == ["claude-reply-1"]
    # edit an agent used by the flow
    agent_body = (await apps.admin.get(f"{A}/agents/{a}")).json()
    agent_body["systemPrompt"] = "Version two."
    r = await apps.admin.put(f"{A}/agents/{a}", json=agent_body)
    assert r.status_code == 200, r.text
    await run(apps, fid, "third")
    sent = json.dumps(oai.requests[-1].json)
    assert "Version two." in sent and "Version one." not in sent
    # the same session kept its history across both rebuilds
    assert "first" in sent and "second" in sent


async def test_backend_error_mid_flow_becomes_an_error_event(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                             arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Fine")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Flaky")
    c = await agent(apps, await backend(apps, oai, "openai", name="oai-3"), "Never")
    claude.script(Reply.fail(401, "bad key"))
    fid = await flow(apps, "Fails", seq(step(a), step(b), step(c, response=True)))
    events = await run(apps, fid, "go")
    assert arrivals.names() == ["oai"]  # the third agent never ran
    assert events[-1]["errorCode"] == "auth" and events[-1]["turnComplete"] is True
