"""A2A tasks outlive their process and are seen by every replica: an A2A client that was handed a
task polls ``tasks/get`` for its end, whichever replica answers and whether or not the process that
ran it is still there (magec.a2a.durable)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.types import a2a_pb2 as pb

from magec.a2a.durable import UNAVAILABLE, DurableTaskStore
from magec.testing.apps import running_apps
from magec.testing.apps import serving as serve
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess
from tests.a2a.conftest import A, make_agent, message, rpc

TASK_NOT_FOUND, NOT_CANCELABLE = -32001, -32002


class _Owner(User):
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def user_name(self) -> str:
        return self._name


def _send(url: str, aid: str, text: str, *, blocking: bool = True, headers: dict[str, str] | None = None) -> Any:
    params = {**message(text), "configuration": {"blocking": blocking}}
    r = httpx.post(f"{url}/api/v1/a2a/{aid}", json=rpc("message/send", params), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _get(url: str, aid: str, task_id: str, headers: dict[str, str] | None = None) -> Any:
    r = httpx.post(f"{url}/api/v1/a2a/{aid}", json=rpc("tasks/get", {"id": task_id}), headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_tasks_are_answered_after_a_crash(tmp_path: Path) -> None:
    """SIGKILL while a task runs: the next start answers the finished task as it ended and the
    interrupted one ``failed`` ("send the message again", ``errorCode: unavailable``), never "not
    found" nor ``working`` for ever; the conversation goes on."""
    with FakeServer(OpenAIFake("slow")) as slow:
        slow.script(Reply(text="quick one"), Reply(text="never", delay=300))
        srv = ServerProcess(tmp_path / "d").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url + "/api/v1/admin")
            b = admin.post("/backends", json={"name": "slow", "type": "openai", "url": slow.url}).json()
            aid = admin.post("/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"},
                                              "a2a": {"enabled": True}}).json()["id"]
            done = _send(srv.user_url, aid, "first")
            assert done["status"]["state"] == "completed", done
            running = _send(srv.user_url, aid, "second", blocking=False)
            assert running["status"]["state"] in ("submitted", "working"), running
            deadline = time.monotonic() + 30
            while len(slow.calls()) < 2:  # the second task is with its provider
                assert time.monotonic() < deadline, "the task never reached its provider"
                time.sleep(0.05)
            assert _get(srv.user_url, aid, running["id"])["result"]["status"]["state"] == "working"
        finally:
            srv.kill()

        slow.script(Reply(text="after the restart"))
        with ServerProcess(tmp_path / "d") as again:
            got = _get(again.user_url, aid, done["id"])["result"]
            assert got["status"]["state"] == "completed"
            assert got["artifacts"][0]["parts"][0]["text"] == "quick one"
            assert [m["parts"][0]["text"] for m in got["history"]][:1] == ["first"]
            lost = _get(again.user_url, aid, running["id"])["result"]
            assert lost["status"]["state"] == "failed", lost
            status_message = lost["status"]["message"]
            assert "send the message again" in status_message["parts"][0]["text"]
            assert status_message["metadata"]["errorCode"] == "unavailable"
            assert _get(again.user_url, aid, running["id"])["result"]["status"] == lost["status"]  # written once
            r = httpx.post(f"{again.user_url}/api/v1/a2a/{aid}", json=rpc("tasks/cancel", {"id": running["id"]}))
            assert r.json()["error"]["code"] == NOT_CANCELABLE, r.text
            # the conversation itself continues (it is a stored session)
            params = message("third", context_id=running["contextId"])
            r = httpx.post(f"{again.user_url}/api/v1/a2a/{aid}", json=rpc("message/send", params), timeout=30)
            assert r.json()["result"]["artifacts"][0]["parts"][0]["text"] == "after the restart", r.text


@contextlib.asynccontextmanager
async def _replica(data_dir: Path, db_url: str) -> AsyncIterator[tuple[Any, str]]:
    from magec.server import user_app

    async with running_apps(data_dir, database_url=db_url) as apps, serve(user_app(apps.ctx)) as url:
        yield apps, url


async def test_every_replica_answers_tasks_get(tmp_path: Path, db_url: str) -> None:
    """Two replicas on one database: a task sent to one is read on the other, as it ended or as it
    runs, by its own client only; cancelled through the other, it stops where it runs."""
    with FakeServer(OpenAIFake("fake-llm")) as llm:
        async with _replica(tmp_path / "a", db_url) as (apps, one_url), _replica(tmp_path / "b", db_url) as (_, two_url):
            aid = await make_agent(apps, llm)
            heads = []
            for name in ("One", "Two"):
                c = (await apps.admin.post(f"{A}/clients", json={"name": name, "allowedAgents": [aid]})).json()
                heads.append({"Authorization": f"Bearer {c['token']}"})
            mine, theirs = heads
            async with httpx.AsyncClient(timeout=30) as http:
                async def call(url: str, method: str, params: dict[str, Any], h: dict[str, str]) -> Any:
                    r = await http.post(f"{url}/api/v1/a2a/{aid}", json=rpc(method, params), headers=h)
                    assert r.status_code == 200, r.text
                    return r.json()

                task = (await call(one_url, "message/send", message("hello"), mine))["result"]
                assert task["status"]["state"] == "completed"
                got = (await call(two_url, "tasks/get", {"id": task["id"]}, mine))["result"]
                assert got["status"]["state"] == "completed"
                assert got["artifacts"] == task["artifacts"]
                assert (await call(two_url, "tasks/get", {"id": task["id"]}, theirs))["error"]["code"] == TASK_NOT_FOUND

                llm.script(Reply(text="in a while", delay=20))
                params = {**message("slow"), "configuration": {"blocking": False}}
                slow = (await call(one_url, "message/send", params, mine))["result"]
                got = (await call(two_url, "tasks/get", {"id": slow["id"]}, mine))["result"]
                assert got["status"]["state"] in ("submitted", "working"), got  # running elsewhere: not lost
                # cancelled through the other replica: every replica reads it so from then on
                r = await call(two_url, "tasks/cancel", {"id": slow["id"]}, mine)
                assert r["result"]["status"]["state"] == "canceled", r
                for url in (one_url, two_url):
                    got = (await call(url, "tasks/get", {"id": slow["id"]}, mine))["result"]
                    assert got["status"]["state"] == "canceled", (url, got)
                r = await call(one_url, "tasks/cancel", {"id": slow["id"]}, mine)
                assert r["error"]["code"] == NOT_CANCELABLE, r
                # and the turn was stopped where it ran: the conversation's next message is
                # answered at once there (it queued behind the cancelled turn's 20 s before), and
                # what the provider is sent carries no answer of the cancelled turn
                llm.script(Reply(text="next answer"))
                follow = {**message("next", context_id=slow["contextId"]), "configuration": {"blocking": True}}
                r = await http.post(f"{one_url}/api/v1/a2a/{aid}", json=rpc("message/send", follow),
                                    headers=mine, timeout=10)
                assert r.json()["result"]["artifacts"][0]["parts"][0]["text"] == "next answer", r.text
                assert "in a while" not in llm.calls()[-1].body.decode()


@pytest.mark.parametrize("ttl, ended", [(-1.0, "failed"), (60.0, "working")])
async def test_a_running_task_of_another_host_is_lost_once_its_lease_expires(
        tmp_path: Path, db_url: str, ttl: float, ended: str) -> None:
    """A process on another machine cannot be asked whether it still runs: its task is running while
    its lease lasts (renewed as it runs) and lost once the lease expired."""
    async with running_apps(tmp_path / "d", database_url=db_url, start_runtime=False) as apps:
        store = apps.ctx.store
        there = DurableTaskStore(store.engine, store.cipher, 100, None, process="elsewhere:1:x", ttl=ttl)
        here = DurableTaskStore(store.engine, store.cipher, 100, None)
        context = ServerCallContext(user=_Owner("app\x00client"))
        task = pb.Task(id="t1", context_id="c1", status=pb.TaskStatus(state=pb.TaskState.TASK_STATE_WORKING))
        await there.save(task, context)
        got = await here.get("t1", context)
        assert got is not None
        assert pb.TaskState.Name(got.status.state) == f"TASK_STATE_{ended.upper()}"
        assert await here.get("t1", ServerCallContext(user=_Owner("app\x00other"))) is None
        await there.close()


async def test_a_database_failure_is_told_without_its_details(tmp_path: Path) -> None:
    """The database failing under the task store: the client reads 'send the request again', with
    ``errorCode: unavailable`` — not the driver's text (a2a-sdk answers an unknown exception with
    it: the SQL, the table names and, on PostgreSQL, the database's host and port)."""
    with FakeServer(OpenAIFake("fake-llm")) as llm:
        async with _replica(tmp_path / "a", "") as (apps, url):
            aid = await make_agent(apps, llm)
            async with apps.ctx.store.engine.begin() as conn:  # as a database that stopped answering
                await conn.execute(sa.text("ALTER TABLE a2a_tasks RENAME TO a2a_tasks_gone"))
            calls = [("message/send", message("hello"), {}), ("message/stream", message("hello"), {}),
                     ("SendMessage", {"message": {"role": "ROLE_USER", "messageId": "m1",
                                                  "parts": [{"text": "hello"}]}}, {"A2A-Version": "1.0"}),
                     ("tasks/get", {"id": "an-unknown-task"}, {}), ("tasks/cancel", {"id": "an-unknown-task"}, {})]
            async with httpx.AsyncClient(timeout=30) as http:
                for method, params, headers in calls:
                    r = await http.post(f"{url}/api/v1/a2a/{aid}", json=rpc(method, params), headers=headers)
                    assert r.status_code == 200, (method, r.text)
                    for word in ("SQL", "a2a_tasks", "sqlite", "Background on this error"):
                        assert word not in r.text, (method, r.text)
                    body = json.loads(r.text.removeprefix("data:").split("\n")[0]) if method == "message/stream" \
                        else r.json()
                    assert body["error"]["message"] == UNAVAILABLE, (method, body)
                    # 0.3: data is the object; 1.0: an ErrorInfo carrying it as metadata
                    assert '"errorCode": "unavailable"' in json.dumps(body["error"]["data"]), (method, body)


#: a process of this host name in a PID namespace of its own (a container with host networking, or
#: a fixed ``hostname:``): a pid there says nothing of a process here
OWN_PID_NAMESPACE = ["unshare", "--pid", "--fork", "--kill-child=SIGTERM"]


def _has_pid_namespaces() -> bool:
    try:
        return subprocess.run([*OWN_PID_NAMESPACE, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_a_replica_of_the_same_host_name_in_another_pid_namespace_leaves_running_tasks_alone(tmp_path: Path) -> None:
    """Two replicas on one database share a host name but not a PID namespace (containers with host
    networking): the task one runs is read running on the other, which cannot see its pid, and
    ends as it answers — not ``failed`` ("send the message again") as if its process had died."""
    if not _has_pid_namespaces():
        pytest.skip("no PID namespaces here (unshare --pid needs root or user namespaces)")
    db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    with FakeServer(OpenAIFake("slow")) as slow:
        slow.script(Reply(text="in a moment", delay=4))
        with ServerProcess(tmp_path / "one", database_url=db) as one, \
                ServerProcess(tmp_path / "two", database_url=db, wrapper=OWN_PID_NAMESPACE) as two:
            admin = httpx.Client(base_url=one.admin_url + "/api/v1/admin")
            b = admin.post("/backends", json={"name": "slow", "type": "openai", "url": slow.url}).json()
            aid = admin.post("/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"},
                                              "a2a": {"enabled": True}}).json()["id"]
            running = _send(one.user_url, aid, "question", blocking=False)
            deadline = time.monotonic() + 30
            while not slow.calls():  # the task is with its provider, on replica one
                assert time.monotonic() < deadline, "the task never reached its provider"
                time.sleep(0.05)
            got = _get(two.user_url, aid, running["id"])["result"]
            assert got["status"]["state"] in ("submitted", "working"), got  # as last written: not lost
            while (got := _get(two.user_url, aid, running["id"])["result"])["status"]["state"] in ("submitted", "working"):
                assert time.monotonic() < deadline, "the task never ended"
                time.sleep(0.2)
            assert got["status"]["state"] == "completed", got
            assert got["artifacts"][0]["parts"][0]["text"] == "in a moment"


async def test_a_resubscription_through_another_replica_ends_with_the_task(tmp_path: Path) -> None:
    """``tasks/resubscribe`` (a client whose stream dropped, sent back through a load balancer) on
    the replica that does not run the task: the task as it is, then its answer and its end, and the
    stream closes — it stayed open with no end, and a stand-in of the task stayed in that replica's
    memory. On the replica running it, the turn's own events, as before."""
    db = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    with FakeServer(OpenAIFake("fake-llm")) as llm:
        async with _replica(tmp_path / "a", db) as (apps, one_url), _replica(tmp_path / "b", db) as (_, two_url):
            aid = await make_agent(apps, llm)
            async with httpx.AsyncClient(timeout=30) as http:
                async def follow(url: str, task_id: str) -> list[dict[str, Any]]:
                    events = []
                    body = rpc("tasks/resubscribe", {"id": task_id})
                    async with http.stream("POST", f"{url}/api/v1/a2a/{aid}", json=body) as r:
                        async for line in r.aiter_lines():
                            if line.startswith("data:"):
                                events.append(json.loads(line.removeprefix("data:"))["result"])
                    return events

                for url in (two_url, one_url):
                    llm.script(Reply(text="the answer", delay=2))
                    params = {**message("question"), "configuration": {"blocking": False}}
                    r = await http.post(f"{one_url}/api/v1/a2a/{aid}", json=rpc("message/send", params))
                    task = r.json()["result"]
                    events = await asyncio.wait_for(follow(url, task["id"]), 30)  # it ends
                    assert events[0]["id"] == task["id"], (url, events)
                    assert events[-1]["kind"] == "status-update" and events[-1]["final"] is True, (url, events)
                    assert events[-1]["status"]["state"] == "completed", (url, events)
                    answer = [e for e in events if e.get("kind") == "artifact-update" and e.get("lastChunk")]
                    assert answer[-1]["artifact"]["parts"][0]["text"] == "the answer", (url, events)


async def test_a_deleted_clients_task_is_not_read_through_another_replica(tmp_path: Path, db_url: str) -> None:
    """Two replicas: a client's task ran on the second one (which keeps a copy in memory); the
    client is deleted through the first and restored from a backup (same id, same token). Through
    either replica its token no longer reads the old task."""
    with FakeServer(OpenAIFake("fake-llm")) as llm:
        async with _replica(tmp_path / "a", db_url) as (apps, one_url), _replica(tmp_path / "b", db_url) as (_, two_url):
            aid = await make_agent(apps, llm)
            await apps.admin.post(f"{A}/clients", json={"name": "Stays", "allowedAgents": [aid]})  # not open mode
            c = (await apps.admin.post(f"{A}/clients", json={"name": "Goes", "allowedAgents": [aid]})).json()
            archive = (await apps.admin.get(f"{A}/settings/backup")).content
            h = {"Authorization": f"Bearer {c['token']}"}
            async with httpx.AsyncClient(timeout=30) as http:
                async def call(url: str, method: str, params: dict[str, Any]) -> httpx.Response:
                    return await http.post(f"{url}/api/v1/a2a/{aid}", json=rpc(method, params), headers=h)

                # a write is live on every replica for the very next request
                r = await call(two_url, "message/send", message("private words"))
                assert r.status_code == 200, r.text
                task = r.json()["result"]
                assert task["status"]["state"] == "completed", task
                assert (await apps.admin.delete(f"{A}/clients/{c['id']}")).status_code == 204
                r = await apps.admin.post(f"{A}/settings/restore", content=archive,
                                          headers={"content-type": "application/gzip"})
                assert r.status_code == 200, r.text
                for url in (one_url, two_url):
                    r = await call(url, "tasks/get", {"id": task["id"]})
                    assert r.status_code == 200, (url, r.text)
                    assert r.json().get("error", {}).get("code") == TASK_NOT_FOUND, r.text
