"""Secret rules: write-only, encrypted at rest, expanded at runtime, never leaked."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from magec.logs import setup_logging
from magec.testing.apps import Apps, running_apps

A = "/api/v1/admin"
SECRET = "sk-live-THIS-IS-THE-SECRET-42"
LITERAL = "literal-key-THAT-MUST-NOT-LEAK-77"


async def test_secret_lifecycle(apps: Apps) -> None:
    r = await apps.admin.post(f"{A}/secrets", json={"name": "OpenAI", "key": "OPENAI_KEY", "value": SECRET})
    assert r.status_code == 201 and "value" not in r.json()
    sid = r.json()["id"]
    r = await apps.admin.post(f"{A}/secrets", json={"name": "dup", "key": "OPENAI_KEY", "value": "x"})
    assert r.status_code == 400 and "already exists" in r.json()["error"]
    b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "apiKey": "${OPENAI_KEY}",
                                                        "headers": {"X-Org": "${OPENAI_KEY:-none}"}})).json()
    assert b["apiKey"] == "${OPENAI_KEY}"  # a reference is returned as typed
    snap = await apps.ctx.store.snapshot()
    spec = snap.backend_spec(b["id"])
    assert spec is not None and spec.api_key == SECRET and spec.headers["X-Org"] == SECRET
    # update with an empty value keeps it
    r = await apps.admin.put(f"{A}/secrets/{sid}", json={"name": "OpenAI 2", "key": "OPENAI_KEY", "value": ""})
    assert r.status_code == 200
    assert (await apps.ctx.store.snapshot()).backend_spec(b["id"]).api_key == SECRET  # type: ignore[union-attr]
    # change takes effect on the next expansion
    await apps.admin.put(f"{A}/secrets/{sid}", json={"name": "OpenAI", "key": "OPENAI_KEY", "value": "sk-rotated-0001"})
    assert (await apps.ctx.store.snapshot()).backend_spec(b["id"]).api_key == "sk-rotated-0001"  # type: ignore[union-attr]
    # in use: a delete is refused naming the backend; forced, the reference expands to the default / empty
    r = await apps.admin.delete(f"{A}/secrets/{sid}?force=false")
    assert r.status_code == 409 and {x["field"] for x in r.json()["references"]} == {"apiKey", "headers.X-Org"}
    assert (await apps.admin.delete(f"{A}/secrets/{sid}?force=true")).status_code == 204
    spec = (await apps.ctx.store.snapshot()).backend_spec(b["id"])
    assert spec is not None and spec.api_key == "" and spec.headers["X-Org"] == "none"


async def test_literal_api_key_is_write_only(apps: Apps) -> None:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "apiKey": LITERAL})).json()
    assert b["apiKey"] == "" and b["apiKeySet"] is True
    r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B2", "type": "openai", "apiKey": ""})
    assert r.json()["apiKeySet"] is True
    assert (await apps.ctx.store.snapshot()).backend_spec(b["id"]).api_key == LITERAL  # type: ignore[union-attr]
    r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B2", "type": "openai", "apiKey": "new-key-1234"})
    assert (await apps.ctx.store.snapshot()).backend_spec(b["id"]).api_key == "new-key-1234"  # type: ignore[union-attr]


async def test_a_key_left_out_of_a_put_stays_bound_to_its_url(apps: Apps) -> None:
    """A PUT that changes the URL and leaves ``apiKey`` out (as Magec's UI does) keeps the key by
    the merge rule — so it is bound like any kept key: refused with a 400 naming ``url``, never sent
    to the new address. Same URL: kept."""
    b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": "https://api.one.test/v1",
                                                        "apiKey": LITERAL})).json()
    r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B", "type": "openai", "url": "https://evil.test/v1"})
    assert r.status_code == 400 and r.json()["field"] == "url", r.text
    spec = (await apps.ctx.store.snapshot()).backend_spec(b["id"])
    assert spec is not None and spec.url == "https://api.one.test/v1" and spec.api_key == LITERAL
    r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B renamed", "type": "openai",
                                                             "url": "https://api.one.test/v1"})
    assert r.status_code == 200 and r.json()["apiKeySet"] is True
    r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "B", "type": "openai", "url": "https://two.test/v1",
                                                             "apiKey": "sk-typed-again-9876"})
    assert r.status_code == 200


async def test_no_clear_text_anywhere(tmp_path: Path) -> None:
    """Grep the data dir, the logs and every API response for the clear text: none."""
    log_stream = io.StringIO()
    saved = logging.getLogger().handlers[:], logging.getLogger().level
    setup_logging("debug", "json", stream=log_stream)
    data_dir = tmp_path / "data"
    bodies: list[str] = []
    async with running_apps(data_dir, encryption_key="") as apps:  # generated key file path
        async def call(method: str, url: str, **kw: object) -> None:
            r = await apps.admin.request(method, url, **kw)  # type: ignore[arg-type]
            bodies.append(r.text)

        await call("POST", f"{A}/secrets", json={"name": "S", "key": "MY_SECRET", "value": SECRET})
        await call("POST", f"{A}/backends", json={"name": "B", "type": "openai", "apiKey": LITERAL})
        await call("POST", f"{A}/memory", json={"name": "R", "type": "redis", "category": "session",
                                                 "config": {"connectionString": f"redis://:{LITERAL}@h:6379/0"}})
        await call("POST", f"{A}/mcps", json={"name": "M", "endpoint": "http://127.0.0.1:9/mcp",
                                               "headers": {"Authorization": f"Bearer {SECRET}"}})
        for seg in ("secrets", "backends", "memory", "mcps"):
            await call("GET", f"{A}/{seg}")
        await call("GET", f"{A}/overview")
        await call("GET", f"{A}/integrity/dead-references")
        # an error path that echoes input must not echo a known secret either
        await call("POST", f"{A}/backends", json={"name": "x", "type": SECRET})
        logging.getLogger("magec.test").info("backend key is %s and %s", SECRET, LITERAL)
    assert (data_dir / "encryption.key").stat().st_mode & 0o777 == 0o600
    for body in bodies:
        assert SECRET not in body and LITERAL not in body, body
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            assert SECRET.encode() not in blob and LITERAL.encode() not in blob, path
    logs = log_stream.getvalue()
    logging.getLogger().handlers[:], _ = saved[0], logging.getLogger().setLevel(saved[1])
    assert "backend key is ***" in logs
    assert SECRET not in logs and LITERAL not in logs
    from magec.redact import redact

    assert SECRET not in redact(f"x {SECRET} y") and LITERAL not in redact(LITERAL)


async def test_data_readable_after_restart_with_generated_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with running_apps(data_dir, encryption_key="") as apps:
        await apps.admin.post(f"{A}/secrets", json={"name": "S", "key": "K1", "value": "value-kept-1"})
    async with running_apps(data_dir, encryption_key="") as apps:
        assert (await apps.ctx.store.snapshot()).secret_values == {"K1": "value-kept-1"}


async def test_a_secret_inside_an_encrypted_header_follows_its_new_value(apps: Apps) -> None:
    """A header ``Bearer ${KEY}`` is stored encrypted (a literal with a reference): a new value of
    the secret reached the backend only when the row itself was written again."""
    from magec.testing.fake_providers import FakeServer, OpenAIFake

    with FakeServer(OpenAIFake("oai")) as oai:
        s = (await apps.admin.post(f"{A}/secrets", json={"name": "Tok", "key": "TEAM_TOKEN", "value": "old-value-1234"})).json()
        b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": oai.url,
                                                          "apiKey": "sk-test", "headers": {"X-Team": "Bearer ${TEAM_TOKEN}"}})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "H", "llm": {"backend": b["id"], "model": "m"}})).json()

        async def header() -> str:
            r = await apps.user.post("/api/v1/agent/run", json={"appName": a["id"], "userId": "u", "sessionId": "s",
                                                                "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
            assert r.status_code == 200, r.text
            return oai.calls()[-1].headers.get("x-team", "")

        assert await header() == "Bearer old-value-1234"
        r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "Tok", "key": "TEAM_TOKEN", "value": "new-value-5678"})
        assert r.status_code == 200, r.text
        assert await header() == "Bearer new-value-5678"


async def test_a_secret_named_by_its_key_keeps_that_key(apps: Apps) -> None:
    """A new key would leave every ``${OLD}`` sending nothing (or an environment variable of that
    name): a 409 naming who uses it, as a delete; uses by id (Magec's agent ``secrets``) don't block."""
    s = (await apps.admin.post(f"{A}/secrets", json={"name": "Tok", "key": "TEAM_TOKEN", "value": "v-1234567"})).json()
    other = (await apps.admin.post(f"{A}/secrets", json={"name": "O", "key": "OTHER", "value": "o-1234567"})).json()
    b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "apiKey": "sk-x",
                                                      "headers": {"X-Team": "Bearer ${TEAM_TOKEN}"}})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": "H", "llm": {"backend": b["id"], "model": "m"},
                                                    "secrets": ["TEAM_TOKEN", other["id"]]})).json()
    r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "Tok", "key": "TEAM_TOKEN_2", "value": ""})
    assert r.status_code == 409, r.text
    assert {(x["referrerId"], x["field"]) for x in r.json()["references"]} == {
        (b["id"], "headers.X-Team"), (a["id"], "secrets[0]")}
    assert "key" in r.json()["error"] and "TEAM_TOKEN" in r.json()["error"]
    assert (await apps.admin.get(f"{A}/secrets/{s['id']}")).json()["key"] == "TEAM_TOKEN"
    # the name and value may change freely; a secret used by its id only may take a new key
    r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "Team", "key": "TEAM_TOKEN", "value": "v-7654321"})
    assert r.status_code == 200, r.text
    r = await apps.admin.put(f"{A}/secrets/{other['id']}", json={"name": "O", "key": "OTHER_2", "value": ""})
    assert r.status_code == 200, r.text
    # once the users name the new key, the rename goes through
    await apps.admin.put(f"{A}/backends/{b['id']}", json={**b, "headers": {"X-Team": "Bearer ${TEAM_TOKEN_2}"}})
    await apps.admin.put(f"{A}/agents/{a['id']}", json={**a, "secrets": [other["id"]]})
    r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "Tok", "key": "TEAM_TOKEN_2", "value": ""})
    assert r.status_code == 200, r.text
    spec = (await apps.ctx.store.snapshot()).backend_spec(b["id"])
    assert spec is not None and spec.headers["X-Team"] == "Bearer v-7654321"
