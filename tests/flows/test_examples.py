"""``magec examples load`` creates the example flows (and agents) on picked backends; they run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from magec.cli import app as cli
from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, Reply, ToolCall
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, backend, errors, run, texts


def test_examples_load_creates_runnable_flows(tmp_path: Path, oai: FakeServer, claude: FakeServer,
                                              arrivals: Arrivals, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("MAGEC_DATA_DIR", str(data))
    monkeypatch.setenv("MAGEC_ENCRYPTION_KEY", "test-encryption-key")
    ids: dict[str, str] = {}

    async def make_backends() -> None:
        async with running_apps(data) as apps:
            await backend(apps, oai, "openai", name="Cloud")
            ids["claude"] = await backend(apps, claude, "anthropic", name="Claude")

    asyncio.run(make_backends())
    runner = CliRunner()
    bad = runner.invoke(cli, ["examples", "load", "--backend", "nope", "--model", "m"])
    assert bad.exit_code == 1 and "backend 'nope' not found" in bad.output
    bad = runner.invoke(cli, ["examples", "load", "--backend", "Cloud"])
    assert bad.exit_code == 1 and "a model is required" in bad.output
    ok = runner.invoke(cli, ["examples", "load", "-b", "Cloud", "-b", ids["claude"], "-m", "gpt-x", "-m", "claude-x"])
    assert ok.exit_code == 0, ok.output
    assert "created flow Research pipeline" in ok.output and "created flow Debate" in ok.output
    assert "created flow Support triage" in ok.output
    again = runner.invoke(cli, ["examples", "load", "--backend", "Cloud", "--model", "m"])
    assert again.exit_code == 0 and again.output.count("already exists; skipped") == 3

    async def use_them() -> None:
        async with running_apps(data) as apps:
            flows = {f["name"]: f for f in (await apps.admin.get(f"{A}/flows")).json()}
            assert set(flows) == {"Research pipeline", "Debate", "Support triage"}
            assert all(f["valid"] for f in flows.values()), flows
            agents = {a["name"]: a for a in (await apps.admin.get(f"{A}/agents")).json()}
            assert len(agents) == 11
            # agents spread over the two picks, round robin, each with its own model
            assert agents["Researcher A"]["llm"]["model"] == "gpt-x"
            assert agents["Researcher B"]["llm"] == {**agents["Researcher B"]["llm"], "backend": ids["claude"],
                                                     "model": "claude-x"}
            events = await run(apps, flows["Research pipeline"]["id"], "Why is the sea salty?")
            # researcher A on oai, B on claude (parallel), fact checker on oai, synthesiser on claude
            assert sorted(arrivals.names()[:2]) == ["claude", "oai"] and arrivals.names()[2:] == ["oai", "claude"], \
                (arrivals.names(), errors(events), [e.get("author") for e in events])
            fact_check = json.dumps(oai.requests[-1].json["messages"][0])
            assert "oai-reply-1" in fact_check and "claude-reply-1" in fact_check  # {{agent.output:...}}
            assert oai.requests[-1].json["model"] == "gpt-x"
            assert texts(events) == ["claude-reply-2"]
            arrivals.clear()
            # Debate: pro (oai), con (claude), moderator (oai) calls exit_loop in round 1
            arrivals.plan[("oai", 2)] = Reply(tool_calls=[ToolCall("exit_loop", {})])
            events = await run(apps, flows["Debate"]["id"], "Cats are better than dogs")
            assert arrivals.names() == ["oai", "claude", "oai", "oai"]
            assert texts(events) == ["oai-reply-3"]
            # Support triage (a graph): classifier on oai, billing desk on claude, technical desk on oai
            triage = flows["Support triage"]
            assert triage["entry"] == "classify" and len(triage["nodes"]) == 5 and "root" not in triage
            arrivals.clear()
            arrivals.plan[("oai", 1)] = Reply(text="Billing.")
            events = await run(apps, triage["id"], "I was charged twice", session="t1")
            assert arrivals.names() == ["oai", "claude"] and texts(events) == ["claude-reply-1"]
            arrivals.clear()
            arrivals.plan[("oai", 1)] = Reply(text="technical")
            events = await run(apps, triage["id"], "the app crashes", session="t2")
            assert arrivals.names() == ["oai", "oai"] and texts(events) == ["oai-reply-2"]

    asyncio.run(use_them())
