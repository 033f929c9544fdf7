"""One declaration per kind: the Admin API's kind list, the declared reference walker, rule tables."""

from __future__ import annotations

from magec.resources import BY_PATH, KINDS, references, singular
from magec.resources.rules import Save, merge
from magec.testing.apps import Apps


async def test_kinds_endpoint_matches_magec_paths(apps: Apps) -> None:
    r = await apps.admin.get("/api/v1/admin/kinds")
    assert r.status_code == 200
    assert {k["path"]: k["kind"] for k in r.json()} == {
        "backends": "backends", "memory": "memoryProviders", "mcps": "mcpServers", "skills": "skills", "agents": "agents",
        "clients": "clients", "commands": "commands", "flows": "flows", "secrets": "secrets",
    }  # fmt: skip
    assert {k["kind"]: k["singular"] for k in r.json()}["mcpServers"] == "mcpServer"


def test_every_kind_declares_path_and_singular() -> None:
    for kind, model in KINDS.items():
        assert model.path and model.singular and BY_PATH[model.path] == kind and singular(kind) == model.singular


def test_refs_and_scrub_follow_the_declarations() -> None:
    agent = {"llm": {"backend": "b"}, "tts": {"backend": ""}, "transcription": None, "mcpServers": ["m", "x"]}
    assert [(r.field, r.target, r.kind) for r in references.refs_of("agents", agent)] == [
        ("llm.backend", "b", "structural"), ("mcpServers[0]", "m", "membership"), ("mcpServers[1]", "x", "membership"),
    ]  # fmt: skip
    assert references.scrub("agents", agent, "m")["mcpServers"] == ["x"]
    assert references.scrub("agents", agent, "b")["llm"]["backend"] == ""
    client = {"allowedAgents": ["a"], "config": {"telegram": {"defaultAgent": "a", "commandId": "c"}, "odd": 1}}
    assert [r.field for r in references.refs_of("clients", client)] == [
        "allowedAgents[0]", "config.telegram.defaultAgent", "config.telegram.commandId",
    ]  # fmt: skip
    scrubbed = references.scrub("clients", client, "a")
    assert scrubbed["allowedAgents"] == [] and scrubbed["config"]["telegram"] == {"defaultAgent": "", "commandId": "c"}
    flow = {"root": {"type": "sequential", "steps": [{"type": "agent", "agentId": "a"}]}}
    assert [r.field for r in references.refs_of("flows", flow)] == ["root.steps[0].agentId"]
    assert references.scrub("flows", flow, "a")["root"] == {"type": "sequential", "steps": []}
    assert [r.field for r in references.refs_of("settings", {"sessionProvider": "p"})] == ["sessionProvider"]


def test_rule_tables_merge_in_order() -> None:
    seen: list[str] = []
    table = merge({"agents": (lambda s: seen.append("core"),)}, {"agents": (lambda s: seen.append("owner"),)})
    for rule in table["agents"]:
        rule(Save({}, None, {}))
    assert seen == ["core", "owner"]
