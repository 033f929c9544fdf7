"""``magec import-magec`` keeps a Magec G2 store's graph flows (subflows before the flows that embed
them, a legacy ``defaultRoute`` renamed ``otherwise``), ``settings.flows`` and ``temporaryDir``;
the imported router flow then runs and routes by the classifier's answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, Reply
from tests.flows.conftest import Arrivals
from tests.flows.helpers import A, run, texts


def g2_store(oai_url: str, claude_url: str) -> dict:  # type: ignore[type-arg]
    """A store.json in Magec's G2 shape (graph flows; the triage flow listed before the flow it embeds)."""
    return {
        "settings": {"sessionProvider": "", "longTermProvider": "", "temporaryDir": "/tmp/magec-artifacts",
                     "flows": {"executionTimeoutMs": 2000, "maxOutputBytes": 65536, "disabledLibraries": ["print"]}},
        "backends": [{"id": "b-oai", "name": "OAI", "type": "openai", "url": oai_url, "apiKey": "sk-x"},
                     {"id": "b-claude", "name": "Claude", "type": "anthropic", "url": claude_url, "apiKey": "sk-y"}],
        "agents": [{"id": "classifier", "name": "Classifier", "llm": {"backend": "b-oai", "model": "m"}},
                   {"id": "billing", "name": "Billing", "llm": {"backend": "b-claude", "model": "m"}},
                   {"id": "general", "name": "General", "llm": {"backend": "b-oai", "model": "m"}}],
        "flows": [
            {"id": "triage", "name": "Triage", "entry": "classify", "startX": 40, "startY": 80, "nodes": [
                {"id": "classify", "type": "agent", "agentId": "classifier", "x": 100, "y": 80, "w": 180, "h": 60},
                {"id": "route", "type": "router", "x": 320, "y": 80, "defaultRoute": "fallback",
                 "rules": [{"when": 'input.contains("billing")', "route": "billing"}]},
                {"id": "billing-desk", "type": "agent", "agentId": "billing", "responseAgent": True},
                {"id": "helpdesk", "type": "subflow", "flowId": "general-desk"},
            ], "edges": [{"from": "classify", "to": "route"},
                         {"from": "route", "to": "billing-desk", "route": "billing"},
                         {"from": "route", "to": "helpdesk", "route": "fallback"}]},
            {"id": "general-desk", "name": "General desk", "entry": "answer", "nodes": [
                {"id": "answer", "type": "agent", "agentId": "general", "responseAgent": True},
                {"id": "tag", "type": "code", "script": "output = {'len': len(input)}", "outputKey": "tag",
                 "timeoutMs": 500}],
             "edges": [{"from": "answer", "to": "tag"}]},
        ],
        "clients": [], "commands": [], "secrets": [], "mcpServers": [], "memoryProviders": [],
    }


async def test_import_g2_store_keeps_and_runs_graph_flows(tmp_path: Path, oai: FakeServer, claude: FakeServer,
                                                          arrivals: Arrivals) -> None:
    store_json = tmp_path / "store.json"
    store_json.write_text(json.dumps(g2_store(oai.url, claude.url)))
    db = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'magec.db'}"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"server: {{encryptionKey: k}}\ndataDir: {tmp_path / 'data'}\ndatabase: {{url: \"{db}\"}}\n")
    r = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(store_json), "--config", str(cfg)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "skipped" not in r.stdout + r.stderr
    async with running_apps(tmp_path / "data", database_url=db, encryption_key="k") as apps:
        flows = {f["id"]: f for f in (await apps.admin.get(f"{A}/flows")).json()}
        assert set(flows) == {"triage", "general-desk"}
        triage = flows["triage"]
        assert triage["startX"] == 40 and triage["nodes"][0]["w"] == 180
        assert triage["edges"][2] == {"from": "route", "to": "helpdesk", "route": "otherwise"}
        settings = (await apps.admin.get(f"{A}/settings")).json()
        assert settings["temporaryDir"] == "/tmp/magec-artifacts"
        assert settings["flows"]["executionTimeoutMs"] == 2000 and settings["flows"]["disabledLibraries"] == ["print"]
        # it runs: a billing question goes to the billing desk ...
        arrivals.plan[("oai", 1)] = Reply(text="billing")
        events = await run(apps, "triage", "I was charged twice")
        assert arrivals.names() == ["oai", "claude"] and texts(events) == ["claude-reply-1"]
        # ... anything else through the embedded general-desk flow, whose code node tags the answer
        arrivals.clear()
        arrivals.plan[("oai", 1)] = Reply(text="other")
        events = await run(apps, "triage", "hello", session="s2")
        assert arrivals.names() == ["oai", "oai"] and texts(events) == ["oai-reply-2"]
        session = (await apps.user.get("/api/v1/agent/apps/triage/users/u1/sessions/s2")).json()
        assert session["state"]["flow:tag"] == {"len": len("oai-reply-2")}
