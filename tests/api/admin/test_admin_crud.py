"""Admin API CRUD for every resource, validation errors, 409/force, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from magec.testing.apps import Apps

A = "/api/v1/admin"


async def create(apps: Apps, segment: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/{segment}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_health_and_docs(apps: Apps) -> None:
    for client in (apps.admin, apps.user):
        r = await client.get("/api/v1/health")
        assert r.status_code == 200 and r.text == "ok"
        r = await client.get("/docs")
        assert r.status_code == 200 and "swagger" in r.text.lower()
        assert (await client.get("/openapi.json")).status_code == 200


async def test_magecs_swagger_paths(apps: Apps) -> None:
    """Magec serves swaggo at ``/swagger/*`` on both ports: its index redirects to our page and
    ``/swagger/doc.json`` is that port's own OpenAPI schema."""
    for client, path in ((apps.admin, "/api/v1/admin/agents"), (apps.user, "/api/v1/agent/run")):
        for old in ("/swagger/index.html", "/swagger/", "/swagger"):
            r = await client.get(old)
            assert r.status_code == 307 and r.headers["location"] == "/docs", old
        r = await client.get("/swagger/doc.json")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert r.json() == (await client.get("/openapi.json")).json() and path in r.json()["paths"]


@pytest.mark.parametrize(
    ("segment", "body", "update"),
    [
        ("backends", {"name": "OpenAI", "type": "openai", "url": "http://ollama:11434/v1", "headers": {"X-A": "1"}},
         {"name": "Renamed"}),
        ("memory", {"name": "Sessions", "type": "redis", "category": "session",
                    "config": {"connectionString": "redis://localhost:6379/0", "ttl": "24h"}}, {"name": "Renamed"}),
        ("mcps", {"name": "Tools", "type": "stdio", "command": "python", "args": ["-m", "x"]}, {"name": "Renamed"}),
        ("agents", {"name": "Helper", "systemPrompt": "Be brief.", "tags": ["A", " b "]}, {"name": "Renamed"}),
        ("clients", {"name": "Voice UI", "type": "direct"}, {"name": "Renamed"}),
        ("commands", {"name": "Daily", "prompt": "Summarise"}, {"name": "Renamed"}),
        ("secrets", {"name": "OpenAI key", "key": "OPENAI_API_KEY", "value": "sk-test-value-123"}, {"name": "Renamed"}),
    ],
)
async def test_crud_cycle(apps: Apps, segment: str, body: dict[str, Any], update: dict[str, Any]) -> None:
    created = await create(apps, segment, {**body, "id": "client-chosen"})
    assert created["id"] != "client-chosen" and len(created["id"]) == 36
    rid = created["id"]
    listed = (await apps.admin.get(f"{A}/{segment}")).json()
    assert [x["id"] for x in listed] == [rid]
    got = (await apps.admin.get(f"{A}/{segment}/{rid}")).json()
    assert got["name"] == body["name"]
    r = await apps.admin.put(f"{A}/{segment}/{rid}", json={**body, **update, "id": "other"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == rid and r.json()["name"] == "Renamed"
    r = await apps.admin.delete(f"{A}/{segment}/{rid}")
    assert r.status_code == 204
    assert (await apps.admin.get(f"{A}/{segment}/{rid}")).status_code == 404
    assert (await apps.admin.delete(f"{A}/{segment}/{rid}")).status_code == 404


async def test_agent_shape_and_tags(apps: Apps) -> None:
    b = await create(apps, "backends", {"name": "B", "type": "openai"})
    a = await create(apps, "agents", {"name": "A", "tags": ["X", " y "], "llm": {"backend": b["id"], "model": "m"},
                                      "tts": {"backend": b["id"], "model": "tts-1", "voice": "nova", "speed": 1.5}})
    assert a["tags"] == ["x", "y"]
    assert a["tts"]["config"]["openai"]["speed"] == 1.5  # legacy flat speed migrated
    assert a["llm"] == {"backend": b["id"], "model": "m", "headers": {}, "fallbacks": []}
    assert a["valid"] in (True, False) and "invalidReason" in a


async def test_flow_crud(apps: Apps) -> None:
    a = await create(apps, "agents", {"name": "A"})
    flow = {"name": "F", "root": {"type": "sequential", "steps": [
        {"type": "parallel", "steps": [{"type": "agent", "agentId": a["id"]}, {"type": "agent", "agentId": a["id"]}]},
        {"type": "loop", "maxIterations": 3, "exit": {"mode": "expression", "expression": "state.done == true"},
         "steps": [{"type": "agent", "agentId": a["id"], "responseAgent": True}]},
    ]}}
    f = await create(apps, "flows", flow)
    assert f["root"]["steps"][1]["exit"]["mode"] == "expression"
    assert f["root"]["steps"][1]["steps"][0]["responseAgent"] is True


@pytest.mark.parametrize(
    ("segment", "body", "field", "fragment"),
    [
        ("backends", {"type": "openai"}, "name", "name"),
        ("backends", {"name": "  ", "type": "openai"}, "name", "name"),
        ("backends", {"name": "x"}, "type", "type"),
        ("backends", {"name": "x", "type": "nope"}, "type", "unknown backend type"),
        ("backends", {"name": "x", "type": "openai", "timeout": "slow"}, "timeout", "timeout"),
        ("backends", {"name": 5, "type": "openai"}, "name", "name"),
        ("backends", {"name": "x", "type": "openai", "headers": ["a"]}, "headers", "headers"),
        ("backends", {"name": "x", "type": "openai", "url": "ftp://x"}, "url", "url"),
        # pydantic would read ``true`` as 1: one attempt, a 1-second timeout
        ("backends", {"name": "x", "type": "openai", "maxAttempts": True}, "maxAttempts", "not true or false"),
        ("backends", {"name": "x", "type": "openai", "timeout": False}, "timeout", "not true or false"),
        # and would read "no", "off", 0 as false: a typo'd or stringly flag is refused, not guessed
        ("mcps", {"name": "x", "type": "http", "endpoint": "http://h/mcp", "insecure": "yes"}, "insecure", "true or false"),
        ("agents", {"name": "x", "allowAllSecrets": 1}, "allowAllSecrets", "true or false"),
        ("clients", {"name": "x", "type": "direct", "enabled": "off"}, "enabled", "true or false"),
        ("agents", {"name": "x", "llm": {"backend": "missing"}}, "llm.backend", "not found"),
        ("agents", {"name": "x", "llm": {"model": 5}}, "llm.model", "must be a string, got a number"),
        ("agents", {"name": "x", "llm": {"model": ["m"]}}, "llm.model", "must be a string, got an array"),
        ("agents", {"name": "x", "transcription": {"model": {"id": "m"}}}, "transcription.model",
         "must be a string, got an object"),
        ("agents", {"name": "x", "mcpServers": ["missing"]}, "mcpServers[0]", "not found"),
        ("agents", {"name": "x", "outputKey": "bad key"}, "outputKey", "outputKey"),
        ("memory", {"name": "x", "type": "redis", "category": "longterm", "config": {"connectionString": "redis://x"}},
         "category", "session"),
        ("memory", {"name": "x", "type": "redis", "category": "session"}, "config.connectionString", "required"),
        ("memory", {"name": "x", "type": "mongo", "category": "session"}, "type", "unknown memory provider type"),
        ("mcps", {"name": "x", "type": "http"}, "endpoint", "required"),
        ("mcps", {"name": "x"}, "endpoint", "required"),
        ("mcps", {"name": "x", "endpoint": "localhost:3000/mcp"}, "endpoint", "http://"),
        ("mcps", {"name": "x", "endpoint": "http://home assistant/mcp"}, "endpoint", "spaces"),
        ("mcps", {"name": "x", "type": "stdio"}, "command", "required"),
        ("clients", {"name": "x", "type": "pigeon"}, "type", "type"),
        ("clients", {"name": "x", "allowedAgents": ["missing"]}, "allowedAgents[0]", "not found"),
        ("secrets", {"name": "x", "key": "lower", "value": "v"}, "key", "UPPER_SNAKE"),
        ("secrets", {"name": "x", "key": "K"}, "value", "required"),
        ("flows", {"name": "x", "root": {"type": "sequential", "steps": []}}, "root.steps", "at least one"),
        ("flows", {"name": "x", "root": {"type": "agent"}}, "root.agentId", "required"),
        ("flows", {"name": "x", "root": {"type": "sequential", "steps": [{"type": "agent", "agentId": "nope"}]}},
         "root.steps[0].agentId", "not found"),
        ("flows", {"name": "x", "root": {"type": "banana"}}, "root.type", "root.type"),
    ],
)
async def test_validation_errors(apps: Apps, segment: str, body: dict[str, Any], field: str, fragment: str) -> None:
    r = await apps.admin.post(f"{A}/{segment}", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert fragment in err
    if field:
        assert err.startswith(field) or r.json().get("field") == field, err
    assert (await apps.admin.get(f"{A}/{segment}")).json() == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ht!tp://x", "http:// or https://"),
        ("localhost:11434", "http:// or https://"),
        ("http://[bad", "not a valid URL"),
        ("http://ollama:99999/v1", "not a valid URL"),
        ("http://ollama:0", "port 0"),
        ("http://", "no host"),
        ("http://oll ama:11434", "spaces"),
        ("http://ol!ama:11434", "invalid host"),
    ],
)
async def test_a_backend_url_that_does_not_parse_is_a_400_on_create_and_update(
    sqlite_apps: Apps, url: str, fragment: str
) -> None:
    apps = sqlite_apps
    r = await apps.admin.post(f"{A}/backends", json={"name": "x", "type": "openai", "url": url})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "url" and fragment in r.json()["error"], r.text
    made = await create(apps, "backends", {"name": "ok", "type": "openai", "url": "http://[::1]:11434/v1"})
    r = await apps.admin.put(f"{A}/backends/{made['id']}", json={"name": "ok", "type": "openai", "url": url})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "url" and fragment in r.json()["error"], r.text
    assert (await apps.admin.get(f"{A}/backends/{made['id']}")).json()["url"] == "http://[::1]:11434/v1"
    # what stays accepted: references, a reference inside the URL, an internationalised host
    for fine in ("${OLLAMA_URL}", "http://${OLLAMA_HOST}:11434/v1", "https://bücher.example/v1"):
        r = await apps.admin.put(f"{A}/backends/{made['id']}", json={"name": "ok", "type": "openai", "url": fine})
        assert r.status_code == 200, (fine, r.text)


async def test_loop_validation(apps: Apps) -> None:
    a = await create(apps, "agents", {"name": "A"})
    leaf = {"type": "agent", "agentId": a["id"]}
    cases = [
        ({"type": "loop", "steps": [leaf]}, "max iterations must be at least 1"),
        ({"type": "loop", "maxIterations": 2, "exit": {"mode": "expression", "expression": "state.x =="}, "steps": [leaf]},
         "does not compile"),
        ({"type": "loop", "maxIterations": 2, "exit": {"mode": "expression", "expression": "1 + 2"}, "steps": [leaf]},
         "must be boolean"),
    ]
    for root, fragment in cases:
        r = await apps.admin.post(f"{A}/flows", json={"name": "f", "root": root})
        assert r.status_code == 400 and fragment in r.json()["error"], r.text


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"[1, 2]", b'"text"'])
async def test_bad_json(apps: Apps, raw: bytes) -> None:
    r = await apps.admin.post(f"{A}/backends", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "error" in r.json()


async def test_not_found(apps: Apps) -> None:
    for segment in ("backends", "agents", "flows", "secrets", "memory", "mcps", "clients", "commands"):
        r = await apps.admin.get(f"{A}/{segment}/nope")
        assert r.status_code == 404 and "not found" in r.json()["error"]
        r = await apps.admin.put(f"{A}/{segment}/nope", json={"name": "x"})
        assert r.status_code == 404


async def test_delete_referenced_409_then_force(apps: Apps) -> None:
    b = await create(apps, "backends", {"name": "B", "type": "openai"})
    emb = await create(apps, "memory", {"name": "M", "type": "sqlite", "category": "longterm",
                                        "embedding": {"backend": b["id"], "model": "e"}})
    a = await create(apps, "agents", {"name": "A", "llm": {"backend": b["id"], "model": "m"},
                                      "transcription": {"backend": b["id"], "model": "whisper-1"}})
    r = await apps.admin.delete(f"{A}/backends/{b['id']}")
    assert r.status_code == 409
    refs = r.json()["references"]
    assert {(x["referrerType"], x["referrerId"], x["field"], x["kind"]) for x in refs} == {
        ("agent", a["id"], "llm.backend", "structural"),
        ("agent", a["id"], "transcription.backend", "membership"),
        ("memoryProvider", emb["id"], "embedding.backend", "structural"),
    }
    assert all(x["referrerName"] in ("A", "M") for x in refs)
    assert (await apps.admin.get(f"{A}/backends/{b['id']}")).status_code == 200
    r = await apps.admin.delete(f"{A}/backends/{b['id']}?force=true")
    assert r.status_code == 204
    agent = (await apps.admin.get(f"{A}/agents/{a['id']}")).json()
    assert agent["llm"]["backend"] == "" and agent["transcription"]["backend"] == ""
    assert (await apps.admin.get(f"{A}/memory/{emb['id']}")).json()["embedding"]["backend"] == ""


async def test_force_delete_agent_scrubs_flows_and_clients(apps: Apps) -> None:
    a = await create(apps, "agents", {"name": "A"})
    b = await create(apps, "agents", {"name": "B"})
    f = await create(apps, "flows", {"name": "F", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": a["id"]}, {"type": "agent", "agentId": b["id"]}]}})
    c = await create(apps, "clients", {"name": "C", "allowedAgents": [a["id"], f["id"]]})
    r = await apps.admin.delete(f"{A}/agents/{a['id']}")
    assert r.status_code == 409 and len(r.json()["references"]) == 2
    assert (await apps.admin.delete(f"{A}/agents/{a['id']}?force=true")).status_code == 204
    flow = (await apps.admin.get(f"{A}/flows/{f['id']}")).json()
    assert flow["root"]["steps"] == [{"type": "agent", "agentId": b["id"], "responseAgent": False, "maxIterations": 0,
                                      "exit": {"mode": "none", "expression": ""}, "steps": []}]
    assert (await apps.admin.get(f"{A}/clients/{c['id']}")).json()["allowedAgents"] == [f["id"]]


async def test_settings_and_overview(apps: Apps) -> None:
    assert (await apps.admin.get(f"{A}/settings")).json() == {
        "sessionProvider": "", "longTermProvider": "", "temporaryDir": "", "deleteReferenced": "refuse",
        "conversations": {"enabled": True, "retentionDays": 0, "maxTurns": 0}, "sessions": {"retentionDays": 0},
        "flows": {"executionTimeoutMs": 0, "maxOutputBytes": 0, "disabledLibraries": [], "maxRouterActivations": 1000}}
    m = await create(apps, "memory", {"name": "S", "type": "sqlite", "category": "session"})
    r = await apps.admin.put(f"{A}/settings", json={"sessionProvider": m["id"]})
    assert r.status_code == 200 and r.json()["sessionProvider"] == m["id"]
    r = await apps.admin.put(f"{A}/settings", json={"longTermProvider": m["id"]})
    assert r.status_code == 400 and "longTermProvider" in r.json()["error"]
    r = await apps.admin.put(f"{A}/settings", json={"sessionProvider": "missing"})
    assert r.status_code == 400
    r = await apps.admin.delete(f"{A}/memory/{m['id']}")
    assert r.status_code == 409 and r.json()["references"][0]["referrerType"] == "settings"
    ov = (await apps.admin.get(f"{A}/overview")).json()
    assert ov["counts"]["memoryProviders"] == 1


async def test_dead_references(apps: Apps) -> None:
    b = await create(apps, "backends", {"name": "B", "type": "openai"})
    a = await create(apps, "agents", {"name": "A", "llm": {"backend": b["id"], "model": "m"}})
    # Simulate a dangling reference written by an older version / a crash: bypass validation.
    await apps.ctx.store.patch_raw("agents", a["id"], lambda d: {**d, "mcpServers": ["ghost"]})
    dead = (await apps.admin.get(f"{A}/integrity/dead-references")).json()["deadReferences"]
    assert [(d["referrerId"], d["field"], d["target"]) for d in dead] == [(a["id"], "mcpServers[0]", "ghost")]
    assert (await apps.admin.get(f"{A}/integrity/dead-references")).json()["references"][0]["targetId"] == "ghost"
    r = await apps.admin.post(f"{A}/integrity/dead-references/clean")
    assert r.status_code == 200 and r.json()["removed"] == 1 and len(r.json()["references"]) == 1
    assert (await apps.admin.get(f"{A}/integrity/dead-references")).json()["deadReferences"] == []
    assert (await apps.admin.get(f"{A}/agents/{a['id']}")).json()["mcpServers"] == []


async def test_epoch_bumps_and_notifies(apps: Apps) -> None:
    seen: list[int] = []
    apps.ctx.store.subscribe(seen.append)
    start = apps.ctx.store.epoch
    b = await create(apps, "backends", {"name": "B", "type": "openai"})
    await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B2", "type": "openai"})
    await apps.admin.delete(f"{A}/backends/{b['id']}")
    assert seen == [start + 1, start + 2, start + 3]
    assert await apps.ctx.store.read_epoch() == start + 3
    # a failed write does not bump
    await apps.admin.post(f"{A}/backends", json={"name": "x"})
    assert apps.ctx.store.epoch == start + 3


async def test_client_token_shown_once_and_regenerated(apps: Apps) -> None:
    c = await create(apps, "clients", {"name": "C"})
    token = c["token"]
    assert token.startswith("mgc_") and len(token) > 20
    got = (await apps.admin.get(f"{A}/clients/{c['id']}")).json()
    # Magec's UI reads ``token``: a view carries the preview there, never the token or its hash
    assert "tokenHash" not in got and got["tokenPreview"].startswith("mgc_") and got["token"] == got["tokenPreview"]
    assert token not in (await apps.admin.get(f"{A}/clients")).text
    r = await apps.admin.post(f"{A}/clients/{c['id']}/regenerate-token")
    assert r.status_code == 200 and r.json()["token"].startswith("mgc_") and r.json()["token"] != token


async def test_agent_mcp_links(apps: Apps) -> None:
    m = await create(apps, "mcps", {"name": "M", "endpoint": "http://127.0.0.1:1/mcp"})
    a = await create(apps, "agents", {"name": "A"})
    r = await apps.admin.put(f"{A}/agents/{a['id']}/mcps/{m['id']}")
    assert r.status_code == 204 and not r.content  # Magec's status
    assert (await apps.admin.get(f"{A}/agents/{a['id']}")).json()["mcpServers"] == [m["id"]]
    assert (await apps.admin.put(f"{A}/agents/{a['id']}/mcps/{m['id']}")).status_code == 409
    assert [x["id"] for x in (await apps.admin.get(f"{A}/agents/{a['id']}/mcps")).json()] == [m["id"]]
    r = await apps.admin.delete(f"{A}/agents/{a['id']}/mcps/{m['id']}")
    assert r.status_code == 204
    assert (await apps.admin.get(f"{A}/agents/{a['id']}")).json()["mcpServers"] == []
    assert (await apps.admin.delete(f"{A}/agents/{a['id']}/mcps/{m['id']}")).status_code == 404
