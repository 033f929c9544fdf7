"""Fault suite: provider faults through every vendor and every chat route, as a client sees them.

Each fault is injected by the loopback fakes (keyed on the user's text, so all twelve
vendor × route combinations of a case run at once) into agents whose backends have small
deadlines: read 1 s, connect 1 s, total 4 s, 3 attempts. Every combination must end, within its
deadline, with exactly one typed error (``/run``, ``/run_sse``: one error event; ``/v1``: an HTTP
error, or a stream ending in one error chunk and no normal finish) or with the answer after a
retry — and the fake counts the attempts. A healthy agent answers meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import pytest

from magec.server import user_app
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import AnthropicFake, FakeServer, GeminiFake, OpenAIFake, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"
VENDORS = ("openai", "anthropic", "gemini")
ROUTES = ("run", "run_sse", "v1", "v1_stream")
STREAMED = {"run_sse", "v1_stream"}
READ, TOTAL, ATTEMPTS = 1.0, 8.0, 3  # TOTAL leaves room for a retry on a loaded machine
SLACK = 6.0  # turn set-up and scheduling on a loaded 2-core machine (a full body at this drip takes minutes)
MAX_ANSWER = 64 * 1024  # the flaky backends' maxResponseBytes


class Plan:
    """Replies by user text: each request whose last user text is a key takes the next reply."""

    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()

    def __call__(self, provider: Any) -> Any:
        def responder(req: Any) -> Reply | None:
            text = provider.last_user_text(req)
            with self.lock:
                queue = self.replies.get(text)
                return queue.pop(0) if queue else None

        return responder


@dataclass
class Fakes:
    servers: dict[str, FakeServer]
    plans: dict[str, Plan]

    def attempts(self, vendor: str, text: str) -> int:
        provider = self.servers[vendor].provider
        assert provider is not None
        return sum(1 for r in provider.requests_to("chat") if provider.last_user_text(r) == text)


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    kinds = {"openai": OpenAIFake, "anthropic": AnthropicFake, "gemini": GeminiFake}
    plans = {v: Plan() for v in VENDORS}
    servers: dict[str, FakeServer] = {}
    for vendor, kind in kinds.items():
        provider = kind(f"{vendor}-fake")
        provider.responder = plans[vendor](provider)
        servers[vendor] = FakeServer(provider)
    try:
        yield Fakes(servers, plans)
    finally:
        for srv in servers.values():
            srv.stop()


@dataclass
class Env:
    apps: Apps
    fakes: Fakes
    agents: dict[str, str]
    healthy: str
    sdk: openai.AsyncOpenAI


@pytest.fixture
async def env(tmp_path: Any, fakes: Fakes) -> AsyncIterator[Env]:
    async with running_apps(tmp_path / "data") as apps:
        agents: dict[str, str] = {}
        for vendor in VENDORS:
            backend = {
                "name": f"{vendor} flaky",
                "type": vendor,
                "url": fakes.servers[vendor].url,
                "apiKey": "k-123",
                "timeout": READ,
                "connectTimeout": 1.0,
                "totalTimeout": TOTAL,
                "maxAttempts": ATTEMPTS,
                "maxResponseBytes": MAX_ANSWER,
            }
            b = (await apps.admin.post(f"{A}/backends", json=backend)).json()
            a = await apps.admin.post(
                f"{A}/agents", json={"name": f"{vendor} agent", "llm": {"backend": b["id"], "model": "m-1"}}
            )
            agents[vendor] = a.json()["id"]
        steady = OpenAIFake("steady")
        with FakeServer(steady) as ok:
            b = (await apps.admin.post(f"{A}/backends", json={"name": "steady", "type": "openai", "url": ok.url})).json()
            a = await apps.admin.post(f"{A}/agents", json={"name": "steady", "llm": {"backend": b["id"], "model": "m"}})
            transport = httpx2.ASGITransport(app=user_app(apps.ctx))
            sdk = openai.AsyncOpenAI(
                base_url="http://user/v1",
                api_key="none",
                max_retries=0,
                http_client=httpx2.AsyncClient(transport=transport, timeout=30),
            )
            yield Env(apps, fakes, agents, a.json()["id"], sdk)
            await sdk.close()


@dataclass
class Outcome:
    """What a client saw: the answer text, or the one error (code, retry delay, HTTP status)."""

    text: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    retry_after: str | None = None
    streamed_text: str = ""
    normal_finish: bool = False
    elapsed: float = 0.0

    @property
    def code(self) -> str | None:
        assert len(self.errors) <= 1, f"more than one error: {self.errors}"
        return self.errors[0].get("code") if self.errors else None


def _run_events(events: list[dict[str, Any]], out: Outcome) -> None:
    for e in events:
        if e.get("errorCode"):
            out.errors.append({"code": e["errorCode"], "retryAfter": e.get("retryAfter"), "event": e})
        for part in (e.get("content") or {}).get("parts", []):
            if "text" in part:
                if e.get("partial"):
                    out.streamed_text += part["text"]
                else:
                    out.text += part["text"]
    if out.errors:
        assert events[-1].get("errorCode"), "the error event ends the turn"


async def call(env: Env, vendor: str, route: str, text: str) -> Outcome:
    """One turn of ``vendor``'s agent on ``route`` with user text ``text``, as a client."""
    user = env.apps.user
    aid = env.agents[vendor]
    out = Outcome()
    start = time.monotonic()
    body: dict[str, Any] = {"appName": aid, "userId": "u", "newMessage": {"parts": [{"text": text}]}}
    chat = {"model": aid, "messages": [{"role": "user", "content": text}]}
    if route == "run":
        r = await user.post(f"{U}/run", json=body)
        assert r.status_code == 200, r.text
        _run_events(r.json(), out)
    elif route == "run_sse":
        events = []
        async with user.stream("POST", f"{U}/run_sse", json={**body, "streaming": True}) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        _run_events(events, out)
    elif route == "v1":
        r = await user.post("/v1/chat/completions", json=chat)
        out.status = r.status_code
        out.retry_after = r.headers.get("retry-after")
        if r.status_code == 200:
            out.text = r.json()["choices"][0]["message"]["content"]
            out.normal_finish = r.json()["choices"][0]["finish_reason"] == "stop"
        else:
            err = r.json()["error"]  # OpenAI's error object
            out.errors.append({"code": err["code"], "message": err.get("message")})
    else:
        done = False
        async with user.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as r:
            out.status = r.status_code
            if r.status_code != 200:  # failed before any output: an HTTP error, as OpenAI answers
                out.retry_after = r.headers.get("retry-after")
                err = json.loads(await r.aread())["error"]
                out.errors.append({"code": err["code"], "message": err.get("message")})
                out.elapsed = time.monotonic() - start
                return out
            async for line in r.aiter_lines():
                if not line.startswith("data: "):
                    continue
                assert not done, "nothing after [DONE]"
                if line == "data: [DONE]":
                    done = True
                    continue
                data = json.loads(line[6:])
                assert not out.errors, "nothing after the error chunk"
                if "error" in data:
                    out.errors.append({"code": data["error"]["code"], "retryAfter": data["error"].get("retry_after"),
                                       "message": data["error"].get("message")})
                    continue
                for choice in data.get("choices", []):
                    out.streamed_text += choice["delta"].get("content") or ""
                    out.normal_finish = out.normal_finish or choice["finish_reason"] == "stop"
        out.text = out.streamed_text
        assert done != bool(out.errors), "[DONE] ends a good stream only"
    out.elapsed = time.monotonic() - start
    if out.errors:
        assert not out.normal_finish, "a failed turn never finishes normally"
    return out


async def everywhere(env: Env, case: str, replies: list[Reply]) -> dict[tuple[str, str], tuple[Outcome, int]]:
    """Run ``replies`` (per attempt) on every vendor × route at once, plus a healthy agent's turn;
    the outcome and attempt count of each combination."""
    keys = {(v, r): f"{case} via {r} on {v}" for v in VENDORS for r in ROUTES}
    for (vendor, _), text in keys.items():
        env.fakes.plans[vendor].replies[text] = [Reply(**vars(reply)) for reply in replies]

    async def healthy() -> float:
        start = time.monotonic()
        r = await env.apps.user.post(
            f"{U}/run", json={"appName": env.healthy, "userId": "h", "newMessage": {"parts": [{"text": "fine?"}]}}
        )
        assert "steady says: fine?" in r.text
        return time.monotonic() - start

    results = await asyncio.gather(*(call(env, v, r, t) for (v, r), t in keys.items()), healthy())
    # (well under the faulty calls' own deadline, TOTAL = 8 s, with room for scheduling on a loaded 2-core machine)
    assert results[-1] < 3.9, "an agent on another backend answers at once"
    return {k: (out, env.fakes.attempts(k[0], keys[k])) for k, out in zip(keys, results[:-1], strict=True)}


def assert_answered(outcomes: dict[tuple[str, str], tuple[Outcome, int]], attempts: int) -> None:
    for (vendor, route), (out, n) in outcomes.items():
        where = f"{vendor} via {route}"
        assert out.code is None, f"{where}: {out.errors}"
        assert f"{vendor}-fake says:" in out.text, f"{where}: {out.text!r}"
        assert n == attempts, f"{where}: {n} attempts"
        if route.startswith("v1"):
            assert out.normal_finish


def assert_failed(
    outcomes: dict[tuple[str, str], tuple[Outcome, int]],
    code: str,
    attempts: int | tuple[int, ...],
    *,
    within: float,
    status: int = 502,
) -> None:
    allowed = attempts if isinstance(attempts, tuple) else (attempts,)
    for (vendor, route), (out, n) in outcomes.items():
        where = f"{vendor} via {route}"
        assert out.code == code, f"{where}: {out.errors or out.text!r}"
        assert n in allowed, f"{where}: {n} attempts"
        assert out.elapsed < within + SLACK, f"{where}: took {out.elapsed:.1f} s"
        if route == "v1" or (route == "v1_stream" and out.status != 200):
            assert out.status == status, where


async def test_server_error_once_then_answer(env: Env) -> None:
    outcomes = await everywhere(env, "500 once", [Reply.fail(500, "boom")])
    assert_answered(outcomes, attempts=2)


async def test_rate_limited_once_waits_retry_after(env: Env) -> None:
    outcomes = await everywhere(env, "429 once", [Reply.fail(429, "slow down", headers={"Retry-After": "1"})])
    assert_answered(outcomes, attempts=2)
    assert all(out.elapsed >= 0.9 for out, _ in outcomes.values()), "Retry-After was honoured"


async def test_rate_limit_that_outlives_retries_is_passed_on(env: Env) -> None:
    persistent = [Reply.fail(429, "slow down", headers={"Retry-After": "1"})] * ATTEMPTS
    outcomes = await everywhere(env, "429 always", persistent)
    assert_failed(outcomes, "rate_limit", ATTEMPTS, within=ATTEMPTS - 1, status=429)
    for (_, route), (out, _) in outcomes.items():
        if route.startswith("v1"):  # a stream that failed before any output is an HTTP 429 too
            assert out.status == 429 and out.retry_after == "1"
        else:
            assert out.errors[0]["retryAfter"] == 1


async def test_long_retry_after_is_not_waited_for(env: Env) -> None:
    outcomes = await everywhere(env, "429 for an hour", [Reply.fail(429, "quota", headers={"Retry-After": "3600"})])
    assert_failed(outcomes, "rate_limit", 1, within=0.5, status=429)
    for (_, route), (out, _) in outcomes.items():
        assert (out.retry_after if route.startswith("v1") else out.errors[0]["retryAfter"]) in ("3600", 3600)


@pytest.mark.parametrize(
    ("status", "code"), [(401, "auth"), (400, "bad_request"), (404, "model_not_found"), (508, "http_error")]
)
async def test_caller_and_permanent_errors_are_not_retried(env: Env, status: int, code: str) -> None:
    outcomes = await everywhere(env, f"{status}", [Reply.fail(status, "no")])
    assert_failed(outcomes, code, 1, within=0.5)


async def test_html_502_retried_then_reported(env: Env) -> None:
    page = Reply(status=502, body="<html><body><h1>502 Bad Gateway</h1></body></html>")
    outcomes = await everywhere(env, "html 502", [page] * ATTEMPTS)
    assert_failed(outcomes, "http_error", ATTEMPTS, within=2.0)
    for where, (out, _) in outcomes.items():  # the page's heading, never the raw markup
        text = str(out.errors[0].get("message") or out.errors[0].get("event", {}).get("errorMessage"))
        assert "502 Bad Gateway" in text and "<h1>" not in text, (where, text)


async def test_hang_before_headers_once_then_answer(env: Env) -> None:
    outcomes = await everywhere(env, "hang before headers once", [Reply(delay=10)])
    assert_answered(outcomes, attempts=2)
    assert all(out.elapsed >= READ * 0.9 for out, _ in outcomes.values())


async def test_hang_after_headers_once_then_answer(env: Env) -> None:
    outcomes = await everywhere(env, "hang after headers once", [Reply(hang_after=0)])
    assert_answered(outcomes, attempts=2)


async def test_provider_that_never_answers_times_out_within_the_total(env: Env) -> None:
    outcomes = await everywhere(env, "hang always", [Reply(delay=10)] * ATTEMPTS)
    assert_failed(outcomes, "timeout", (2, 3), within=TOTAL, status=504)


async def test_slow_drip_is_cut_at_the_total_deadline(env: Env) -> None:
    outcomes = await everywhere(env, "drip", [Reply(text="a b c d e f g h i j k", drip=0.2)])
    assert_failed(outcomes, "timeout", 1, within=TOTAL, status=504)
    assert all(out.elapsed >= TOTAL * 0.9 for out, _ in outcomes.values())


async def test_no_retry_after_streamed_output(env: Env) -> None:
    """A stream that stalls or is cut after text was streamed fails once, with no second call;
    the non-streamed routes get a truncated body, which is not retried either."""
    text = "one two three four five six seven eight"
    stalled = await everywhere(env, "stall mid-stream", [Reply(text=text, hang_after=3)])
    for (vendor, route), (out, n) in stalled.items():
        assert n == (1 if route in STREAMED else 2), f"{vendor} via {route}: {n}"
        if route in STREAMED:
            assert out.code == "timeout" and out.streamed_text, (vendor, route, out)
        else:  # a non-streamed body that stops after its headers is a timeout before output
            assert out.code is None and out.text
    cut = await everywhere(env, "cut mid-stream", [Reply(text=text, cut_after=3)])
    for (vendor, route), (out, n) in cut.items():
        assert n == 1, f"{vendor} via {route}: {n}"
        assert out.code == "malformed_response", (vendor, route, out)
        if route in STREAMED:
            assert out.streamed_text


async def test_malformed_answer_is_one_error(env: Env) -> None:
    outcomes = await everywhere(env, "malformed", [Reply(text="one two three", malformed=True)])
    assert_failed(outcomes, "malformed_response", 1, within=0.5)


async def test_oversized_answer_is_one_error_not_retried(env: Env) -> None:
    """An answer over the backend's maxResponseBytes is refused while it is read (non-streamed: from
    its Content-Length, before the body; streamed: once the bytes pass the cap): one
    malformed_response, no retry (the same call would get the same answer)."""
    block = "x" * 8192
    outcomes = await everywhere(env, "oversized", [Reply(text=block * 9, chunks=[block] * 9)])  # 72 KB
    assert_failed(outcomes, "malformed_response", 1, within=3.0)
    for (vendor, route), (out, _) in outcomes.items():
        assert "maxResponseBytes" in str(out.errors[0]), (vendor, route, out.errors)


async def test_openai_sdk_raises_on_a_failed_stream(env: Env) -> None:
    """The official SDK against magec's /v1: a failed stream raises (no normal finish is seen);
    a 429 that outlived the retries raises RateLimitError carrying Retry-After."""
    aid = env.agents["openai"]
    env.fakes.plans["openai"].replies["sdk stream"] = [Reply(text="one two three four", hang_after=2)]
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        stream = await env.sdk.chat.completions.create(
            model=aid, messages=[{"role": "user", "content": "sdk stream"}], stream=True
        )
        async for chunk in stream:
            seen.append(chunk)
    assert "read deadline" in str(info.value.message)
    assert all(c.choices[0].finish_reason is None for c in seen if c.choices)
    env.fakes.plans["openai"].replies["sdk 429"] = [Reply.fail(429, "quota", headers={"Retry-After": "120"})]
    with pytest.raises(openai.RateLimitError) as limited:
        await env.sdk.chat.completions.create(model=aid, messages=[{"role": "user", "content": "sdk 429"}])
    assert limited.value.response.headers["retry-after"] == "120"
