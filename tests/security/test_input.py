"""Hostile input: every malformed body, wrong type, invalid string or oversized request gets a 4xx
naming the problem, never a 5xx; an unauthenticated 100 MB body is refused before it is read; and
an unexpected failure never shows its internals to the client."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("alpha")) as s:
        yield s


@pytest.fixture
async def seeded(tmp_path: Path, fake: FakeServer) -> AsyncIterator[tuple[Apps, dict[str, str]]]:
    async with running_apps(tmp_path / "data") as apps:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": fake.url})).json()
        a = (
            await apps.admin.post(
                f"{A}/agents",
                json={
                    "name": "agent",
                    "llm": {"backend": b["id"], "model": "m"},
                    "tts": {"backend": b["id"], "model": "tts-1", "voice": "alloy"},
                    "transcription": {"backend": b["id"], "model": "whisper-1"},
                },
            )
        ).json()
        yield apps, {"backend": b["id"], "agent": a["id"]}


def json_routes(ids: dict[str, str]) -> list[tuple[str, str, str]]:
    """(app, method, path) of every route that takes a JSON body, on both apps."""
    aid, bid = ids["agent"], ids["backend"]
    admin = [("POST", f"{A}/{seg}") for seg in ("backends", "agents", "memory", "mcps", "flows", "clients", "commands", "secrets")]
    admin += [
        ("PUT", f"{A}/backends/{bid}"),
        ("PUT", f"{A}/agents/{aid}"),
        ("PUT", f"{A}/settings"),
        ("POST", f"{A}/backends/test"),
        ("POST", f"{A}/backends/{bid}/test"),
        ("POST", f"{A}/agent/run"),
        ("POST", f"{A}/agent/run_sse"),
        ("POST", f"{A}/agent/apps/{aid}/users/u1/sessions"),
        ("POST", f"{A}/agent/apps/{aid}/users/u1/sessions/s1"),
        ("POST", f"{A}/voice/{aid}/speech"),
    ]
    user = [
        ("POST", "/api/v1/agent/run"),
        ("POST", "/api/v1/agent/run_sse"),
        ("POST", f"/api/v1/agent/apps/{aid}/users/u1/sessions"),
        ("POST", f"/api/v1/agent/apps/{aid}/users/u1/sessions/s1"),
        ("POST", "/v1/chat/completions"),
        ("POST", f"/api/v1/voice/{aid}/speech"),
    ]
    return [("admin", m, p) for m, p in admin] + [("user", m, p) for m, p in user]


def hostile_bodies(aid: str) -> list[bytes]:
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_obj = ('{"a":' * 500 + "1" + "}" * 500).encode()
    wrong_types = {
        "name": 5, "type": [], "url": {}, "apiKey": 1, "headers": "x", "llm": "x", "root": "x",
        "key": 5, "value": [], "description": {}, "systemPrompt": [], "mcpServers": "x",
        "appName": [], "userId": {}, "sessionId": {}, "newMessage": "x", "stateDelta": [],
        "streaming": "yes", "model": 1, "messages": "hi", "stream": "x", "stream_options": "x",
        "input": [], "response_format": 5, "state": "x", "allowedAgents": "x", "timeout": "slow",
        "category": 1, "config": [], "command": {}, "args": "x", "env": [], "longTermProvider": 3,
    }
    run_like = {"appName": aid, "userId": "u", "newMessage": {"role": "user", "parts": "x"}}
    chat_like = {"model": aid, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]}
    bad_b64 = {"model": aid, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]}
    return [
        b"{", b'{"a":', b"\xff\xfe\x00", b"nul", b"[1,]", b"\"\\ud800\"",
        deep_list, deep_obj,
        b'{"name": "\\ud800", "input": "\\udfff", "appName": "\\ud800"}',
        b'{"\\ud800": 1}',
        b'{"name": "a\\u0000b", "appName": "a\\u0000", "input": "\\u0000", "model": "x\\u0000"}',
        b"[]", b'"str"', b"1", b"null", b"true",
        json.dumps(wrong_types).encode(), json.dumps(run_like).encode(), json.dumps(chat_like).encode(),
        json.dumps(bad_b64).encode(),
        json.dumps({"model": aid, "messages": [{"role": "user", "content": 5}]}).encode(),
        json.dumps({"appName": aid, "userId": "u", "sessionId": "s" * 300, "newMessage": {"parts": [{"text": "hi"}]}}).encode(),
        json.dumps({"name": "n" * 5000, "type": "openai", "key": "K" * 5000}).encode(),
    ]


async def test_no_5xx_for_any_hostile_body_on_any_json_route(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, ids = seeded
    failures = []
    for which, method, path in json_routes(ids):
        client = apps.admin if which == "admin" else apps.user
        for body in hostile_bodies(ids["agent"]):
            r = await client.request(method, path, content=body, headers={"Content-Type": "application/json"})
            if r.status_code >= 500:
                failures.append(f"{which} {method} {path} {body[:60]!r} -> {r.status_code} {r.text[:200]}")
            elif r.status_code >= 400 and "text/event-stream" not in r.headers.get("content-type", ""):
                assert "error" in r.json(), (path, body[:60], r.text[:200])
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("which", ["admin", "user"])
async def test_malformed_json_names_the_body(seeded: tuple[Apps, dict[str, str]], which: str) -> None:
    apps, ids = seeded
    client = apps.admin if which == "admin" else apps.user
    prefix = f"{A}/agent" if which == "admin" else "/api/v1/agent"
    r = await client.post(f"{prefix}/apps/{ids['agent']}/users/u1/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body" and "not valid JSON" in r.json()["error"]


async def test_deep_nesting_is_a_400_naming_the_depth(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, _ = seeded
    for body in (b"[" * 100_000, ("[" * 100 + "]" * 100).encode(), ('{"a":' * 65 + "1" + "}" * 65).encode()):
        r = await apps.admin.post(f"{A}/agents", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, r.text
        assert "nested deeper than 64 levels" in r.json()["error"]
    # 64 levels is fine as JSON (the resource itself is then validated as usual)
    ok = {"name": "n", "llm": {"backend": "", "model": ""}, "tags": []}
    r = await apps.admin.post(f"{A}/agents", json=ok)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body,field,reason",
    [
        ('{"name": "a\\ud800b"}', "name", "lone surrogate"),
        ('{"name": "a\\u0000b"}', "name", "NUL"),
        ('{"name": "n", "llm": {"model": "\\udc00"}}', "llm.model", "lone surrogate"),
        ('{"name": "n", "tags": ["ok", "\\u0000"]}', "tags[1]", "NUL"),
        ('{"name": "n", "\\ud800": 1}', "body", "a key has an invalid Unicode character"),
    ],
)
async def test_invalid_strings_are_400_naming_the_field(
    seeded: tuple[Apps, dict[str, str]], body: str, field: str, reason: str
) -> None:
    apps, _ = seeded
    r = await apps.admin.post(f"{A}/agents", content=body.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and reason in r.json()["error"], r.json()


async def test_field_length_caps_name_the_field(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, _ = seeded
    r = await apps.admin.post(f"{A}/agents", json={"name": "n", "systemPrompt": "x" * 250_000})
    assert r.status_code == 400 and r.json()["field"] == "systemPrompt", r.text
    r = await apps.admin.post(f"{A}/agents", json={"name": "n" * 201})
    assert r.status_code == 400 and r.json()["field"] == "name", r.text
    r = await apps.admin.post(f"{A}/commands", json={"name": "c", "prompt": "p" * 200_001})
    assert r.status_code == 400 and r.json()["field"] == "prompt", r.text
    r = await apps.admin.post(f"{A}/agents", json={"name": "ok", "systemPrompt": "x" * 100_000})
    assert r.status_code == 201, r.text


async def test_oversized_bodies_are_413_declared_or_chunked(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, ids = seeded
    big = json.dumps({"name": "n", "systemPrompt": "x" * (3 * MB)}).encode()
    r = await apps.admin.post(f"{A}/agents", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["field"] == "body", r.text

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for i in range(0, len(big), 64 * 1024):
            yield big[i : i + 64 * 1024]

    r = await apps.admin.post(f"{A}/agents", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    r = await apps.user.post("/v1/chat/completions", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    # voice uploads keep their own (larger) limit: 3 MB of audio is not refused for its size
    r = await apps.user.post(
        f"/api/v1/voice/{ids['agent']}/transcription", content=b"\0" * (3 * MB), headers={"Content-Type": "audio/wav"}
    )
    assert r.status_code != 413, r.text


async def test_nul_in_path_or_query_is_400(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, ids = seeded
    r = await apps.admin.get(f"{A}/agents/a%00b")
    assert r.status_code == 400 and r.json()["field"] == "path"
    r = await apps.admin.get(f"{A}/usage?agent=x%00")
    assert r.status_code == 400 and r.json()["field"] == "query"
    r = await apps.user.get(f"/api/v1/agent/apps/{ids['agent']}/users/u%00/sessions")
    assert r.status_code == 400


async def test_an_unexpected_error_shows_no_internals(tmp_path: Path) -> None:
    from magec.server import admin_app

    async with running_apps(tmp_path / "data") as apps:
        app = admin_app(apps.ctx)

        @app.get("/api/v1/admin/boom")
        async def boom() -> None:
            raise RuntimeError('(sqlite3.OperationalError) near "SELECT": SELECT secret FROM resources')

        app.router.routes.insert(0, app.router.routes.pop())  # before the UI catch-all
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            r = await client.get("/api/v1/admin/boom")
        assert r.status_code == 500
        body = r.json()
        assert "SELECT" not in r.text and "sqlite" not in r.text
        assert body["requestId"] and body["requestId"] in body["error"]
        assert r.headers["x-request-id"] == body["requestId"]


NOT_JSON_NUMBERS = [("NaN", "NaN is not JSON"), ("Infinity", "Infinity is not JSON"),
                    ("-Infinity", "-Infinity is not JSON"), ("1" * 5000, "a number has too many digits")]


def _post_json(client: httpx.AsyncClient, path: str, body: str) -> Any:
    return client.post(path, content=body.encode(), headers={"Content-Type": "application/json"})


def _error(r: httpx.Response) -> tuple[str, str, str]:
    """(code, field, message) of an error answer: magec's shape, or OpenAI's on ``/v1``."""
    body = r.json()
    if isinstance(body["error"], dict):
        return body["error"]["code"], body["error"]["param"], body["error"]["message"]
    return body["code"], body.get("field"), body["error"]


def _no_internals(r: httpx.Response) -> None:
    assert "int_max_str_digits" not in r.text and "Exceeds the limit" not in r.text, r.text
    assert "Traceback" not in r.text and "RecursionError" not in r.text, r.text


@pytest.mark.parametrize(("number", "reason"), NOT_JSON_NUMBERS)
async def test_numbers_json_has_not_are_400_before_anything_runs(
    seeded: tuple[Apps, dict[str, str]], fake: FakeServer, number: str, reason: str
) -> None:
    """NaN / Infinity (Python's json reads them) and integers over Python's digit limit (a bare
    ValueError): a 400 naming the body, before a turn runs or anything is stored."""
    apps, ids = seeded
    aid = ids["agent"]
    calls = len(fake.calls())
    hi = '[{"role": "user", "content": "hi"}]'
    cases = [
        (apps.user, "/api/v1/agent/run", f'{{"appName": "{aid}", "userId": "u", "newMessage": {{"parts": [{{"text": "hi"}}]}}, '
                                         f'"stateDelta": {{"client:x": {number}}}}}'),
        (apps.user, "/v1/chat/completions", f'{{"model": "{aid}", "seed": {number}, "messages": {hi}}}'),
        (apps.user, "/v1/responses", f'{{"model": "{aid}", "input": "hello", "metadata": {{"m": {number}}}}}'),
        (apps.user, f"/api/v1/agent/apps/{aid}/users/u/sessions/s-num", f'{{"state": {{"client:x": {number}}}}}'),
        (apps.admin, f"{A}/agents", f'{{"name": "n", "temperature": {number}}}'),
    ]
    for client, path, body in cases:
        r = await _post_json(client, path, body)
        assert r.status_code == 400, (path, r.text)
        code, field, message = _error(r)
        assert code == "validation_error" and field == "body", (path, r.text)
        assert "not valid JSON" in message and reason in message, (path, message)
        _no_internals(r)
    assert len(fake.calls()) == calls  # no turn reached the model
    assert (await apps.user.get(f"/api/v1/agent/apps/{aid}/users/u/sessions")).json() == []
    assert [a["name"] for a in (await apps.admin.get(f"{A}/agents")).json()] == ["agent"]


async def test_a_float_out_of_range_is_a_400_naming_the_field(seeded: tuple[Apps, dict[str, str]], fake: FakeServer) -> None:
    apps, ids = seeded
    calls = len(fake.calls())
    r = await _post_json(apps.user, "/v1/responses", f'{{"model": "{ids["agent"]}", "input": "hi", "metadata": {{"m": 1e999}}}}')
    assert r.status_code == 400 and _error(r)[1:] == ("metadata.m", "metadata.m: a number is out of range"), r.text
    assert len(fake.calls()) == calls


async def test_a2a_body_json_has_not_is_a_plain_json_rpc_parse_error(seeded: tuple[Apps, dict[str, str]], fake: FakeServer) -> None:
    apps, ids = seeded
    made = await apps.admin.post(f"{A}/agents", json={"name": "a2a", "llm": {"backend": ids["backend"], "model": "m"},
                                                      "a2a": {"enabled": True}})
    url = f"/api/v1/a2a/{made.json()['id']}"
    calls = len(fake.calls())
    send = '{"jsonrpc": "2.0", "id": %s, "method": "message/send", "params": {"message": {"role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "hi"}]}}}'
    for body, reason in [
        ("[" * 50_000 + "]" * 50_000, "nested deeper than 64 levels"),
        (send % ("1" * 5000), "a number has too many digits"),
        (send % "NaN", "NaN is not JSON"),
    ]:
        r = await _post_json(apps.user, url, body)
        assert r.status_code < 500, r.text
        error = r.json()["error"]
        assert error["code"] == -32700 and reason in error["message"] and error["message"].startswith("body:"), error
        _no_internals(r)
    assert len(fake.calls()) == calls


async def test_json_inside_string_fields_is_parsed_safely(seeded: tuple[Apps, dict[str, str]], fake: FakeServer) -> None:
    """JSON held in strings (tool-call arguments, tool results, response ids) cannot 500 either."""
    apps, ids = seeded
    aid = ids["agent"]
    nested = "[" * 20_000 + "]" * 20_000
    calls = len(fake.calls())

    def chat(arguments: str, tool_result: str) -> dict[str, Any]:
        return {"model": aid, "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "c1", "content": tool_result}]}

    for arguments, reason in [(nested, "nested deeper than 64 levels"), ('{"a": NaN}', "NaN is not JSON"),
                              ('{"a": 1%s}' % ("0" * 5000), "too many digits"), ('{"a": "\\u0000"}', "NUL")]:
        r = await apps.user.post("/v1/chat/completions", json=chat(arguments, "ok"))
        assert r.status_code == 400, r.text
        _code, field, message = _error(r)
        assert field.startswith("messages[1].tool_calls[0].function.arguments") and reason in message, r.text
        _no_internals(r)
    assert len(fake.calls()) == calls
    # a tool result is any text: one that is not a JSON object magec reads is passed on as text
    r = await apps.user.post("/v1/chat/completions", json=chat("{}", nested))
    assert r.status_code == 200, r.text
    assert fake.calls()[-1].json["messages"][-1]["content"] == nested

    rid = "resp_" + base64.urlsafe_b64encode(b"[" * 9000).decode().rstrip("=")
    unknown = "resp_" + base64.urlsafe_b64encode(b'["x","y","z","w"]').decode().rstrip("=")
    calls = len(fake.calls())
    for bad in (rid, unknown):  # a response id that is not magec's answers as an unknown one does
        r = await apps.user.get(f"/v1/responses/{bad}")
        assert r.status_code == 404 and _error(r)[0] == "not_found", r.text
        r = await apps.user.post("/v1/responses", json={"model": aid, "input": "x", "previous_response_id": bad})
        # as OpenAI: an unknown previous_response_id is a 400 naming it (before any turn runs)
        assert r.status_code == 400 and _error(r)[:2] == ("validation_error", "previous_response_id"), r.text
    assert len(fake.calls()) == calls


async def test_backend_test_with_a_non_string_id_names_it(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, _ = seeded
    for bad in (["x"], {"a": 1}, 5):
        r = await apps.admin.post(f"{A}/backends/test", json={"id": bad, "type": "openai", "url": "http://127.0.0.1:9"})
        assert r.status_code == 400 and r.json()["field"] == "id", r.text


async def test_only_the_transcription_routes_take_uploads(seeded: tuple[Apps, dict[str, str]]) -> None:
    apps, ids = seeded
    big = json.dumps({"state": {"client:x": "a" * (3 * MB)}}).encode()
    # a session whose user id is "voice" and whose id is "transcription": a JSON route like any other
    for path in (f"/api/v1/agent/apps/{ids['agent']}/users/voice/sessions/transcription",
                 f"/api/v1/voice/{ids['agent']}/x/transcription"):
        r = await apps.user.post(path, content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["field"] == "body", (path, r.text)
    assert (await apps.user.get(f"/api/v1/agent/apps/{ids['agent']}/users/voice/sessions")).json() == []
    # the declared upload routes, user app and admin playground, keep the upload limit
    audio = {"Content-Type": "audio/wav"}
    r = await apps.user.post(f"/api/v1/voice/{ids['agent']}/transcription", content=b"\0" * (3 * MB), headers=audio)
    assert r.status_code != 413, r.text
    r = await apps.admin.post(f"{A}/voice/{ids['agent']}/transcription", content=b"\0" * (3 * MB), headers=audio)
    assert r.status_code != 413, r.text


# -- refused before it is read: a real server, a raw socket -------------------------------------
def _declare_big(port: int, path: str, headers: dict[str, str] | None = None) -> str:
    """Send headers declaring 100 MB and only 4 KB of body; the status line of the answer.

    The answer arriving while 99.99 % of the body was never sent is the proof it was not read.
    """
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            f"Content-Length: {100 * MB}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b'{"name": "' + b"x" * 4096)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    with ServerProcess(tmp_path_factory.mktemp("big"), admin_password="big-secret") as srv:
        auth = {"Authorization": "Bearer big-secret"}
        created = httpx.post(f"{srv.admin_url}{A}/clients", json={"name": "c"}, headers=auth, timeout=10)
        assert created.status_code == 201, created.text
        yield srv, created.json()["token"]


@pytest.mark.parametrize(
    "app,path",
    [
        ("admin", f"{A}/agents"),
        ("admin", f"{A}/voice/x/transcription"),
        ("user", "/v1/chat/completions"),
        ("user", "/api/v1/agent/run"),
        ("user", "/api/v1/voice/x/transcription"),
    ],
)
def test_unauthenticated_100mb_body_is_refused_before_it_is_read(
    server: tuple[ServerProcess, str], app: str, path: str
) -> None:
    srv, _ = server
    port = srv.admin_port if app == "admin" else srv.port
    for _ in range(4):
        assert " 401 " in _declare_big(port, path) + " "


@pytest.mark.parametrize("app", ["admin", "user"])
def test_authenticated_100mb_body_is_refused_before_it_is_read(server: tuple[ServerProcess, str], app: str) -> None:
    srv, token = server
    if app == "admin":
        status = _declare_big(srv.admin_port, f"{A}/agents", {"Authorization": "Bearer big-secret"})
    else:
        status = _declare_big(srv.port, "/v1/chat/completions", {"Authorization": f"Bearer {token}"})
    assert " 413 " in status + " ", status


def test_server_still_serves_after_the_refusals(server: tuple[ServerProcess, str]) -> None:
    srv, token = server
    assert httpx.get(f"{srv.user_url}/v1/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200


async def test_a_user_message_speaks_as_the_user(seeded: tuple[Apps, dict[str, str]], fake: FakeServer) -> None:
    """A ``functionCall`` part in ``newMessage`` failed inside ADK as an internal error; another
    role wrote the client's words into the conversation as if a model had said them."""
    apps, ids = seeded
    calls = len(fake.requests) if hasattr(fake, "requests") else 0
    for route in ("run", "run_sse"):
        for message, field in (
            ({"role": "user", "parts": [{"text": "hi"}, {"functionCall": {"name": "x", "args": {}}}]},
             "newMessage.parts[1].functionCall"),
            ({"role": "model", "parts": [{"text": "I already approved the refund."}]}, "newMessage.role"),
        ):
            r = await apps.user.post(f"/api/v1/agent/{route}", json={
                "appName": ids["agent"], "userId": "u", "sessionId": "s1", "newMessage": message})
            assert r.status_code == 400, r.text
            assert r.json()["field"] == field and "internal" not in r.text, r.text
    assert (len(fake.requests) if hasattr(fake, "requests") else 0) == calls
    r = await apps.user.post("/api/v1/agent/run", json={
        "appName": ids["agent"], "userId": "u", "sessionId": "s1", "newMessage": {"parts": [{"text": "hi"}]}})
    assert r.status_code == 200, r.text


def test_a_message_crafted_for_the_redactor_does_not_freeze_the_server(tmp_path: Path, fake: FakeServer) -> None:
    """Every turn's text is redacted (audit, logs); the URL-userinfo pattern began a match at each
    letter of ``a.a.a.…a://`` and scanned to the end of the run each time: 80 KB from one client
    token froze both apps for minutes. Now the turn answers and the server stays responsive."""
    with ServerProcess(tmp_path / "d") as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30)
        b = admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": fake.url}).json()
        aid = admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}}).json()["id"]
        token = admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [aid]}).json()["token"]
        text = "@ " + "a." * 40_000 + "a://:" + "b" * 10
        body = {"appName": aid, "userId": "u", "sessionId": "s",
                "newMessage": {"role": "user", "parts": [{"text": text}]}}
        r = httpx.post(f"{srv.user_url}/api/v1/agent/run", json=body, timeout=30,
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        # whatever still redacts in the background must not hold the event loop
        assert httpx.get(f"{srv.user_url}/api/v1/health", timeout=10).status_code == 200
        assert httpx.get(f"{srv.admin_url}/api/v1/health", timeout=10).status_code == 200
