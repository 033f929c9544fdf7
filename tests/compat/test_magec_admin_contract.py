"""Magec's own admin UI (commit f14ae24) against a real ``magec serve``: every call it makes.

The calls are data (``magec_admin_calls.json``, written from ``frontend/admin-ui/src/lib/api/*.js``
and the Go handlers' statuses): method, path, body shape, expected status and the response keys
the UI reads. They run in file order against one server, as the UI would (create, read, edit,
link, delete); ids created by one call fill ``{name}`` placeholders of later ones.

Routes owned by engineers still building them (``owner``: skills, audit, backup) are checked the
same way; while such a route does not exist yet (404 "no route" / 405) its owner's test is an
``xfail`` naming the missing route, so the contract turns green — or red — as soon as it lands.

The round-trip tests below pin the merge rule of a ``PUT`` (docs/admin-api.md): saving in Magec's
UI, which sends only the fields it knows and leaves write-only ones out, loses nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compat.conftest import A, Magec

CALLS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "magec_admin_calls.json").read_text())["calls"]
OWNERS = ["core", "skills", "audit", "backup"]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for name, got in ids.items():
            if isinstance(got, str):
                value = value.replace("{" + name + "}", got)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _no_route(r: httpx.Response) -> bool:
    return r.status_code == 405 or (r.status_code == 404 and "no route" in r.text.lower()) or (
        r.status_code == 404 and r.text.strip() == '{"detail":"Not Found"}'
    )


def _call(admin: httpx.Client, call: dict[str, Any], ids: dict[str, Any]) -> httpx.Response:
    path = A + _fill(call["path"], ids)
    if "multipart" in call:
        m = call["multipart"]
        return admin.request(call["method"], path, files={m["field"]: (m["filename"], m["content"].encode())})
    if "rawBody" in call:
        content = ids.get(call["rawBody"]) or b""
        return admin.request(call["method"], path, content=content, headers={"Content-Type": call["contentType"]})
    if "body" in call:
        return admin.request(call["method"], path, json=_fill(call["body"], ids))
    # Magec's request() always sends Content-Type: application/json, also without a body
    return admin.request(call["method"], path, headers={"Content-Type": "application/json"})


def _check(call: dict[str, Any], r: httpx.Response, ids: dict[str, Any]) -> list[str]:
    where = f"{call['file']} {call['fn']}: {call['method']} {call['path']}"
    if r.status_code != call["status"]:
        return [f"{where}: status {r.status_code} (want {call['status']}): {r.text[:300]}"]
    problems: list[str] = []
    kind = call["response"]
    if kind == "none":
        return [f"{where}: a 204 has no body"] if r.content else []
    if kind == "raw":
        if call.get("contentType") and not r.headers.get("content-type", "").startswith(call["contentType"]):
            problems.append(f"{where}: content-type {r.headers.get('content-type')}")
        if call.get("save"):
            ids[call["save"]] = r.content
        return problems
    data = r.json()
    if kind == "array":
        if not isinstance(data, list):
            return [f"{where}: answer is not a list"]
        items = data
    else:
        if not isinstance(data, dict):
            return [f"{where}: answer is not an object"]
        items = [data]
        if call.get("save"):
            ids[call["save"]] = data["id"]
    for item in items:
        missing = [k for k in call.get("keys", []) if k not in item]
        if missing:
            problems.append(f"{where}: missing keys {missing}")
    for path, want in call.get("equals", {}).items():
        if _at(data, path) != want:
            problems.append(f"{where}: {path} = {_at(data, path)!r} (want {want!r})")
    token = call.get("token")
    if token == "clear" and not str(data.get("token", "")).startswith("mgc_") or token == "clear" and "…" in data["token"]:
        problems.append(f"{where}: token not shown in clear by the request that issues it")
    if token == "preview" and (data.get("token") != data.get("tokenPreview") or "…" not in data.get("token", "")):
        problems.append(f"{where}: a view's token must be the preview, never the token")
    if call.get("saveFirst") and data.get("items"):
        ids[call["saveFirst"]] = data["items"][0]["id"]
    return problems


def _converse(magec: Magec, ids: dict[str, Any]) -> None:
    """One turn through the contract client, so the conversation calls have something to show."""
    token = ids.get("clientToken")
    if not token:
        return
    httpx.post(
        f"{magec.v1}/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "Contract agent 2", "messages": [{"role": "user", "content": "hello"}]},
        timeout=60,
    )


@pytest.mark.parametrize("owner", OWNERS)
def test_every_call_of_magecs_admin_ui(magec: Magec, owner: str) -> None:
    admin = httpx.Client(base_url=magec.server.admin_url, timeout=60)
    ids: dict[str, Any] = {"fakeUrl": magec.fake.url}
    problems: list[str] = []
    missing: list[str] = []
    checked = 0
    for call in CALLS:
        if call.get("owner") == "audit" and call["fn"] == "list" and "conversationTurn" not in ids:
            ids["conversationTurn"] = True
            _converse(magec, ids)
        r = _call(admin, call, ids)
        mine = call.get("owner", "core") == owner
        if call["fn"] in ("regenerateToken", "create") and call["file"] == "clients.js" and r.status_code in (200, 201):
            ids["clientToken"] = r.json().get("token")
        if not mine:
            if call.get("save") and r.status_code in (200, 201):
                ids[call["save"]] = r.content if call["response"] == "raw" else r.json()["id"]
            continue
        if _no_route(r):
            missing.append(f"{call['method']} {call['path']}")
            continue
        checked += 1
        problems.extend(_check(call, r, ids))
    assert not problems, "\n".join(problems)
    if missing:
        pytest.xfail(f"{owner} routes not landed yet: {', '.join(missing)}")
    assert checked == sum(1 for c in CALLS if c.get("owner", "core") == owner)


# -- the merge rule: a save from Magec's UI loses nothing ----------------------------------------
@pytest.fixture
def admin(magec: Magec) -> httpx.Client:
    return httpx.Client(base_url=magec.server.admin_url + A, timeout=60)


def _create(admin: httpx.Client, segment: str, body: dict[str, Any]) -> dict[str, Any]:
    r = admin.post(f"/{segment}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_memory_edit_keeps_the_connection_string(admin: httpx.Client, magec: Magec, tmp_path: Path) -> None:
    m = _create(admin, "memory", {"name": "Sessions", "type": "redis", "category": "session",
                                  "config": {"connectionString": "redis://:pw-merge@127.0.0.1:1/0", "ttl": "24h"}})
    got = admin.get(f"/memory/{m['id']}").json()
    assert got["config"]["connectionString"] == "" and got["config"]["connectionStringSet"] is True
    # Magec's MemoryDialog leaves empty fields out of config
    r = admin.put(f"/memory/{m['id']}", json={"name": "Sessions 2", "type": "redis", "category": "session",
                                               "config": {"ttl": "12h"}})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["connectionStringSet"] is True and r.json()["config"]["ttl"] == "12h"
    # null clears a write-only field
    r = admin.put(f"/memory/{m['id']}", json={"name": "Sessions 2", "type": "redis", "category": "session",
                                               "config": {"connectionString": None}})
    assert r.status_code == 200 and not r.json()["config"].get("connectionStringSet")
    admin.delete(f"/memory/{m['id']}")


def test_agent_edit_round_trips_tts_speed_voice_config_and_extensions(admin: httpx.Client, magec: Magec) -> None:
    b = _create(admin, "backends", {"name": "Voice", "type": "openai", "url": magec.fake.url})
    a = _create(admin, "agents", {
        "name": "Speaker", "llm": {"backend": b["id"], "model": "m", "fallbacks": [{"backend": b["id"], "model": "m2"}]},
        "transcription": {"backend": b["id"], "model": "whisper-1", "config": {"openai": {"language": "es"}}},
        "tts": {"backend": b["id"], "model": "tts-1", "voice": "alloy", "config": {"openai": {"speed": 1.5, "instructions": "calm"}}},
        "contextGuard": {"enabled": True, "strategy": "threshold", "maxTurns": 7, "maxTokens": 0},
    })
    view = admin.get(f"/agents/{a['id']}").json()
    assert view["tts"]["speed"] == 1.5  # Magec's flat form, returned
    # exactly what Magec's AgentDialog sends back, unchanged
    magec_body = {
        "name": "Speaker", "description": "", "outputKey": "", "systemPrompt": "",
        "llm": {"backend": b["id"], "model": "m", "headers": {}},
        "transcription": {"backend": b["id"], "model": "whisper-1"},
        "tts": {"backend": b["id"], "model": "tts-1", "voice": "alloy", "speed": view["tts"]["speed"]},
        "mcpServers": [], "skills": [],
        "contextGuard": {"enabled": True, "strategy": "threshold", "maxTurns": 7, "maxTokens": 0},
    }
    after = admin.put(f"/agents/{a['id']}", json=magec_body).json()
    for key in ("llm", "transcription", "tts", "contextGuard"):
        assert after[key] == view[key], key
    # Magec's UI changes the speed; then clears it (sends 0); then turns the guard off (omits it)
    magec_body["tts"]["speed"] = 1.2
    assert admin.put(f"/agents/{a['id']}", json=magec_body).json()["tts"]["config"]["openai"] == {"speed": 1.2, "instructions": "calm"}
    magec_body["tts"]["speed"] = 0
    cleared = admin.put(f"/agents/{a['id']}", json=magec_body).json()
    assert cleared["tts"]["config"]["openai"] == {"instructions": "calm"} and "speed" not in cleared["tts"]
    del magec_body["contextGuard"]
    assert admin.put(f"/agents/{a['id']}", json=magec_body).json()["contextGuard"]["enabled"] is False
    # our own UI sends the nested form and the (returned) flat one: the nested form wins
    ours = admin.get(f"/agents/{a['id']}").json()
    ours["tts"]["config"]["openai"]["speed"] = 2.0
    ours["tts"]["speed"] = 1.0
    assert admin.put(f"/agents/{a['id']}", json=ours).json()["tts"]["config"]["openai"]["speed"] == 2.0
    admin.delete(f"/agents/{a['id']}")
    admin.delete(f"/backends/{b['id']}")


def test_backend_mcp_and_flow_keep_what_magecs_ui_does_not_know(admin: httpx.Client, magec: Magec) -> None:
    b = _create(admin, "backends", {"name": "Resp", "type": "openai", "url": magec.fake.url, "apiKey": "sk-merge-123456",
                                    "headers": {"X-Key": "hdr-secret-1"}, "api": "responses", "timeout": 42, "maxAttempts": 2})
    r = admin.put(f"/backends/{b['id']}", json={"name": "Resp 2", "type": "openai", "url": magec.fake.url, "apiKey": ""})
    got = r.json()
    assert (got["api"], got["timeout"], got["maxAttempts"], got["apiKeySet"], list(got["headers"])) == (
        "responses", 42, 2, True, ["X-Key"])
    assert admin.put(f"/backends/{b['id']}", json={"name": "Resp 2", "type": "openai", "url": magec.fake.url,
                                                   "timeout": None}).json()["timeout"] == 60  # null: default
    m = _create(admin, "mcps", {"name": "Env", "type": "stdio", "command": "python", "args": ["-V"],
                                "env": {"TOKEN": "env-secret-value"}, "workDir": "/tmp"})
    got = admin.put(f"/mcps/{m['id']}", json={"name": "Env 2", "type": "stdio", "systemPrompt": "",
                                              "command": "python", "args": ["-V"]}).json()
    assert list(got["env"]) == ["TOKEN"] and got["workDir"] == "/tmp"
    h = _create(admin, "mcps", {"name": "Tls", "endpoint": "https://127.0.0.1:1/mcp", "insecure": True})
    assert admin.put(f"/mcps/{h['id']}", json={"name": "Tls", "type": "http", "systemPrompt": "",
                                               "endpoint": "https://127.0.0.1:1/mcp"}).json()["insecure"] is False
    a = _create(admin, "agents", {"name": "Looper", "llm": {"backend": b["id"], "model": "m"}})
    f = _create(admin, "flows", {"name": "Loop", "root": {"type": "loop", "maxIterations": 3,
                                 "exit": {"mode": "expression", "expression": "iterations > 1"},
                                 "steps": [{"type": "agent", "agentId": a["id"]}]}})
    got = admin.put(f"/flows/{f['id']}", json={"name": "Loop 2", "description": "", "root": {
        "type": "loop", "maxIterations": 4, "steps": [{"type": "agent", "agentId": a["id"]}]}}).json()
    assert got["root"]["exit"] == {"mode": "expression", "expression": "iterations > 1"} and got["root"]["maxIterations"] == 4
    for seg, rid in (("flows", f["id"]), ("agents", a["id"]), ("mcps", m["id"]), ("mcps", h["id"]), ("backends", b["id"])):
        assert admin.delete(f"/{seg}/{rid}").status_code == 204


def test_settings_from_magecs_ui_keep_flows_and_temporary_dir(admin: httpx.Client) -> None:
    before = admin.get("/settings").json()
    r = admin.put("/settings", json={**before, "temporaryDir": "/tmp/x", "flows": {**before["flows"], "executionTimeoutMs": 5000}})
    assert r.status_code == 200
    r = admin.put("/settings", json={"sessionProvider": "", "longTermProvider": ""})  # Magec G1's settings
    assert r.json()["temporaryDir"] == "/tmp/x" and r.json()["flows"]["executionTimeoutMs"] == 5000
    admin.put("/settings", json=before)


def test_delete_of_a_referenced_resource_from_a_client_without_force(admin: httpx.Client, magec: Magec) -> None:
    b = _create(admin, "backends", {"name": "Ref", "type": "openai", "url": magec.fake.url})
    a = _create(admin, "agents", {"name": "Referrer", "llm": {"backend": b["id"], "model": "m"}})
    r = admin.delete(f"/backends/{b['id']}")  # Magec's UI: no query; it shows the error
    assert r.status_code == 409 and "Referrer" in r.json()["error"] and "force" in r.json()["error"]
    before = admin.get("/settings").json()
    admin.put("/settings", json={**before, "deleteReferenced": "scrub"})
    try:
        assert admin.delete(f"/backends/{b['id']}?force=false").status_code == 409  # our UI asks first
        assert admin.delete(f"/backends/{b['id']}").status_code == 204
        assert admin.get(f"/agents/{a['id']}").json()["llm"]["backend"] == ""
    finally:
        admin.put("/settings", json=before)
    admin.delete(f"/agents/{a['id']}")


def test_integrity_and_voice_types_in_magecs_shapes(admin: httpx.Client) -> None:
    dead = admin.get("/integrity/dead-references").json()
    assert isinstance(dead["references"], list) and dead["deadReferences"] == dead["references"]
    cleaned = admin.post("/integrity/dead-references/clean", headers={"Content-Type": "application/json"}).json()
    assert isinstance(cleaned["removed"], int)
    types = admin.get("/voice/types").json()
    openai = next(t for t in types if t["type"] == "openai")
    assert openai["ttsConfigSchema"]["properties"]["speed"]["type"] == "number"
    assert openai["sttConfigSchema"]["type"] == "object" and openai["optionsSchema"] == openai["ttsConfigSchema"]
