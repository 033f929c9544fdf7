"""The scale-out design across machines: two ``magec serve`` replicas on one real PostgreSQL, with
sessions on a real Redis, behind a round-robin load balancer (:class:`magec.testing.lb.LoadBalancer`).
Every request goes through the balancer on a new connection, so consecutive requests land on
alternating replicas; writes, turns and one long session are driven through it only, and each
answer must reflect the write answered just before, whichever replica took either."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer
from magec.testing.lb import LoadBalancer
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
U = "/api/v1/agent"


class Cluster:
    def __init__(self, user: LoadBalancer, admin: LoadBalancer) -> None:
        self.user = user
        self.admin = admin

    def call(self, lb: LoadBalancer, method: str, path: str, **kw: Any) -> tuple[httpx.Response, int]:
        """One request on a new connection through ``lb``; the response and the replica that took it."""
        before = list(lb.connections)
        with httpx.Client(timeout=60) as c:
            r = c.request(method, f"{lb.url}{path}", **kw)
        taken = [i for i, (a, b) in enumerate(zip(before, lb.connections, strict=True)) if b != a]
        assert len(taken) == 1, (before, lb.connections)
        return r, taken[0]

    def write(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
        r, replica = self.call(self.admin, method, f"{A}{path}", json=body)
        assert r.status_code in (200, 201), r.text
        return r.json(), replica

    def turn(self, app: str, text: str, session: str) -> tuple[str, int]:
        r, replica = self.call(self.user, "POST", f"{U}/run", json={
            "appName": app, "userId": "u", "sessionId": session, "newMessage": {"parts": [{"text": text}]}})
        assert r.status_code == 200, r.text
        return str(r.json()[-1]["content"]["parts"][0]["text"]), replica


@pytest.fixture
def cluster(tmp_path: Path, postgres: Any) -> Iterator[Cluster]:
    url = postgres.url(postgres.create_database())
    replicas = [ServerProcess(tmp_path / "one", database_url=url), ServerProcess(tmp_path / "two", database_url=url)]
    try:
        for r in replicas:
            r.start(timeout=180)
        with (
            LoadBalancer([("127.0.0.1", r.port) for r in replicas]) as user,
            LoadBalancer([("127.0.0.1", r.admin_port) for r in replicas]) as admin,
        ):
            yield Cluster(user, admin)
    finally:
        for r in replicas:
            r.stop()


def test_replicas_behind_a_load_balancer_on_postgres_and_redis(
    cluster: Cluster, redis_server: Any, openai_x: FakeServer, openai_y: FakeServer
) -> None:
    bx, _ = cluster.write("POST", "/backends", {"name": "X", "type": "openai", "url": openai_x.url,
                                                "apiKey": "sk-x-key-1234"})
    by, _ = cluster.write("POST", "/backends", {"name": "Y", "type": "openai", "url": openai_y.url})
    agent, _ = cluster.write("POST", "/agents", {"name": "A", "llm": {"backend": bx["id"], "model": "m"}})
    red, _ = cluster.write("POST", "/memory", {"name": "R", "type": "redis", "category": "session",
                                                "config": {"connectionString": redis_server.url, "ttl": "1h"}})
    cluster.write("PUT", "/settings", {"sessionProvider": red["id"]})

    # writes and turns alternate replicas; each turn sees the write answered just before it
    pairs: set[tuple[int, int]] = set()
    for i in range(8):
        target, name = (by, "openai-y") if i % 2 == 0 else (bx, "openai-x")
        _, wrote = cluster.write("PUT", f"/agents/{agent['id']}", {**agent, "llm": {"backend": target["id"], "model": "m"}})
        text, ran = cluster.turn(agent["id"], f"t{i}", f"s{i}")
        assert text == f"{name} says: t{i}", (wrote, ran)
        pairs.add((wrote, ran))
    assert {(0, 1), (1, 0)} <= pairs  # written on each replica, used on the other at once

    # one session continued turn after turn on alternating replicas keeps its whole history
    cluster.write("PUT", f"/agents/{agent['id']}", {**agent, "llm": {"backend": bx["id"], "model": "m"}})
    served: list[int] = []
    for t in range(6):
        text, replica = cluster.turn(agent["id"], f"turn {t}", "long")
        assert text == f"openai-x says: turn {t}"
        served.append(replica)
        sent = [m for m in openai_x.requests_to("chat")[-1].json["messages"] if m["role"] in ("user", "assistant")]
        got = [m["content"] if isinstance(m["content"], str) else m["content"][0]["text"] for m in sent]
        assert got == [x for k in range(t + 1) for x in (f"turn {k}", f"openai-x says: turn {k}")][:-1]
    assert set(served) == {0, 1}
    history, _ = cluster.call(cluster.user, "GET", f"{U}/apps/{agent['id']}/users/u/sessions/long")
    assert history.status_code == 200 and len(history.json()["events"]) == 12

    # the session lives in Redis (the shared session engine), not in either replica
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        assert any(b"long" in k for k in client.scan_iter("*long*"))
    finally:
        client.close()
    assert min(cluster.user.connections) > 0 and min(cluster.admin.connections) > 0
