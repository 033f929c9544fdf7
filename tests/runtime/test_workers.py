"""``magec serve --workers 2`` on SQLite, driven like a client: many fresh connections, so both
worker processes answer (each response names its worker in ``X-Magec-Worker``), and nothing waits
for propagation — a write answered by one worker must be live for the very next request on the
other. Also: a session continued across workers, one ``/metrics`` for all workers, a killed worker
replaced, SIGTERM stopping everything with in-flight requests finished."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.clients.telegram import webhook_secret
from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess, holds_port

A = "/api/v1/admin"
U = "/api/v1/agent"
WORKER = "x-magec-worker"


def fresh(method: str, url: str, **kw: object) -> httpx.Response:
    """One request on a new connection (a new source port: the kernel may pick either worker)."""
    with httpx.Client(timeout=60) as c:
        return c.request(method, url, **kw)  # type: ignore[arg-type]


def wait_both_serving(srv: ServerProcess, deadline: float = 120.0) -> None:
    """Start-up only: until each worker has answered once on each port (they boot one by one)."""
    seen: dict[str, set[str]] = {srv.user_url: set(), srv.admin_url: set()}
    end = time.monotonic() + deadline
    while any(len(s) < 2 for s in seen.values()):
        assert time.monotonic() < end, f"workers answering: {seen}"
        for base, workers in seen.items():
            try:
                workers.add(fresh("GET", f"{base}/api/v1/health").headers[WORKER])
            except httpx.HTTPError:
                pass


def alive(pid: int) -> bool:
    """A running (not exited, not a zombie) process, from /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> set[int]:
    return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def worker_pids(srv: ServerProcess) -> dict[str, int]:
    text = fresh("GET", f"{srv.user_url}/metrics").text
    return {w: int(float(p)) for w, p in re.findall(r'magec_worker_pid\{worker="(\d+)"\} (\S+)', text)}


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("workers"), extra_args=["--workers", "2"]).start(timeout=300)
    try:
        wait_both_serving(srv)
        yield srv
    finally:
        srv.stop()


def run(srv: ServerProcess, app: str, text: str, session: str) -> httpx.Response:
    return fresh("POST", f"{srv.user_url}{U}/run", json={
        "appName": app, "userId": "u", "sessionId": session, "newMessage": {"parts": [{"text": text}]}})


def text_of(r: httpx.Response) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()[-1]["content"]["parts"][0]["text"])


def test_a_write_on_one_worker_is_live_on_the_next_request_on_any_worker(
    workers: ServerProcess, openai_x: FakeServer, openai_y: FakeServer
) -> None:
    srv = workers
    bx = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                             "apiKey": "sk-x-key-1234"}).json()
    by = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "Y", "type": "openai", "url": openai_y.url}).json()
    created = fresh("POST", f"{srv.admin_url}{A}/agents", json={"name": "A", "llm": {"backend": bx["id"], "model": "m"}})
    agent = created.json()
    pairs: set[tuple[str, str]] = set()
    i = 0
    # until a write answered by each worker was read on the other one (each pair has a 1/4 chance
    # per round; 80 rounds make missing one a 1e-10 event)
    while not {("0", "1"), ("1", "0")} <= pairs:
        assert i < 80, pairs
        target, name = (by, "openai-y") if i % 2 == 0 else (bx, "openai-x")
        w = fresh("PUT", f"{srv.admin_url}{A}/agents/{agent['id']}",
                  json={**agent, "llm": {"backend": target["id"], "model": "m"}})
        assert w.status_code == 200, w.text
        r = run(srv, agent["id"], f"t{i}", f"s{i}")
        assert text_of(r) == f"{name} says: t{i}", (w.headers[WORKER], r.headers[WORKER])
        pairs.add((w.headers[WORKER], r.headers[WORKER]))
        i += 1
    # a new agent created on one worker is listed by the very next request, whichever answers
    for n in range(6):
        new = fresh("POST", f"{srv.admin_url}{A}/agents",
                    json={"name": f"N{n}", "llm": {"backend": by["id"], "model": "m"}}).json()
        listed = fresh("GET", f"{srv.user_url}{U}/list-apps?detailed=true")
        assert new["id"] in [a["id"] for a in listed.json()], listed.headers[WORKER]


def test_a_telegram_client_edited_on_one_worker_is_what_the_others_hook_route_sees(workers: ServerProcess) -> None:
    """Telegram's webhook call may reach either worker right after an edit answered by the other:
    the hook route decides from the configuration that edit left (it read a stale one: a bot just
    enabled had its updates refused, one just disabled still took them)."""
    srv = workers
    with TelegramFake() as tg:
        t = fresh("POST", f"{srv.admin_url}{A}/clients", json={
            "name": "tg-hooks", "type": "telegram",
            "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}}).json()
        secret = {"X-Telegram-Bot-Api-Secret-Token": webhook_secret(tg.token, t["id"])}
        try:
            pairs: set[tuple[str, str]] = set()
            i = 0
            # until an edit answered by each worker met a call on the other (as above: 80 rounds)
            while not {("0", "1"), ("1", "0")} <= pairs:
                assert i < 80, pairs
                enabled = i % 2 == 1
                w = fresh("PUT", f"{srv.admin_url}{A}/clients/{t['id']}", json={**t, "enabled": enabled})
                assert w.status_code == 200, w.text
                # an update with nothing a bot answers: only the route's verdict matters here
                r = fresh("POST", f"{srv.user_url}/api/v1/hooks/telegram/{t['id']}", json={"update_id": i},
                          headers=secret)
                assert r.status_code == (200 if enabled else 404), (i, w.headers[WORKER], r.headers[WORKER])
                pairs.add((w.headers[WORKER], r.headers[WORKER]))
                i += 1
        finally:
            fresh("DELETE", f"{srv.admin_url}{A}/clients/{t['id']}")


def test_an_admin_read_on_one_worker_shows_the_edit_the_other_just_answered(
    workers: ServerProcess, openai_x: FakeServer
) -> None:
    """The Admin API's reads that come from the running configuration (here the budgets' status)
    show an edit answered by the other worker the moment it was answered."""
    srv = workers
    bx = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "B", "type": "openai", "url": openai_x.url}).json()
    agent = fresh("POST", f"{srv.admin_url}{A}/agents", json={"name": "Budgeted",
                                                              "llm": {"backend": bx["id"], "model": "m"}}).json()
    pairs: set[tuple[str, str]] = set()
    i = 0
    while not {("0", "1"), ("1", "0")} <= pairs:
        assert i < 80, pairs
        w = fresh("PUT", f"{srv.admin_url}{A}/agents/{agent['id']}",
                  json={**agent, "budget": {"amount": 1000 + i, "unit": "tokens", "period": "day"}})
        assert w.status_code == 200, w.text
        r = fresh("GET", f"{srv.admin_url}{A}/costs/budgets")
        amounts = [b["amount"] for b in r.json() if b["id"] == agent["id"]]
        assert amounts == [1000 + i], (amounts, i, w.headers[WORKER], r.headers[WORKER])
        pairs.add((w.headers[WORKER], r.headers[WORKER]))
        i += 1
    # an agent just created by one worker reads as running (valid) on the other, not "not built yet"
    pairs.clear()
    i = 0
    while not {("0", "1"), ("1", "0")} <= pairs:
        assert i < 80, pairs
        w = fresh("POST", f"{srv.admin_url}{A}/agents", json={"name": f"V{i}", "llm": {"backend": bx["id"], "model": "m"}})
        assert w.status_code == 201, w.text
        r = fresh("GET", f"{srv.admin_url}{A}/agents/{w.json()['id']}")
        assert (r.json()["valid"], r.json()["invalidReason"]) == (True, None), (i, w.headers[WORKER], r.headers[WORKER])
        pairs.add((w.headers[WORKER], r.headers[WORKER]))
        i += 1


def test_a_session_continued_across_workers_keeps_its_history(
    workers: ServerProcess, openai_x: FakeServer
) -> None:
    srv = workers
    bx = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "S", "type": "openai", "url": openai_x.url,
                                                             "apiKey": "sk-x-key-1234"}).json()
    agent = fresh("POST", f"{srv.admin_url}{A}/agents", json={"name": "S", "llm": {"backend": bx["id"], "model": "m"}}).json()
    answered: list[str] = []
    turn = 0
    while len(set(answered)) < 2 or turn < 6:
        assert turn < 60, answered
        r = run(srv, agent["id"], f"turn {turn}", "long")
        assert text_of(r) == f"openai-x says: turn {turn}"
        answered.append(r.headers[WORKER])
        # the provider got every earlier turn, whichever worker served them
        sent = [m for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] in ("user", "assistant")]
        assert [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in sent] == [
            x for t in range(turn + 1) for x in (f"turn {t}", f"openai-x says: turn {t}")][:-1]
        turn += 1
    # consecutive turns went to different workers at least once
    assert any(a != b for a, b in zip(answered, answered[1:], strict=False)), answered
    history = fresh("GET", f"{srv.user_url}{U}/apps/{agent['id']}/users/u/sessions/long").json()
    assert len(history["events"]) == 2 * turn


def test_a_cron_slot_sends_the_command_as_just_edited_on_either_worker(workers: ServerProcess) -> None:
    """A cron client runs in one worker (its lease); its command is edited through whichever worker
    the Admin API call reaches. The first slot after the edit was answered sends the edited prompt
    (it read the prompt as the worker last knew it: up to a second old, the other worker's edit
    before its poll)."""
    srv = workers
    sent: list[tuple[float, str]] = []  # (arrival, the user text) of every chat request

    def note(req: Any) -> None:
        users = [m["content"] for m in (req.json or {}).get("messages", []) if m.get("role") == "user"]
        if req.route == "chat" and users:
            last = users[-1]
            sent.append((time.time(), last if isinstance(last, str) else str(last[0]["text"])))

    with FakeServer(OpenAIFake("cronw", responder=note)) as llm:
        bx = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "C", "type": "openai", "url": llm.url}).json()
        agent = fresh("POST", f"{srv.admin_url}{A}/agents", json={"name": "Cron", "llm": {"backend": bx["id"],
                                                                                            "model": "m"}}).json()
        cmd = fresh("POST", f"{srv.admin_url}{A}/commands", json={"name": "report", "prompt": "v-start"}).json()
        c = fresh("POST", f"{srv.admin_url}{A}/clients", json={
            "name": "cron-w", "type": "cron", "allowedAgents": [agent["id"]],
            "config": {"cron": {"schedule": "@every 2s", "commandId": cmd["id"]}}}).json()
        try:
            writers: list[str] = []
            for i in range(10):
                # the edit is answered in the last tenth of a second before a slot (slots are the even
                # seconds): the other worker's once-a-second poll has most likely not run since
                now = time.time()
                time.sleep((2 - now % 2 - 0.12) % 2)
                w = fresh("PUT", f"{srv.admin_url}{A}/commands/{cmd['id']}", json={**cmd, "prompt": f"v{i}"})
                assert w.status_code == 200, w.text
                answered = time.time()
                writers.append(w.headers[WORKER])
                slot = (int(answered) // 2 + 1) * 2  # the first slot after the answer
                end = time.monotonic() + 30
                while not [t for t, _ in sent if t >= slot]:
                    assert time.monotonic() < end, (i, sent[-3:])
                    time.sleep(0.05)  # polling what the provider received, a client-visible thing
                first = next(text for t, text in sent if t >= slot)
                assert first == f"v{i}", (i, first, writers)
        finally:
            fresh("DELETE", f"{srv.admin_url}{A}/clients/{c['id']}")


def test_metrics_answer_for_every_worker(workers: ServerProcess) -> None:
    for base in (workers.user_url, workers.admin_url):
        for _ in range(4):  # whichever worker answers the scrape
            text = fresh("GET", f"{base}/metrics").text
            assert 'magec_worker_up{worker="0"} 1.0' in text and 'magec_worker_up{worker="1"} 1.0' in text
            # each worker's own counters, labelled by worker
            assert re.search(r'magec_http_requests_total\{[^}]*worker="0"', text)
            assert re.search(r'magec_http_requests_total\{[^}]*worker="1"', text)
    pids = worker_pids(workers)
    assert workers.proc is not None
    assert set(pids.values()) <= children(workers.proc.pid), pids


def test_a_killed_worker_is_replaced(workers: ServerProcess) -> None:
    before = worker_pids(workers)
    assert set(before) == {"0", "1"}
    os.kill(before["1"], signal.SIGKILL)
    end = time.monotonic() + 120
    while True:  # the parent notices and starts worker 1 again (a new process)
        assert time.monotonic() < end, "worker 1 was not replaced"
        try:
            now = worker_pids(workers)
        except httpx.HTTPError:
            now = {}
        if now.get("1") not in (None, before["1"]):
            break
        time.sleep(0.2)  # waiting for a process start, not for data to propagate
    assert now["0"] == before["0"]
    assert not alive(before["1"])
    wait_both_serving(workers)


def test_sigterm_stops_every_worker_after_in_flight_requests(tmp_path: Path, openai_x: FakeServer) -> None:
    srv = ServerProcess(tmp_path / "w", extra_args=["--workers", "2"]).start(timeout=300)
    try:
        wait_both_serving(srv)
        bx = fresh("POST", f"{srv.admin_url}{A}/backends", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                                 "apiKey": "sk-x-key-1234"}).json()
        agent = fresh("POST", f"{srv.admin_url}{A}/agents",
                      json={"name": "A", "llm": {"backend": bx["id"], "model": "m"}}).json()
        pids = worker_pids(srv)
        for _ in range(4):
            openai_x.script(Reply(text="slow answer", delay=2.0), route="chat")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            slow = [pool.submit(run, srv, agent["id"], "slow", f"slow{i}") for i in range(4)]
            end = time.monotonic() + 30
            # every turn reached the provider: in flight (health checks list models meanwhile)
            while len([q for q in openai_x.requests if q.route == "chat"]) < 4:
                assert time.monotonic() < end
                time.sleep(0.05)
            assert srv.proc is not None
            srv.proc.send_signal(signal.SIGTERM)
            answers = [f.result(timeout=60) for f in slow]
        assert [text_of(r) for r in answers] == ["slow answer"] * 4
        assert srv.proc.wait(60) == 0
        for pid in pids.values():
            assert not alive(pid)
        with pytest.raises(httpx.HTTPError):
            fresh("GET", f"{srv.user_url}/api/v1/health")
    finally:
        srv.stop()


async def test_admin_mcp_runs_once_and_its_writes_are_live_on_every_worker(tmp_path: Path) -> None:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from magec.testing.services import free_port

    password, mcp_port = "mcp-pw", free_port()
    srv = ServerProcess(tmp_path / "m", admin_password=password, extra_args=["--workers", "2"],
                        server_config={"mcp": {"enabled": True, "port": mcp_port}}).start(timeout=300)
    try:
        wait_both_serving(srv)
        # one worker serves MCP (worker 0: MCP sessions live in one process); the parent only
        # keeps the socket open across restarts
        assert srv.proc is not None
        pids = worker_pids(srv)
        assert set(pids) == {"0", "1"}
        assert [w for w, pid in sorted(pids.items()) if holds_port(pid, mcp_port)] == ["0"]
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {password}"}, timeout=120) as http, \
                streamable_http_client(f"http://127.0.0.1:{mcp_port}/mcp", http_client=http) as (read, write), \
                ClientSession(read, write) as s:
            await s.initialize()
            for n in range(4):
                made = await s.call_tool("magec_create_agent", {"body": {"name": f"From MCP {n}"}})
                assert not made.is_error, made.content
                agent_id = made.structured_content["id"]  # type: ignore[index]
                # the very next request, on fresh connections: listed whichever worker answers
                for _ in range(4):
                    r = fresh("GET", f"{srv.user_url}{U}/list-apps?detailed=true")
                    assert agent_id in [a["id"] for a in r.json()], r.headers[WORKER]
    finally:
        srv.stop()
