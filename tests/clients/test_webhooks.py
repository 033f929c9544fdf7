"""Webhooks over HTTP as an automation calls them: passthrough and command modes, client-token
auth, the optional HMAC signature, sync answers, 202 + callback for long runs (received by a
loopback server), and the SSRF guard on callback URLs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from magec.api.user.webhooks import is_public, post_callback, sign, signature_headers
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.clients.helpers import agent, backend, client, command

W = "/api/v1/webhooks"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("hook")) as s:
        yield s


class Receiver:
    """A loopback callback receiver: records every POST (headers and raw body)."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []

        async def receive(request: Request) -> JSONResponse:
            self.calls.append((dict(request.headers), await request.body()))
            return JSONResponse({"received": True})

        self.server = FakeServer(Starlette(routes=[Route("/hook", receive, methods=["POST"])]))
        self.url = self.server.url + "/hook"

    async def wait(self, n: int = 1, timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n:
            assert time.monotonic() < deadline, "no callback received"
            await asyncio.sleep(0.1)
        return self.calls


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.server.stop()


@pytest.fixture
async def apps(tmp_path: Path, llm: FakeServer) -> AsyncIterator[Apps]:
    llm.clear()
    async with running_apps(tmp_path / "data") as a:
        a.ctx.extras["test_backend"] = await backend(a, llm.url)
        yield a


async def _hook(apps: Apps, config: dict[str, Any], **extra: Any) -> tuple[str, str, str]:
    aid = await agent(apps, apps.ctx.extras["test_backend"])
    c = await client(apps, "webhook", [aid], {"webhook": config}, **extra)
    return c["id"], c["token"], aid


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_passthrough_sync_answer(apps: Apps, llm: FakeServer) -> None:
    cid, token, aid = await _hook(apps, {"passthrough": True})
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": "deploy finished"}, headers=auth(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True and body["response"] == "hook says: deploy finished" and body["agent"] == aid
    # each call is its own session (Magec), unless the caller names one
    r2 = await apps.user.post(f"{W}/{cid}", json={"message": "second"}, headers=auth(token))
    assert r2.json()["sessionId"] != body["sessionId"]
    for sid_call in ("one", "two"):
        r = await apps.user.post(f"{W}/{cid}", json={"prompt": f"turn {sid_call}", "sessionId": "s-1"},
                                 headers=auth(token))
        assert r.json()["sessionId"] == "s-1"
    assert "turn one" in str(llm.requests[-1].json["messages"])
    r = await apps.user.post(f"{W}/{cid}", json={}, headers=auth(token))
    assert r.status_code == 400 and r.json()["field"] == "prompt"
    # a prompt that is there but not text is said so (it was "is required")
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": 123}, headers=auth(token))
    assert r.status_code == 400 and r.json()["field"] == "prompt"
    assert r.json()["error"] == "prompt: must be a string, got int"


async def test_auth_and_lookup(apps: Apps) -> None:
    cid, token, aid = await _hook(apps, {"passthrough": True})
    other = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}})
    direct = await client(apps, "direct", [aid])
    msg = {"prompt": "hi"}
    assert (await apps.user.post(f"{W}/{cid}", json=msg)).status_code == 401
    assert (await apps.user.post(f"{W}/{cid}", json=msg, headers=auth("mgc_wrong"))).status_code == 401
    assert (await apps.user.post(f"{W}/{cid}", json=msg, headers=auth(other["token"]))).status_code == 401
    r = await apps.user.post(f"{W}/{direct['id']}", json=msg, headers=auth(direct["token"]))
    assert r.status_code == 404 and r.json()["ok"] is False
    # a token of another client does not learn which ids exist (Magec answers 404 to anyone)
    assert (await apps.user.post(f"{W}/nope", json=msg, headers=auth(token))).status_code == 401
    off = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}}, enabled=False)
    # a disabled client's own token: Magec's 403 (before the body is read)
    r = await apps.user.post(f"{W}/{off['id']}", json=msg, headers=auth(off["token"]))
    assert r.status_code == 403 and "disabled" in r.text


async def test_statuses_and_bodies_are_magecs(apps: Apps) -> None:
    """Every outcome of Magec's webhook handler (server/clients/webhook/handler.go) has its status
    and its ``error`` text, with ``ok: false`` first and our ``code`` beside it. Where Magec tells a
    caller without the client's token that an id exists (404) or is disabled (403), the answer here
    is the 401 of a wrong token, the same bytes whatever the id (docs/clients.md)."""
    cid, token, aid = await _hook(apps, {"passthrough": True})
    other = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}})
    off = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}}, enabled=False)
    direct = await client(apps, "direct", [aid])
    direct_off = await client(apps, "direct", [aid], enabled=False)
    dead = await agent(apps, await backend(apps, "http://127.0.0.1:9/v1"))
    failing = await client(apps, "webhook", [dead], {"webhook": {"passthrough": True}})
    msg = {"prompt": "hi"}

    async def post(path: str, token: str | None = None, content: bytes | None = None) -> httpx.Response:
        headers = {**(auth(token) if token else {}), "content-type": "application/json"}
        return await apps.user.post(f"{W}/{path}", headers=headers, content=json.dumps(msg).encode() if content is None else content)

    bad_token = {"ok": False, "error": "invalid or missing token", "code": "unauthorized"}
    for r in [
        await post(cid), await post(cid, "mgc_wrong"), await post(cid, other["token"]),
        await post("nope"), await post("nope", token),  # Magec: 404 "webhook not found"
        await post(off["id"]), await post(off["id"], "mgc_wrong"),  # Magec: 403 "webhook client is disabled"
        await post(direct["id"]),  # Magec: 404
        await post(cid, content=b"x" * 3_000_000),  # the token before the body's size
    ]:
        assert (r.status_code, r.json()) == (401, bad_token), r.text
    r = await post(off["id"], off["token"])
    assert (r.status_code, r.json()) == (403, {"ok": False, "error": "webhook client is disabled", "code": "forbidden"})
    for owner in (direct, direct_off):  # Magec looks at the type first
        r = await post(owner["id"], owner["token"])
        assert (r.status_code, r.json()) == (404, {"ok": False, "error": "webhook not found", "code": "not_found"})
    r = await post(cid, token, content=b"{nope")
    assert r.status_code == 400 and r.json()["ok"] is False, r.text
    # a run that fails is Magec's 500 (its executor's error), whatever failed; ``code`` says what
    r = await post(failing["id"], failing["token"])
    body = r.json()
    assert r.status_code == 500 and body["ok"] is False and body["code"] not in (None, "internal_error"), r.text
    assert next(iter(body)) == "ok" and body["agent"] == dead


async def test_every_refusal_carries_magecs_ok_false(apps: Apps) -> None:
    """Magec's webhook answers always carry ``ok`` (``{"ok": false, "error": …}`` on a refusal);
    ours keep ``error`` and ``code`` beside it, also for refusals made before the handler runs."""
    cid, token, aid = await _hook(apps, {"passthrough": True})
    signed, signed_token, _ = await _hook(apps, {"passthrough": True, "signingSecret": "s3cret"})
    outsider = await agent(apps, apps.ctx.extras["test_backend"])
    off = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}}, enabled=False)
    direct = await client(apps, "direct", [aid])
    msg = {"prompt": "hi"}
    refusals = [
        (401, await apps.user.post(f"{W}/{cid}", json=msg)),
        (401, await apps.user.post(f"{W}/{cid}", json=msg, headers=auth("mgc_wrong"))),
        (403, await apps.user.post(f"{W}/{off['id']}", json=msg, headers=auth(off["token"]))),
        (401, await apps.user.post(f"{W}/{signed}", json=msg, headers=auth(signed_token))),
        (403, await apps.user.post(f"{W}/{cid}", json={**msg, "agent": outsider}, headers=auth(token))),
        (400, await apps.user.post(f"{W}/{cid}", content=b"{nope", headers={**auth(token), "content-type": "application/json"})),
        (400, await apps.user.post(f"{W}/{cid}", json=[1], headers=auth(token))),
        (413, await apps.user.post(f"{W}/{cid}", json={"prompt": "x" * 3_000_000}, headers=auth(token))),
        (404, await apps.user.post(f"{W}/{direct['id']}", json=msg, headers=auth(direct["token"]))),
        (405, await apps.user.get(f"{W}/{cid}", headers=auth(token))),
    ]
    for status, r in refusals:
        body = r.json()
        assert r.status_code == status, (status, r.text)
        assert body["ok"] is False and body["error"] and body["code"], (status, body)
        assert next(iter(body)) == "ok", body  # Magec's field first


async def test_every_allowed_agent_answers_joined_as_magec(apps: Apps, llm: FakeServer) -> None:
    """Magec's executor sends a webhook's message to each of the client's allowedAgents and joins
    the answers with ``\n---\n``; an agent that fails is left out, all failing is a failure."""
    with FakeServer(OpenAIFake("second")) as other_llm:
        first = await agent(apps, apps.ctx.extras["test_backend"])
        second = await agent(apps, await backend(apps, other_llm.url))
        dead = await agent(apps, await backend(apps, "http://127.0.0.1:9/v1"))
        c = await client(apps, "webhook", [first, dead, second], {"webhook": {"passthrough": True}})
        r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "status?"}, headers=auth(c["token"]))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] is True and body["response"] == "hook says: status?\n---\nsecond says: status?"
        assert body["agents"] == [first, second] and body["agent"] == first
        assert [f["agent"] for f in body["failed"]] == [dead] and body["failed"][0]["code"]
        # each agent had the message once
        assert sum("status?" in str(q.json) for q in other_llm.requests if q.route == "chat") == 1
        # ``agent`` in the body (beyond Magec) still asks that one alone
        r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "you only", "agent": second},
                                 headers=auth(c["token"]))
        assert r.json()["response"] == "second says: you only" and "agents" not in r.json()
        # nobody answering is a failure, with each one's reason
        broken = await client(apps, "webhook", [dead, dead], {"webhook": {"passthrough": True}})
        only_dead = await client(apps, "webhook", [dead, await agent(apps, await backend(apps, "http://127.0.0.1:9/v1"))],
                                 {"webhook": {"passthrough": True}})
        for cl in (broken, only_dead):
            r = await apps.user.post(f"{W}/{cl['id']}", json={"prompt": "x"}, headers=auth(cl["token"]))
            assert r.status_code == 500 and r.json()["ok"] is False, r.text
        assert len(r.json()["failed"]) == 2 and r.json()["agents"] == []


async def test_command_mode_sees_the_body(apps: Apps, llm: FakeServer) -> None:
    cmd = await command(apps, "Triage issue {{body.issue.title}} labelled {{body.labels}}; all: {{body}}")
    cid, token, _ = await _hook(apps, {"commandId": cmd})
    payload = {"issue": {"title": "Crash on start"}, "labels": ["bug"]}
    r = await apps.user.post(f"{W}/{cid}", json=payload, headers=auth(token))
    assert r.status_code == 200, r.text
    sent = llm.requests[-1].json["messages"][-1]["content"]
    text = sent if isinstance(sent, str) else "".join(p.get("text", "") for p in sent)
    assert text == f'Triage issue Crash on start labelled ["bug"]; all: {json.dumps(payload)}'
    plain = await command(apps, "Summarise the event")
    cid2, token2, _ = await _hook(apps, {"commandId": plain})
    r = await apps.user.post(f"{W}/{cid2}", json={"event": "push"}, headers=auth(token2))
    assert r.json()["response"].startswith("hook says: Summarise the event\n\nRequest body:\n{")
    r = await apps.user.post(f"{W}/{cid2}", headers=auth(token2))  # no body: the prompt alone
    assert r.json()["response"] == "hook says: Summarise the event"


async def test_signature(apps: Apps) -> None:
    cid, token, _ = await _hook(apps, {"passthrough": True, "signingSecret": "s3cret-hmac-key"})
    raw = json.dumps({"prompt": "signed hello"}).encode()
    headers = {**auth(token), "Content-Type": "application/json"}
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers=headers)
    assert r.status_code == 401 and "Signature" in r.json()["error"]
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers, "X-Magec-Signature": "sha256=" + "0" * 64})
    assert r.status_code == 401
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers,
                             **signature_headers("another-key", raw)})
    assert r.status_code == 401
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers,
                             **signature_headers("s3cret-hmac-key", raw)})
    assert r.status_code == 200 and r.json()["response"] == "hook says: signed hello"
    # the signature covers the raw bytes: the same JSON re-serialised does not pass
    raw2 = json.dumps({"prompt": "signed hello"}, indent=1).encode()
    r = await apps.user.post(f"{W}/{cid}", content=raw2, headers={**headers,
                             **signature_headers("s3cret-hmac-key", raw)})
    assert r.status_code == 401


async def test_a_captured_signed_call_cannot_be_replayed_later(apps: Apps) -> None:
    """An attacker who captured one signed call (a proxy log, a leaked CI trace) replays it: the
    signature covers the time it was sent, and a call older than 5 minutes is refused. A signature
    of the body alone (which never expired) is refused too."""
    key = "s3cret-hmac-key"
    cid, token, _ = await _hook(apps, {"passthrough": True, "signingSecret": key})
    raw = json.dumps({"prompt": "deploy to production"}).encode()
    headers = {**auth(token), "Content-Type": "application/json"}
    now = time.time()
    captured = signature_headers(key, raw, now=now - 301)
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers, **captured})
    assert r.status_code == 401 and "Timestamp" in r.json()["error"], r.text
    # the stale signature with a fresh timestamp does not pass: the timestamp is signed
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={
        **headers, **captured, "X-Magec-Timestamp": str(int(now))})
    assert r.status_code == 401
    # the body-only form a caller could replay for ever
    import hashlib
    import hmac
    body_only = "sha256=" + hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()
    for extra in ({}, {"X-Magec-Timestamp": str(int(now))}):
        r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers, "X-Magec-Signature": body_only, **extra})
        assert r.status_code == 401, r.text
    # from the future (beyond the window), or no number: refused
    # a minute past the window: the requests above took time, and int() drops up to a second
    for stamp in (str(int(now) + 360), "soon", "1e9", "-5"):
        r = await apps.user.post(f"{W}/{cid}", content=raw, headers={
            **headers, "X-Magec-Timestamp": stamp, "X-Magec-Signature": sign(key, raw, stamp)})
        assert r.status_code == 401, (stamp, r.text)
    # a clock a little off is fine
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers, **signature_headers(key, raw, now=now - 200)})
    assert r.status_code == 200, r.text


async def test_a_signed_call_is_not_replayed_across_a_delete_and_a_restore(apps: Apps) -> None:
    """Deleting a client deletes its conversations (docs/clients.md), not the signatures it
    accepted: a backup restored right after brings back its id, token and signing secret, and a
    call captured before the delete is still a replay (409) for the rest of its window."""
    key = "s3cret-hmac-key"
    cid, token, _ = await _hook(apps, {"passthrough": True, "signingSecret": key})
    # another client: deleting the last one would put the server in open mode
    await client(apps, "webhook", [], {"webhook": {"passthrough": True}})
    archive = (await apps.admin.get("/api/v1/admin/settings/backup")).content
    raw = json.dumps({"prompt": "deploy to production"}).encode()
    headers = {**auth(token), "Content-Type": "application/json", **signature_headers(key, raw)}
    assert (await apps.user.post(f"{W}/{cid}", content=raw, headers=headers)).status_code == 200
    assert (await apps.admin.delete(f"/api/v1/admin/clients/{cid}")).status_code == 204
    r = await apps.admin.post("/api/v1/admin/settings/restore", content=archive,
                              headers={"content-type": "application/gzip"})
    assert r.status_code == 200, r.text
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers=headers)
    assert r.status_code == 409, r.text


async def test_signature_header_with_non_ascii_bytes_is_a_401(apps: Apps) -> None:
    # HTTP header bytes above 0x7f arrive as latin-1 text; comparing such text with the expected
    # signature raised TypeError (a 500) instead of refusing the request
    cid, token, _ = await _hook(apps, {"passthrough": True, "signingSecret": "s3cret-hmac-key"})
    raw = json.dumps({"prompt": "signed hello"}).encode()
    headers = {**auth(token), "Content-Type": "application/json"}
    stamp = str(int(time.time()))
    for value in ("sha256=\xe9".encode("latin-1"), ("sha256=" + "é" * 64).encode()):
        r = await apps.user.post(f"{W}/{cid}", content=raw, headers={**headers, "X-Magec-Signature": value,
                                                                      "X-Magec-Timestamp": stamp})
        assert r.status_code == 401 and "Signature" in r.json()["error"], r.text


async def test_long_run_202_and_signed_callback(apps: Apps, llm: FakeServer, receiver: Receiver) -> None:
    cid, token, aid = await _hook(apps, {"passthrough": True, "allowPrivateCallbacks": True,
                                         "signingSecret": "cb-key-1234"})
    llm.script(Reply(text="the long answer", delay=5))
    before = len(receiver.calls)
    raw = json.dumps({"prompt": "long job", "callbackUrl": receiver.url}).encode()
    started = time.monotonic()
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={
        **auth(token), "Content-Type": "application/json", **signature_headers("cb-key-1234", raw)})
    assert r.status_code == 202, r.text
    # answered before the run finished (the provider alone takes 5 s): no callback yet
    assert time.monotonic() - started < 5 and len(receiver.calls) == before
    run_id = r.json()["runId"]
    calls = await receiver.wait(before + 1)
    headers, body = calls[before]
    payload = json.loads(body)
    assert payload == {"runId": run_id, "clientId": cid, "ok": True, "response": "the long answer",
                       "agent": aid, "sessionId": payload["sessionId"]}
    assert headers["x-magec-signature"] == sign("cb-key-1234", body, headers["x-magec-timestamp"])
    assert abs(time.time() - int(headers["x-magec-timestamp"])) < 60


async def test_a_callback_run_past_its_timeout_is_cancelled_and_the_callback_told(
        apps: Apps, llm: FakeServer, receiver: Receiver) -> None:
    """A run with a callback had no overall deadline: one that never ended kept its caller waiting
    (and its accepted row renewed) for ever. Past ``callbackTimeout`` it is cancelled and the
    callback says so."""
    cid, token, _ = await _hook(apps, {"passthrough": True, "allowPrivateCallbacks": True, "callbackTimeout": 1})
    llm.script(Reply(text="never seen", delay=30))
    before = len(receiver.calls)
    started = time.monotonic()
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": "endless", "callbackUrl": receiver.url}, headers=auth(token))
    assert r.status_code == 202, r.text
    calls = await receiver.wait(before + 1, timeout=15)
    payload = json.loads(calls[before][1])
    assert time.monotonic() - started < 15
    assert payload == {"runId": r.json()["runId"], "clientId": cid, "ok": False, "code": "timeout",
                       "error": "the run took longer than 1 s", "agent": None, "sessionId": payload["sessionId"]}
    # the setting is the client's, checked as the others are
    bad = await apps.admin.put(f"/api/v1/admin/clients/{cid}", json={
        "config": {"webhook": {"passthrough": True, "callbackTimeout": 0}}})
    assert bad.status_code == 400, bad.text


async def test_callback_ssrf_guard(apps: Apps, receiver: Receiver) -> None:
    cid, token, _ = await _hook(apps, {"passthrough": True})
    for url in (receiver.url, "http://localhost:9/x", "http://10.1.2.3/hook", "http://169.254.169.254/latest",
                "http://[::1]:8080/", "ftp://example.com/x", "http://0.0.0.0/",
                # IPv6 forms that carry a private IPv4 address (NAT64, 6to4, IPv4-compatible) and
                # site-local: Python's is_global calls them public
                "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b::a00:1]/", "http://[64:ff9b:1::a00:1]/",
                "http://[2002:a9fe:a9fe::1]/", "http://[::a9fe:a9fe]/", "http://[fec0::1]/",
                # local-use NAT64 (/48../64 layouts put the IPv4 elsewhere) and SIIT's translated form
                "http://[64:ff9b:1:0:a:0:101:101]/", "http://[::ffff:0:a00:1]/",
                "http://[::ffff:169.254.169.254]/"):
        r = await apps.user.post(f"{W}/{cid}", json={"prompt": "x", "callbackUrl": url}, headers=auth(token))
        assert r.status_code == 400, (url, r.text)
        assert r.json()["field"] == "callbackUrl"
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": "x"},
                             headers={**auth(token), "X-Magec-Callback-Url": "http://127.0.0.1:1/"})
    assert r.status_code == 400 and r.json()["field"] == "callbackUrl"


async def test_sync_timeout(apps: Apps, llm: FakeServer) -> None:
    cid, token, _ = await _hook(apps, {"passthrough": True, "syncTimeout": 1})
    llm.script(Reply(text="too late", delay=4))
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": "slow"}, headers=auth(token))
    # Magec's run that times out (its 15-minute agent call) is its executor's 500
    assert r.status_code == 500 and r.json()["code"] == "timeout" and "callbackUrl" in r.json()["error"]


async def test_body_json_has_not_is_a_400_and_runs_nothing(apps: Apps, llm: FakeServer) -> None:
    cid, token, _aid = await _hook(apps, {"passthrough": True})
    headers = {**auth(token), "Content-Type": "application/json"}
    for number, reason in [("1" * 5000, "too many digits"), ("NaN", "NaN is not JSON"), ("Infinity", "Infinity")]:
        r = await apps.user.post(f"{W}/{cid}", content=f'{{"prompt": "x", "n": {number}}}'.encode(), headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "body" and reason in r.json()["error"], r.text
        assert "int_max_str_digits" not in r.text
    assert llm.calls() == []


async def test_the_callback_goes_to_the_address_that_was_checked() -> None:
    """A rebinding DNS server answers a public address to the check and a loopback one after: the
    POST still goes to the checked address, with the URL's host name as Host header and TLS name."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"], ["127.0.0.1"]])
    lookups: list[tuple[str, int]] = []

    async def rebinding(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return next(answers)

    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    ok = await post_callback("https://u:p@hooks.example.com:8443/cb?x=1", {"ok": True}, "", False,
                             resolve=rebinding, transport=httpx.MockTransport(record))
    assert ok and lookups == [("hooks.example.com", 8443)]
    (request,) = seen
    assert (request.url.host, request.url.port, request.url.raw_path) == ("93.184.216.34", 8443, b"/cb?x=1")
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.headers["authorization"].startswith("Basic ")
    assert request.extensions["sni_hostname"] == "hooks.example.com"


async def test_a_refused_callback_does_not_say_where_the_name_points(apps: Apps) -> None:
    cid, token, _ = await _hook(apps, {"passthrough": True})
    r = await apps.user.post(f"{W}/{cid}", json={"prompt": "x", "callbackUrl": "http://localhost:9/x"},
                             headers=auth(token))
    assert r.status_code == 400 and r.json()["field"] == "callbackUrl"
    assert "127.0.0.1" not in r.text and "::1" not in r.text


async def test_a_signed_webhooks_token_works_only_on_its_webhook(apps: Apps, llm: FakeServer) -> None:
    # the signing secret is there so that the token alone cannot run the client's agents: routes
    # that cannot check a body's signature refuse it; an unsigned webhook keeps Magec's behaviour
    cid, token, aid = await _hook(apps, {"passthrough": True, "signingSecret": "s3cret-hmac-key"})
    _, plain_token, plain_aid = await _hook(apps, {"passthrough": True})
    chat = {"model": aid, "messages": [{"role": "user", "content": "hi"}]}
    r = await apps.user.post("/v1/chat/completions", json=chat, headers=auth(token))
    assert r.status_code == 401 and "webhook" in r.text, r.text
    assert len([q for q in llm.requests if "hi" in str(q.json)]) == 0
    r = await apps.user.get("/v1/models", headers=auth(token))
    assert r.status_code == 401
    r = await apps.user.post("/v1/chat/completions", json={**chat, "model": plain_aid}, headers=auth(plain_token))
    assert r.status_code == 200, r.text
    raw = json.dumps({"prompt": "signed hello"}).encode()
    r = await apps.user.post(f"{W}/{cid}", content=raw, headers={
        **auth(token), "Content-Type": "application/json", **signature_headers("s3cret-hmac-key", raw)})
    assert r.status_code == 200 and r.json()["response"] == "hook says: signed hello"


def test_public_addresses_stay_callable() -> None:
    import ipaddress

    for text in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822", "2002:5db8:d822::1"):
        assert is_public(ipaddress.ip_address(text)), text


async def test_a_sync_caller_that_hangs_up_ends_its_run(apps: Apps, llm: FakeServer) -> None:
    """A synchronous webhook's turn ran on for up to ``syncTimeout`` after its caller had gone
    (the run API cancels such a turn; so does the webhook now)."""
    import re

    from magec.server import user_app
    from magec.testing.apps import serving

    cid, token, _ = await _hook(apps, {"passthrough": True})
    llm.script(Reply(text="too late for anyone", delay=30))
    async with serving(user_app(apps.ctx)) as url, httpx.AsyncClient(base_url=url) as user:

        async def in_flight() -> float:
            found = re.search(r"^magec_runs_in_flight (\S+)$", (await user.get("/metrics")).text, re.M)
            assert found
            return float(found.group(1))

        with pytest.raises(httpx.ReadTimeout):
            await user.post(f"{W}/{cid}", json={"prompt": "slow", "sessionId": "gone-1"}, headers=auth(token), timeout=1.5)
        deadline = time.monotonic() + 10  # a client watching the gauge; the answer would take 30 s
        while await in_flight() > 0:
            assert time.monotonic() < deadline, "the run went on after its caller hung up"
            await asyncio.sleep(0.1)


def test_accepted_runs_finish_or_are_told_to_retry_when_the_server_stops(tmp_path: Path, receiver: Receiver) -> None:
    """A 202 is a promise: at shutdown, accepted runs get ``server.shutdownGrace`` to finish while
    the backends are still open; a run still going then is cancelled and its callback says so
    (``unavailable``, send again) — it used to fail as the provider's ``malformed_response``."""
    from magec.testing.server import ServerProcess

    with FakeServer(OpenAIFake("quick")) as quick, FakeServer(OpenAIFake("slow")) as slow:
        quick.script(Reply(text="done in time", delay=1))
        slow.script(Reply(text="never", delay=120))
        with ServerProcess(tmp_path / "d", server_config={"shutdownGrace": 3}) as srv:
            admin = httpx.Client(base_url=srv.admin_url + "/api/v1/admin")
            ids = []
            for fake in (quick, slow):
                b = admin.post("/backends", json={"name": fake.url, "type": "openai", "url": fake.url}).json()
                ids.append(admin.post("/agents", json={"name": f"a-{len(ids)}", "llm": {"backend": b["id"], "model": "m"}}).json()["id"])
            c = admin.post("/clients", json={"name": "hook", "type": "webhook", "allowedAgents": ids, "config": {
                "webhook": {"passthrough": True, "allowPrivateCallbacks": True}}}).json()
            calls_before = len(receiver.calls)
            for aid, sid in zip(ids, ("in-time", "too-slow"), strict=True):
                r = httpx.post(f"{srv.user_url}{W}/{c['id']}", headers=auth(c["token"]), json={
                    "prompt": "go", "agent": aid, "sessionId": sid, "callbackUrl": receiver.url})
                assert r.status_code == 202, r.text
            deadline = time.monotonic() + 30
            while len(slow.calls()) == 0 or len(quick.calls()) == 0:  # both runs reached their provider
                assert time.monotonic() < deadline, "the accepted runs never called their providers"
                time.sleep(0.05)
            assert srv.stop() == 0
        results = {json.loads(body)["sessionId"]: json.loads(body) for _, body in receiver.calls[calls_before:]}
        assert results["in-time"]["ok"] is True and results["in-time"]["response"] == "done in time", results
        late = results["too-slow"]
        assert late["ok"] is False and late["code"] == "unavailable" and "send it again" in late["error"], late


async def test_a_callback_receiver_cannot_make_magec_read_its_answer(apps: Apps) -> None:
    """The callback URL is the webhook caller's: it may answer the POST with a body without end.
    magec needs only its status, but read the whole answer into memory before looking at it."""
    chunk, total = 1024 * 1024, 96 * 1024 * 1024
    sent: list[int] = []

    async def endless(request: Request) -> StreamingResponse:
        await request.body()

        async def body() -> AsyncIterator[bytes]:
            n = 0
            try:
                while n < total and not await request.is_disconnected():  # magec hung up: stop
                    yield b"x" * chunk
                    n += chunk
            finally:
                sent.append(n)

        return StreamingResponse(body(), media_type="application/octet-stream")

    with FakeServer(Starlette(routes=[Route("/hook", endless, methods=["POST"])])) as srv:
        cid, token, _ = await _hook(apps, {"passthrough": True, "allowPrivateCallbacks": True})
        r = await apps.user.post(f"{W}/{cid}", json={"prompt": "x", "callbackUrl": srv.url + "/hook"},
                                 headers=auth(token))
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 30
        while not sent:  # the receiver's answer ended (magec hung up, or it was all read)
            assert time.monotonic() < deadline, "the callback never came"
            await asyncio.sleep(0.05)
    assert sent[0] < 16 * chunk, f"magec read {sent[0] // chunk} MiB of the receiver's answer"


async def test_provider_rate_limit_keeps_magecs_500_and_says_when_to_retry(apps: Apps, llm: FakeServer) -> None:
    """A provider answering 429: Magec's 500 with code ``rate_limit`` (its executor's error), plus
    the ``Retry-After`` an automation backs off by — the provider's own wait, else 1."""
    r = await apps.admin.post("/api/v1/admin/backends", json={"name": "Limited", "type": "openai", "url": llm.url,
                                                               "maxAttempts": 1})
    aid = await agent(apps, r.json()["id"])
    c = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}})
    llm.script(Reply.fail(429, "slow down", headers={"Retry-After": "7"}), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
    assert r.status_code == 500, r.text
    body = r.json()
    assert body["ok"] is False and body["code"] == "rate_limit"
    assert r.headers["retry-after"] == "7"
    llm.script(Reply.fail(429, "slow down"), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
    assert r.status_code == 500 and r.json()["code"] == "rate_limit" and r.headers["retry-after"] == "1"
    # any other failure stays Magec's plain 500
    llm.script(Reply.fail(500, "upstream broke"), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
    assert r.status_code == 500 and "retry-after" not in r.headers


async def test_an_open_breaker_keeps_magecs_500_and_says_when_it_lets_a_call_through(
        tmp_path: Path, llm: FakeServer) -> None:
    """A backend whose breaker opened fails at once (``backend_unavailable``): the automation is told
    when the breaker lets a call through (``Retry-After``), not left to retry into it at once."""
    llm.clear()
    async with running_apps(tmp_path / "data", config={"breaker_failures": 1, "breaker_cooldown": 30.0}) as apps:
        r = await apps.admin.post("/api/v1/admin/backends", json={"name": "Fragile", "type": "openai", "url": llm.url,
                                                                   "maxAttempts": 1})
        aid = await agent(apps, r.json()["id"])
        c = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True}})
        llm.script(Reply.fail(500, "upstream broke"), route="chat")
        r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
        assert r.status_code == 500 and "retry-after" not in r.headers  # the provider's own failure
        r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
        assert r.status_code == 500 and r.json()["code"] == "backend_unavailable", r.text
        assert 1 <= int(r.headers["retry-after"]) <= 30
        assert len(llm.requests_to("chat")) == 1


async def test_a_callback_says_how_long_the_provider_asked_to_wait(apps: Apps, llm: FakeServer,
                                                                    receiver: Receiver) -> None:
    """A 202's run that failed on the provider's 429: the callback carries its wait as the
    synchronous answer does (``retryAfter`` in the body, the seconds of its ``Retry-After``), so the
    caller's automation backs off before sending it again; a failure with no wait carries none."""
    r = await apps.admin.post("/api/v1/admin/backends", json={"name": "Limited", "type": "openai", "url": llm.url,
                                                               "maxAttempts": 1})
    aid = await agent(apps, r.json()["id"])
    c = await client(apps, "webhook", [aid], {"webhook": {"passthrough": True, "allowPrivateCallbacks": True}})
    llm.script(Reply.fail(429, "slow down", headers={"Retry-After": "7"}), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report"}, headers=auth(c["token"]))
    assert r.status_code == 500 and r.headers["retry-after"] == "7", r.text
    sync = r.json()
    assert sync["code"] == "rate_limit" and sync["retryAfter"] == 7, sync
    before = len(receiver.calls)
    llm.script(Reply.fail(429, "slow down", headers={"Retry-After": "7"}), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report", "callbackUrl": receiver.url},
                             headers=auth(c["token"]))
    assert r.status_code == 202, r.text
    payload = json.loads((await receiver.wait(before + 1))[before][1])
    assert payload["ok"] is False and payload["code"] == "rate_limit" and payload["retryAfter"] == 7, payload
    assert {k for k in sync if k != "sessionId"} <= set(payload), (sync, payload)
    llm.script(Reply.fail(400, "bad request"), route="chat")
    r = await apps.user.post(f"{W}/{c['id']}", json={"prompt": "report", "callbackUrl": receiver.url},
                             headers=auth(c["token"]))
    assert r.status_code == 202, r.text
    payload = json.loads((await receiver.wait(before + 2))[before + 1][1])
    assert payload["ok"] is False and "retryAfter" not in payload, payload
