"""Hostile: secrets outside the obvious fields never leave the fields that hold them.

A real ``magec serve`` (log level debug) and loopback fake providers; everything goes over HTTP as
a client would. Canaries sit in backend header values, agent ``llm.headers``, URL userinfo and
``?key=`` query credentials; a provider that echoes every request header in its error body tries
to carry them into run events, sessions and logs. Then: no Admin API response, run event, session,
log line or data file holds one; ``${SECRET}`` in public fields stays literal; a 3-character
secret is redacted; a stored key is never sent to another URL.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sqlite3
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
U = "/api/v1/agent"
PASSWORD = "secrets-admin-password"

HDR = "hdr-canary-Azure-7f3e9c41"  # backend header value (an Azure ``api-key``)
AGENT_HDR = "agent-canary-proxy-51ab88"  # agent llm.headers value (a proxy token)
URL_PASS = "urlpass-canary-93d1e0"  # URL userinfo password
URL_KEY = "querykey-canary-0c77aa"  # URL ?key= credential
API_KEY = "sk-apikey-canary-4410bb"
PUBLIC = "public-canary-ee21f0"  # a secret referenced from names and descriptions
SHORT = "Zq7"  # a 3-character secret (referenced from a header)
WORDS = "private-words-61c2"  # in a prompt and a user message: SQL parameters, never logged
MAGEC_ENV = "magec-env-canary-2d9c"  # one of magec's own environment variables (MAGEC_*)
ENC_KEY = "app-enc-canary-5e1f7a"  # the encryption key, from a variable config.yaml names
CANARIES = (HDR, AGENT_HDR, URL_PASS, URL_KEY, API_KEY, PUBLIC, MAGEC_ENV, ENC_KEY)
BASIC = base64.b64encode(f"magec:{URL_PASS}".encode()).decode()  # httpx sends userinfo as Basic


def echo_headers(req: RecordedRequest) -> Reply | None:
    """A provider that rejects any chat saying ECHO, quoting the request's headers and query, and
    names the key it was sent as the model that answered one saying MODELECHO."""
    if req.route == "chat" and "MODELECHO" in json.dumps(req.json):
        key = req.headers.get("api-key", "")
        return Reply(body={"id": "c1", "object": "chat.completion", "created": 1, "model": f"echo-{key}",
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "done"}}],
                           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    if req.route == "chat" and "BODYECHO" in json.dumps(req.json):  # errors that quote the prompt
        return Reply.fail(400, f"rejected; you said {json.dumps(req.json['messages'][-1])}")
    if req.route == "chat" and "ECHO" in json.dumps(req.json):
        return Reply.fail(400, f"rejected; you sent headers {json.dumps(req.headers)} query {json.dumps(req.query)}")
    return None


@pytest.fixture(scope="module")
def echo() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("echo", responder=echo_headers)) as s:
        yield s


@pytest.fixture(scope="module")
def foreign() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("foreign")) as s:
        yield s


@pytest.fixture(autouse=True)
def _clear(echo: FakeServer, foreign: FakeServer) -> None:
    echo.clear()
    foreign.clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("secrets"), admin_password=PASSWORD, log_level="debug",
                       server_config={"encryptionKey": "${APP_ENC_KEY}"},  # a deployment's own name for it
                       env={"MAGEC_CANARY": MAGEC_ENV, "PLAIN_SUFFIX": "chat", "APP_ENC_KEY": ENC_KEY}) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.admin_url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def user(server: ServerProcess, admin: httpx.Client, setup: dict[str, Any]) -> Iterator[httpx.Client]:
    """The user API as a client with its own token from the start. The API is open only while no
    client exists, so whichever test first creates one (any order, any xdist split) would otherwise
    turn every later tokenless call into a 401: no test may depend on another having run."""
    r = admin.post(f"{A}/clients", json={"name": "T", "allowedAgents": [setup["agent"]["id"]]})
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    with httpx.Client(base_url=server.user_url, headers=headers, timeout=30) as c:
        yield c


def secret_url(echo: FakeServer) -> str:
    host = echo.url.removeprefix("http://")
    return f"http://magec:{URL_PASS}@{host}/v1?key={URL_KEY}&x=1"


@pytest.fixture(scope="module")
def setup(admin: httpx.Client, echo: FakeServer) -> dict[str, Any]:
    """The echo backend (secrets in headers, URL and key) and an agent with its own header."""
    for key, value in (("SHORT", SHORT), ("PUBLIC_NAME", PUBLIC)):
        r = admin.post(f"{A}/secrets", json={"name": key, "key": key, "value": value})
        assert r.status_code == 201, r.text
    r = admin.post(f"{A}/backends", json={
        "name": "Echo", "type": "openai", "url": secret_url(echo), "apiKey": API_KEY,
        "headers": {"api-key": HDR, "X-Short": "${SHORT}"}})
    assert r.status_code == 201, r.text
    backend = r.json()
    r = admin.post(f"{A}/agents", json={"name": "Echoer", "systemPrompt": f"Be terse. {WORDS}", "llm": {
        "backend": backend["id"], "model": "fake-chat", "headers": {"X-Proxy-Token": AGENT_HDR}}})
    assert r.status_code == 201, r.text
    return {"backend": backend, "agent": r.json()}


def assert_clean(text: str, *extra: str) -> None:
    for canary in (*CANARIES, BASIC, *extra):
        assert canary not in text, f"{canary!r} leaked: {text[:2000]}"


def run_body(app: str, sid: str, text: str) -> dict[str, Any]:
    return {"appName": app, "userId": "alice", "sessionId": sid,
            "newMessage": {"role": "user", "parts": [{"text": text}]}}


def test_header_and_url_secrets_appear_in_no_response_event_log_or_file(
    server: ServerProcess, admin: httpx.Client, user: httpx.Client, echo: FakeServer, setup: dict[str, Any]
) -> None:
    backend, agent = setup["backend"], setup["agent"]
    bid, aid = backend["id"], agent["id"]
    responses: list[str] = [json.dumps(backend), json.dumps(agent)]

    # Admin API: header names visible, values blanked; URL credentials masked; key write-only
    got = admin.get(f"{A}/backends/{bid}").json()
    assert got["headers"] == {"api-key": "", "X-Short": "${SHORT}"}
    assert got["url"] == f"http://magec:***@{echo.url.removeprefix('http://')}/v1?key=***&x=1"
    assert got["apiKey"] == "" and got["apiKeySet"] is True
    assert admin.get(f"{A}/agents/{aid}").json()["llm"]["headers"] == {"X-Proxy-Token": ""}
    for path in ("backends", "agents", f"backends/{bid}", f"agents/{aid}", "overview", f"backends/{bid}/models"):
        r = admin.get(f"{A}/{path}")
        assert r.status_code == 200, r.text
        responses.append(r.text)

    # Saving back what the API showed (as the Admin UI does) keeps every stored value
    r = admin.put(f"{A}/backends/{bid}", json={k: got[k] for k in ("name", "type", "url", "apiKey", "headers")})
    assert r.status_code == 200, r.text
    responses.append(r.text)
    r = admin.put(f"{A}/agents/{aid}", json={"name": "Echoer", "systemPrompt": f"Be terse. {WORDS}", "llm": {
        "backend": bid, "model": "fake-chat", "headers": {"X-Proxy-Token": ""}}})
    assert r.status_code == 200, r.text
    responses.append(r.text)

    # A successful run: the provider got every stored value (kept, decrypted, expanded)
    assert user.post(f"{U}/apps/{aid}/users/alice/sessions/s1", json={}).status_code == 200
    r = user.post(f"{U}/run", json=run_body(aid, "s1", f"hello {WORDS}"))
    assert r.status_code == 200 and not any(e.get("errorCode") for e in r.json()), r.text
    sent = [q for q in echo.requests if q.route == "chat"][-1]
    assert sent.headers["api-key"] == HDR and sent.headers["x-proxy-token"] == AGENT_HDR
    assert sent.headers["x-short"] == SHORT
    assert sent.headers["authorization"] == f"Basic {BASIC}"  # the URL userinfo, as httpx sends it
    responses.append(r.text)

    # The provider echoes every header in an error: run events (user API, SSE and the admin
    # playground) and the stored session carry none of it
    r = user.post(f"{U}/run", json=run_body(aid, "s1", "ECHO please"))
    assert r.status_code == 200, r.text
    assert r.json()[-1].get("errorCode") and "rejected" in r.json()[-1]["errorMessage"], r.text
    responses.append(r.text)
    with user.stream("POST", f"{U}/run_sse", json={**run_body(aid, "s1", "ECHO again"), "streaming": True}) as s:
        responses.append(s.read().decode())
    assert "rejected" in responses[-1]
    r = admin.post(f"{A}/agent/run", json=run_body(aid, "p1", "ECHO from the playground"))
    assert r.status_code == 200 and "rejected" in r.text, r.text
    responses.append(r.text)
    for client, base in ((user, U), (admin, f"{A}/agent")):
        r = client.get(f"{base}/apps/{aid}/users/alice/sessions")
        assert r.status_code == 200, r.text
        responses.append(r.text)
    r = user.get(f"{U}/apps/{aid}/users/alice/sessions/s1")
    assert r.status_code == 200 and "hello" in r.text, r.text
    responses.append(r.text)
    r = user.post("/v1/chat/completions", json={"model": aid, "messages": [{"role": "user", "content": "ECHO v1"}]})
    responses.append(r.text)

    # Test connection on the saved backend (its result and stored health are API responses too)
    r = admin.post(f"{A}/backends/{bid}/test", json={})
    assert r.status_code == 200, r.text
    responses.append(r.text)
    responses.append(admin.get(f"{A}/backends/{bid}").text)

    for text in responses:
        assert_clean(text)
        # the 3-character secret never stands in an echoed header either
        assert not re.search(rf"x-short\W+{SHORT}", text, re.I), text

    # the log at debug level (SQL parameters included, were they logged)
    assert server.log_path is not None
    log = server.log_path.read_text()
    assert '"level": "debug"' in log and "rejected" in log
    assert_clean(log, WORDS)
    assert re.search(r"x-short\W+\*\*\*", log) and not re.search(rf"x-short\W+{SHORT}", log)

    # every data file, read while running (database, WAL, key file)
    for path in server.data_dir.rglob("*"):
        if path.is_file() and path != server.log_path:
            blob = path.read_bytes()
            for canary in (*CANARIES, BASIC):
                assert canary.encode() not in blob, (path, canary)


def test_secret_references_in_public_fields_stay_literal(
    admin: httpx.Client, user: httpx.Client, setup: dict[str, Any]
) -> None:
    bid = setup["backend"]["id"]
    r = admin.post(f"{A}/agents", json={"name": "Bot ${PUBLIC_NAME}", "description": "about ${PUBLIC_NAME}",
                                        "tags": ["${PUBLIC_NAME}"], "llm": {"backend": bid, "model": "fake-chat"}})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = admin.post(f"{A}/clients", json={"name": "C", "allowedAgents": [aid]})
    assert r.status_code == 201, r.text
    token = {"Authorization": f"Bearer {r.json()['token']}"}

    models = user.get("/v1/models", headers=token)
    apps = user.get(f"{U}/list-apps", params={"detailed": "true"}, headers=token)
    for r in (models, apps):
        assert r.status_code == 200, r.text
        assert PUBLIC not in r.text and "${PUBLIC_NAME}" in r.text, r.text
    entry = next(m for m in models.json()["data"] if m["magec_id"] == aid)
    assert "Bot ${PUBLIC_NAME}" in json.dumps(entry)


def test_a_stored_key_is_never_sent_to_another_url(
    admin: httpx.Client, echo: FakeServer, foreign: FakeServer, setup: dict[str, Any]
) -> None:
    bid = setup["backend"]["id"]
    shown = admin.get(f"{A}/backends/{bid}").json()
    attempts: list[dict[str, Any]] = [
        {"id": bid, "type": "openai", "url": foreign.url, "apiKey": ""},  # the reported repro
        {"id": bid, "type": "openai", "url": foreign.url},
        {"id": bid, "type": "openai", "url": foreign.url, "headers": {"api-key": ""}},
        {"id": bid, "type": "openai", "url": shown["url"].replace(echo.url.removeprefix("http://"),
                                                                  foreign.url.removeprefix("http://"))},
        {"id": bid, "type": "anthropic", "url": shown["url"], "apiKey": ""},  # same URL, another vendor
    ]
    for body in attempts:
        r = admin.post(f"{A}/backends/test", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] in ("url", "type"), r.text
        assert_clean(r.text)
        # saving it is refused the same way: the stored key would follow the new URL
        r = admin.put(f"{A}/backends/{bid}", json={"name": "Echo", **{k: v for k, v in body.items() if k != "id"}})
        assert r.status_code == 400 and r.json()["field"] in ("url", "type"), r.text
    assert foreign.calls() == [] and echo.calls() == []
    assert admin.get(f"{A}/backends/{bid}").json()["url"] == shown["url"]  # unchanged

    # Typed again, the key goes where the admin says (it is theirs to send): never the stored one
    r = admin.post(f"{A}/backends/test", json={"id": bid, "type": "openai", "url": foreign.url,
                                               "apiKey": "sk-typed-again-0001", "headers": {"api-key": "typed"}})
    assert r.status_code == 200, r.text
    assert foreign.requests and all(
        q.headers.get("authorization") == "Bearer sk-typed-again-0001" and q.headers.get("api-key") == "typed"
        for q in foreign.requests)
    assert_clean(json.dumps([q.headers for q in foreign.requests]) + json.dumps([q.query for q in foreign.requests]))

    # The same URL (as shown, masked) keeps using the stored values
    r = admin.post(f"{A}/backends/test", json={"id": bid, "type": "openai", "url": shown["url"], "apiKey": "",
                                               "headers": {"api-key": ""}})
    assert r.status_code == 200, r.text
    assert echo.requests and echo.requests[-1].headers.get("api-key") == HDR



def test_a_ciphertext_copied_from_a_backup_cannot_carry_a_key_elsewhere(
    admin: httpx.Client, echo: FakeServer, foreign: FakeServer, setup: dict[str, Any]
) -> None:
    """A backup export holds each stored key encrypted. Pasting that ciphertext into another
    backend (or another field) must not make magec decrypt it and send the key to a new URL."""
    r = admin.get(f"{A}/settings/backup")
    assert r.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        member = tar.extractfile("resources/backends.json")
        assert member is not None
        stored = {b["id"]: b for b in json.loads(member.read())}
    cipher = stored[setup["backend"]["id"]]["data"]["apiKey"]
    assert cipher.startswith("enc:v1:")
    bodies = [
        {"name": "Thief", "type": "openai", "url": foreign.url, "apiKey": cipher},
        {"name": "Thief", "type": "openai", "url": foreign.url, "headers": {"x-api-key": cipher}},
    ]
    for body in bodies:
        r = admin.post(f"{A}/backends", json=body)
        assert r.status_code == 400, r.text
        assert r.json()["field"] in ("apiKey", "headers.x-api-key"), r.text
        r = admin.post(f"{A}/backends/test", json=body)
        assert r.status_code in (200, 400), r.text  # a test of an unsaved backend sends what it was given
    # pasted into an existing backend (its own stored value is a different ciphertext)
    other = admin.post(f"{A}/backends", json={"name": "Other", "type": "openai", "url": foreign.url,
                                              "apiKey": "sk-other-key-0001"}).json()
    r = admin.put(f"{A}/backends/{other['id']}", json={"name": "Other", "type": "openai", "url": foreign.url,
                                                       "apiKey": cipher})
    assert r.status_code == 400 and r.json()["field"] == "apiKey", r.text
    r = admin.post(f"{A}/backends/{other['id']}/test")
    assert r.status_code == 200, r.text
    sent = json.dumps([q.headers for q in foreign.requests])
    assert API_KEY not in sent and "sk-other-key-0001" in sent
    assert admin.delete(f"{A}/backends/{other['id']}").status_code in (200, 204)

def test_clear_values_from_an_older_version_are_hidden_then_encrypted(
    tmp_path: Path, echo: FakeServer
) -> None:
    """A database written before header values were sensitive: values stored in clear."""
    data = tmp_path / "legacy"
    with ServerProcess(data, admin_password=PASSWORD) as srv, httpx.Client(
        base_url=srv.admin_url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=30
    ) as c:
        bid = c.post(f"{A}/backends", json={"name": "Old", "type": "openai", "url": echo.url}).json()["id"]
    db = sqlite3.connect(data / "magec.db")
    row = json.loads(db.execute("SELECT data FROM resources WHERE id = ?", (bid,)).fetchone()[0])
    row["headers"] = {"api-key": HDR}
    row["url"] = secret_url(echo)
    db.execute("UPDATE resources SET data = ? WHERE id = ?", (json.dumps(row), bid))
    db.commit()
    db.close()

    with ServerProcess(data, admin_password=PASSWORD) as srv, httpx.Client(
        base_url=srv.admin_url, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=30
    ) as c:
        r = c.get(f"{A}/backends/{bid}")
        assert r.status_code == 200 and r.json()["headers"] == {"api-key": ""}, r.text
        assert_clean(r.text)
        assert c.post(f"{A}/backends/{bid}/test", json={}).status_code == 200
        assert echo.requests and echo.requests[-1].headers.get("api-key") == HDR  # still works
        db = sqlite3.connect(data / "magec.db")
        stored = db.execute("SELECT data FROM resources WHERE id = ?", (bid,)).fetchone()[0]
        db.close()
        assert_clean(stored)
        assert json.loads(stored)["headers"]["api-key"].startswith("enc:v1:")


def test_agent_headers_and_mcp_endpoints_follow_the_same_rules(
    admin: httpx.Client, echo: FakeServer, foreign: FakeServer, setup: dict[str, Any]
) -> None:
    agent, bid = setup["agent"], setup["backend"]["id"]
    other = admin.post(f"{A}/backends", json={"name": "Other", "type": "openai", "url": foreign.url}).json()
    llm = {"model": "fake-chat", "headers": {"X-Proxy-Token": ""}}
    # the agent's stored header value would follow it to another backend: refused, naming llm.backend
    r = admin.put(f"{A}/agents/{agent['id']}", json={"name": "Echoer", "llm": {**llm, "backend": other["id"]}})
    assert r.status_code == 400 and r.json()["field"] == "llm.backend", r.text
    r = admin.put(f"{A}/agents/{agent['id']}", json={"name": "Echoer", "llm": {**llm, "backend": bid}})
    assert r.status_code == 200, r.text

    # an MCP endpoint with a token in its query: encrypted, masked, kept when sent back as shown
    token = "mcp-token-canary-77d0"
    r = admin.post(f"{A}/mcps", json={"name": "Tools", "endpoint": f"http://127.0.0.1:9/mcp?access_token={token}",
                                      "headers": {"Authorization": f"Bearer {token}"}})
    assert r.status_code == 201, r.text
    mcp = r.json()
    assert mcp["endpoint"] == "http://127.0.0.1:9/mcp?access_token=***" and mcp["headers"] == {"Authorization": ""}
    r = admin.put(f"{A}/mcps/{mcp['id']}", json={"name": "Tools 2", "endpoint": mcp["endpoint"], "headers": mcp["headers"]})
    assert r.status_code == 200 and r.json()["endpoint"] == mcp["endpoint"], r.text
    r = admin.put(f"{A}/mcps/{mcp['id']}", json={"name": "Tools", "endpoint": "http://127.0.0.1:10/mcp?access_token=***"})
    assert r.status_code == 400 and r.json()["field"] == "endpoint", r.text
    for text in (json.dumps(mcp), admin.get(f"{A}/mcps").text):
        assert token not in text


def test_what_comes_back_from_a_provider_or_the_environment_is_hidden(
    server: ServerProcess, admin: httpx.Client, user: httpx.Client, echo: FakeServer, setup: dict[str, Any]
) -> None:
    aid = setup["agent"]["id"]
    # a provider naming, as the model that answered, the key it was sent: the run's events and
    # the stored session say modelVersion "echo-***"
    r = user.post(f"{U}/run", json=run_body(aid, "model-echo", "MODELECHO please"))
    assert r.status_code == 200, r.text
    assert echo.calls()[-1].headers["api-key"] == HDR  # it was sent the key
    versions = [e.get("modelVersion") for e in r.json() if e.get("modelVersion")]
    assert versions and all(v.startswith("echo-") for v in versions), r.text
    session = user.get(f"{U}/apps/{aid}/users/alice/sessions/model-echo")
    assert_clean(r.text + session.text)

    # ${VAR} in a stored resource falls back to the environment, but never to magec's own
    # variables (MAGEC_*, and whichever holds the encryption key, the admin password, tokens):
    # whoever can write an agent could read them back through the model name an event carries
    r = admin.post(f"{A}/agents", json={"name": "Env reader", "llm": {
        "backend": setup["backend"]["id"], "model": "fake-${MAGEC_CANARY}-${PLAIN_SUFFIX}-${APP_ENC_KEY}"}})
    assert r.status_code == 201, r.text
    r = admin.post(f"{A}/agent/run", json=run_body(r.json()["id"], "env", "hello"))  # the playground
    assert r.status_code == 200, r.text
    assert echo.calls()[-1].json["model"] == "fake--chat-"
    assert_clean(r.text)

    # the admin password, quoted back in a provider's error, is hidden like every other secret
    r = user.post(f"{U}/run", json=run_body(aid, "password", f"BODYECHO my password is {PASSWORD} ok"))
    assert r.status_code == 200 and "rejected; you said" in r.text, r.text
    assert PASSWORD not in r.text and "my password is *** ok" in r.text, r.text
    assert PASSWORD not in server.log_path.read_text()  # type: ignore[union-attr]
