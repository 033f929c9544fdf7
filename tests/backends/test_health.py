"""Live backend health and the per-backend circuit breaker, seen by clients through HTTP only.

Loopback fake providers; tiny intervals. Polling is used only to wait for the background health
interval (the product's documented behaviour); the breaker's cool-down is waited for the way a
client would, by sleeping until the ``retryAt`` the API reports.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"
INTERVAL = 0.2


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    config = {"health_interval": INTERVAL, "breaker_failures": 3, "breaker_cooldown": 0.6}
    async with running_apps(tmp_path / "data", config=config) as a:
        yield a


async def backend_and_agent(apps: Apps, server: FakeServer, name: str) -> tuple[str, str]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": f"{name}-backend", "type": "openai",
                                                       "url": server.url, "timeout": 3})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": name, "llm": {"backend": b["id"], "model": "m-1"}})).json()
    return b["id"], a["id"]


async def wait_health(apps: Apps, backend_id: str, status: str, rounds: int = 40) -> dict[str, Any]:
    """Poll the backend view until its live health is ``status`` (bounded: ``rounds`` intervals)."""
    view: dict[str, Any] = {}
    for _ in range(rounds):
        view = (await apps.admin.get(f"{A}/backends/{backend_id}")).json()
        if view["health"]["status"] == status:
            return view
        await asyncio.sleep(INTERVAL / 2)
    raise AssertionError(f"backend never became {status}: {view.get('health')}")


async def run(apps: Apps, agent_id: str, text: str = "hi") -> list[dict[str, Any]]:
    body = {"appName": agent_id, "userId": "u", "sessionId": f"s-{text}", "newMessage": {"parts": [{"text": text}]}}
    r = await apps.user.post(f"{U}/run", json=body)
    if r.status_code == 503 and r.json()["code"] == "backend_unavailable":  # an open breaker: come back later
        assert int(r.headers["retry-after"]) >= 1, r.headers
        return [{"errorCode": r.json()["code"], "errorMessage": r.json()["error"]}]
    assert r.status_code == 200, r.text
    return r.json()


def metric(text: str, name: str, backend: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{backend="{backend}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {backend} not in /metrics")


async def test_down_backend_shown_within_one_interval(apps: Apps) -> None:
    down_srv = FakeServer(OpenAIFake("doomed"))
    with FakeServer(OpenAIFake("steady")) as steady:
        try:
            doomed_id, doomed_agent = await backend_and_agent(apps, down_srv, "Doomed")
            steady_id, steady_agent = await backend_and_agent(apps, steady, "Steady")
            up = await wait_health(apps, doomed_id, "up")
            assert up["health"]["since"] and up["health"]["latencyMs"] is not None
            assert up["breaker"]["state"] == "closed"
            await wait_health(apps, steady_id, "up")
        finally:
            down_srv.stop()
        started = time.monotonic()
        down = await wait_health(apps, doomed_id, "down")
        assert time.monotonic() - started < 10 * INTERVAL + 3  # one interval plus the check itself
        assert down["health"]["lastError"] and "Doomed-backend" in down["health"]["lastError"]
        assert down["health"]["since"] >= up["health"]["since"] and down["health"]["checkedAt"]
        # its agent says why; the other backend and its agent are unaffected
        agent = (await apps.admin.get(f"{A}/agents/{doomed_agent}")).json()
        assert agent["health"]["status"] == "backend_unreachable"
        assert "Doomed-backend" in agent["health"]["reason"] and "unreachable" in agent["health"]["reason"]
        # the moment is written for people ("since 2026-12-04 21:10:10 UTC"), not as raw ISO with µs
        assert re.search(r"unreachable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: ", agent["health"]["reason"]), agent
        other = (await apps.admin.get(f"{A}/agents/{steady_agent}")).json()
        assert other["health"] == {"status": "ok", "reason": None}
        assert (await apps.admin.get(f"{A}/backends/{steady_id}")).json()["health"]["status"] == "up"
        assert "steady says: still here" in str(await run(apps, steady_agent, "still here"))
        # the health check tripped the breaker: the doomed agent answers at once with the reason
        started = time.monotonic()
        err = (await run(apps, doomed_agent, "anyone?"))[-1]
        assert err["errorCode"] == "backend_unavailable" and "Doomed-backend is down since" in err["errorMessage"]
        assert re.search(r"down since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(circuit open, next try at "
                         r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", err["errorMessage"]), err
        assert time.monotonic() - started < 2
        # the overview and /metrics reflect it
        overview = (await apps.admin.get(f"{A}/overview")).json()
        backends = {b["id"]: b for b in overview["backends"]}
        assert backends[doomed_id]["status"] == "down" and backends[doomed_id]["lastError"]
        assert backends[steady_id]["status"] == "up"
        agents = {a["id"]: a for a in overview["agents"]}
        assert agents[doomed_agent]["health"]["status"] == "backend_unreachable"
        assert agents[steady_agent]["health"]["status"] == "ok"
        text = (await apps.admin.get("/metrics")).text
        assert metric(text, "magec_backend_up", doomed_id) == 0
        assert metric(text, "magec_backend_up", steady_id) == 1


async def test_breaker_opens_fails_fast_half_opens_and_closes(apps: Apps) -> None:
    broken = {"chat": True}

    def responder(req: Any) -> Reply | None:
        return Reply.fail(500, "upstream exploded") if broken["chat"] and req.route == "chat" else None

    with FakeServer(OpenAIFake("flaky", responder=responder)) as flaky, FakeServer(OpenAIFake("calm")) as calm:
        flaky_id, flaky_agent = await backend_and_agent(apps, flaky, "Flaky")
        calm_id, calm_agent = await backend_and_agent(apps, calm, "Calm")
        for i in range(3):  # breakerFailures = 3 consecutive backend faults
            events = await run(apps, flaky_agent, f"try {i}")
            assert events[-1]["errorCode"] != "backend_unavailable", events[-1]
        sent = len(flaky.provider.requests_to("chat"))  # type: ignore[union-attr]
        view = (await apps.admin.get(f"{A}/backends/{flaky_id}")).json()
        breaker = view["breaker"]
        assert breaker["state"] == "open" and breaker["failures"] == 3
        assert breaker["openedAt"] and breaker["retryAt"] and "upstream exploded" in breaker["lastError"]
        # open: the next runs fail at once with the reason, and the provider sees nothing
        for i in range(2):
            started = time.monotonic()
            events = await run(apps, flaky_agent, f"fast {i}")
            assert time.monotonic() - started < 2
            err = events[-1]
            assert err["errorCode"] == "backend_unavailable", err
            assert "Flaky-backend is down since" in err["errorMessage"]
        assert len(flaky.provider.requests_to("chat")) == sent  # type: ignore[union-attr]
        # other backends are unaffected
        assert (await apps.admin.get(f"{A}/backends/{calm_id}")).json()["breaker"]["state"] == "closed"
        assert "calm says: fine" in str(await run(apps, calm_agent, "fine"))
        # live health sees the traffic: listing works, real calls fail -> degraded
        degraded = await wait_health(apps, flaky_id, "degraded")
        assert "upstream exploded" in degraded["health"]["lastError"]
        agent = (await apps.admin.get(f"{A}/agents/{flaky_agent}")).json()
        assert agent["health"]["status"] == "degraded"
        text = (await apps.admin.get("/metrics")).text
        assert metric(text, "magec_backend_breaker_open", flaky_id) == 1
        assert metric(text, "magec_backend_breaker_open", calm_id) == 0

        # after the cool-down one probe goes through; it still fails -> open again
        await sleep_until(breaker["retryAt"])
        events = await run(apps, flaky_agent, "probe 1")
        assert events[-1]["errorCode"] != "backend_unavailable"
        per_run = sent // 3  # the LLM layer may retry a 5xx inside one call; the breaker counts calls
        assert len(flaky.provider.requests_to("chat")) == sent + per_run  # type: ignore[union-attr]
        again = (await apps.admin.get(f"{A}/backends/{flaky_id}")).json()["breaker"]
        assert again["state"] == "open" and again["retryAt"] > breaker["retryAt"]
        assert again["openedAt"] == breaker["openedAt"]  # down since the first opening
        assert (await run(apps, flaky_agent, "still open"))[-1]["errorCode"] == "backend_unavailable"

        # the provider recovers: the next probe succeeds and closes the breaker
        broken["chat"] = False
        await sleep_until(again["retryAt"])
        assert "flaky says: back" in str(await run(apps, flaky_agent, "back"))
        closed = (await apps.admin.get(f"{A}/backends/{flaky_id}")).json()["breaker"]
        assert closed == {"state": "closed", "failures": 0, "openedAt": None, "retryAt": None,
                          "lastError": closed["lastError"]}
        assert "flaky says: again" in str(await run(apps, flaky_agent, "again"))
        await wait_health(apps, flaky_id, "up")


async def sleep_until(iso: str) -> None:
    await asyncio.sleep(max(0.0, datetime.fromisoformat(iso).timestamp() - time.time()) + 0.05)


async def test_caller_errors_do_not_open_the_breaker(apps: Apps) -> None:
    with FakeServer(OpenAIFake("strict", api_key="sk-right-key-1")) as strict:
        backend_id, agent_id = await backend_and_agent(apps, strict, "Strict")  # no key: every call 401
        for i in range(4):
            assert (await run(apps, agent_id, f"x{i}"))[-1]["errorCode"] == "auth"
        view = (await apps.admin.get(f"{A}/backends/{backend_id}")).json()
        assert view["breaker"]["state"] == "closed" and view["breaker"]["failures"] == 0


def test_config_keys_and_environment(tmp_path: Path) -> None:
    from magec.config import load_config

    path = tmp_path / "config.yaml"
    path.write_text("server: {healthInterval: 0.5, breakerFailures: 2, breakerCooldown: 4}\n")
    cfg = load_config(path, env={})
    assert (cfg.health_interval, cfg.breaker_failures, cfg.breaker_cooldown) == (0.5, 2, 4.0)
    cfg = load_config(None, env={"MAGEC_HEALTH_INTERVAL": "7", "MAGEC_BREAKER_FAILURES": "9",
                                 "MAGEC_BREAKER_COOLDOWN": "1.5"})
    assert (cfg.health_interval, cfg.breaker_failures, cfg.breaker_cooldown) == (7.0, 9, 1.5)
    assert load_config(None, env={}).health_interval == 30.0


async def test_agent_on_fallback_says_so_and_answers_at_once(apps: Apps) -> None:
    """Primary down (seen by the health check): the agent's status is 'fallback' with the reason, and
    it answers from its fallback at once (the tripped breaker skips the primary without a call)."""
    down_srv = FakeServer(OpenAIFake("primary"))
    with FakeServer(OpenAIFake("spare")) as spare:
        try:
            primary_id, _ = await backend_and_agent(apps, down_srv, "Primary")
            spare_id, _ = await backend_and_agent(apps, spare, "Spare")
            r = await apps.admin.post(f"{A}/agents", json={
                "name": "Chained", "llm": {"backend": primary_id, "model": "m-1",
                                           "fallbacks": [{"backend": spare_id, "model": "m-2"}]}})
            chained = r.json()["id"]
            r = await apps.admin.post(f"{A}/agents", json={  # two roles: the spare's LLM, the primary's voice
                "name": "Voiced", "llm": {"backend": spare_id, "model": "m-1"},
                "tts": {"backend": primary_id, "model": "tts-1"}})
            voiced = r.json()["id"]
            await wait_health(apps, primary_id, "up")
            await wait_health(apps, spare_id, "up")
            assert (await apps.admin.get(f"{A}/agents/{chained}")).json()["health"]["status"] == "ok"
        finally:
            down_srv.stop()
        await wait_health(apps, primary_id, "down")
        health = (await apps.admin.get(f"{A}/agents/{chained}")).json()["health"]
        assert health["status"] == "fallback", health
        assert "Primary-backend unreachable" in health["reason"] and "running on fallback Spare-backend" in health["reason"]
        voiced_health = (await apps.admin.get(f"{A}/agents/{voiced}")).json()["health"]
        assert voiced_health["status"] == "backend_unreachable"
        assert set(voiced_health) == {"status", "reason"}, voiced_health  # no internal "known" flag
        started = time.monotonic()
        events = await run(apps, chained, "who answers")
        assert time.monotonic() - started < 2
        assert "spare says: who answers" in str(events), events
        overview = (await apps.admin.get(f"{A}/overview")).json()
        assert {a["id"]: a for a in overview["agents"]}[chained]["health"]["status"] == "fallback"
