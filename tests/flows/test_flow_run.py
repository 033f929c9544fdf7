"""Flows end to end: mixed backends in order, parallel overlap, response filtering, data passing."""

from __future__ import annotations

import json
from typing import Any

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.flows.conftest import Arrivals
from tests.flows.helpers import U, agent, backend, flow, par, run, seq, settle, step, texts


def dump(req: Any) -> str:
    return json.dumps(req.json)


async def test_three_backends_in_order_with_earlier_output(sqlite_apps: Apps, oai: FakeServer, claude: FakeServer,
                                                           gem: FakeServer, arrivals: Arrivals) -> None:
    apps = sqlite_apps
    a = await agent(apps, await backend(apps, oai, "openai"), "Drafter", systemPrompt="You draft.")
    b = await agent(apps, await backend(apps, claude, "anthropic"), "Critic", systemPrompt="You criticise.")
    c = await agent(apps, await backend(apps, gem, "gemini"), "Editor", systemPrompt="You edit.")
    fid = await flow(apps, "Mixed", seq(step(a), step(b), step(c, response=True)))
    events = await run(apps, fid, "write a haiku about tides")
    # each agent called its own backend exactly once, in flow order
    assert arrivals.names() == ["oai", "claude", "gem"]
    assert [sum(r.route == "chat" for r in s.requests) for s in (oai, claude, gem)] == [1, 1, 1]
    assert "You draft." in dump(oai.requests[-1]) and "write a haiku about tides" in dump(oai.requests[-1])
    assert "You criticise." in dump(claude.requests[-1]) and "oai-reply-1" in dump(claude.requests[-1])
    assert "write a haiku about tides" in dump(claude.requests[-1])
    gem_req = dump(gem.requests[-1])
    assert "You edit." in gem_req and "oai-reply-1" in gem_req and "claude-reply-1" in gem_req
    # the user view only shows the response agent (plus nothing else)
    assert texts(events) == ["gem-reply-1"]
    assert events[-1]["author"] == c and events[-1]["authorName"] == "Editor"
    # flow state tools are offered to flow agents
    assert {"set_state", "get_state"} <= {t["function"]["name"] for t in oai.requests[-1].json["tools"]}
    assert "exit_loop" not in dump(oai.requests[-1])
