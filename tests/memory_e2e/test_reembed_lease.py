"""Re-embed jobs across two real ``magec serve`` replicas on one PostgreSQL: a job runs in one process
at a time (each memory embedded once, however many replicas are asked to run it), and a holder
killed mid-job is taken over by the other replica, which finishes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
U = "/api/v1/agent"
FACTS = [f"fact number {i} about tea" for i in range(12)]
# a short lease (takeover in about a second) and small batches (a job of several embedding calls)
ENV = {"MAGEC_REEMBED_LEASE_TTL": "3", "MAGEC_REEMBED_BATCH": "2"}


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeServer]]:
    with (FakeServer(OpenAIFake("brain")) as llm, FakeServer(OpenAIFake("emb3", embedding_dim=3)) as emb3,
          FakeServer(OpenAIFake("emb5", embedding_dim=5)) as emb5):
        yield {"llm": llm, "emb3": emb3, "emb5": emb5}


@pytest.fixture
def replicas(tmp_path: Path, postgres: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.url(postgres.create_database())
    with ServerProcess(tmp_path / "one", database_url=url, env=ENV) as one, \
            ServerProcess(tmp_path / "two", database_url=url, env=ENV) as two:
        yield one, two


def seeded(c: httpx.Client, one: ServerProcess, fakes: dict[str, FakeServer]) -> tuple[str, str]:
    """Memories saved through an agent on the old model; returns (provider id, new model key)."""
    base = f"{one.admin_url}{A}"
    brain = c.post(f"{base}/backends", json={"name": "brain", "type": "openai", "url": fakes["llm"].url}).json()
    e3 = c.post(f"{base}/backends", json={"name": "emb3", "type": "openai", "url": fakes["emb3"].url}).json()
    mem = c.post(f"{base}/memory", json={"name": "LT", "type": "sqlite", "category": "longterm",
                                         "embedding": {"backend": e3["id"], "model": "emb-small"}}).json()
    assert c.put(f"{base}/settings", json={"longTermProvider": mem["id"]}).status_code == 200
    agent = c.post(f"{base}/agents", json={"name": "A", "llm": {"backend": brain["id"], "model": "m"}}).json()
    for fact in FACTS:
        r = c.post(f"{one.user_url}{U}/run", json={"appName": agent["id"], "userId": "ada", "sessionId": "s",
                                                   "newMessage": {"parts": [{"text": f'call save_to_memory {{"content": "{fact}"}}'}]}})
        assert r.status_code == 200, r.text
    e5 = c.post(f"{base}/backends", json={"name": "emb5", "type": "openai", "url": fakes["emb5"].url}).json()
    # each embedding call of the new model takes a while: the job lasts several seconds
    fakes["emb5"].provider.responder = lambda req: Reply(delay=0.4) if req.route == "embeddings" else None
    r = c.put(f"{base}/memory/{mem['id']}", json={**mem, "embedding": {"backend": e5["id"], "model": "emb-big"}})
    assert r.status_code == 200, r.text
    return mem["id"], f"{e5['id']}/emb-big"


def embedded(emb5: FakeServer) -> list[str]:
    """Every text the new model was asked to embed, one entry per time it was asked."""
    return [t for r in emb5.requests_to("embeddings") for t in r.json["input"]]


def status(c: httpx.Client, server: ServerProcess, mem: str) -> dict[str, Any]:
    r = c.get(f"{server.admin_url}{A}/memory/{mem}/reembed")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def until(c: httpx.Client, server: ServerProcess, mem: str, done: Any, deadline: float = 60) -> dict[str, Any]:
    end = time.monotonic() + deadline
    while True:
        seen = status(c, server, mem)
        if done(seen):
            return seen
        assert time.monotonic() < end, seen
        time.sleep(0.1)


def test_both_replicas_asked_to_reembed_embed_each_memory_once(
    replicas: tuple[ServerProcess, ServerProcess], fakes: dict[str, FakeServer]
) -> None:
    one, two = replicas
    with httpx.Client(timeout=30) as c:
        mem, model = seeded(c, one, fakes)
        # an operator (or two browser tabs) asks both replicas at once, several times over
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda s: c.post(f"{s.admin_url}{A}/memory/{mem}/reembed"), [one, two, two, one]))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert {a.json()["toModel"] for a in answers} == {model}
        assert len({a.json()["id"] for a in answers}) == 1  # one job
        running = until(c, two, mem, lambda s: s["holder"] is not None or s["job"]["status"] == "done")
        final = until(c, one, mem, lambda s: s["job"]["status"] == "done")
        assert final["pending"] == 0 and final["job"]["done"] == len(FACTS) and final["holder"] is None
        assert status(c, two, mem)["job"]["status"] == "done"
        assert running["job"]["id"] == final["job"]["id"]
    # each memory went to the billed provider once: one process ran the job
    texts = embedded(fakes["emb5"])
    assert sorted(texts) == sorted(FACTS), texts


def test_a_killed_holder_s_job_is_finished_by_the_other_replica(
    replicas: tuple[ServerProcess, ServerProcess], fakes: dict[str, FakeServer]
) -> None:
    one, two = replicas
    with httpx.Client(timeout=30) as c:
        mem, _ = seeded(c, one, fakes)
        assert c.post(f"{one.admin_url}{A}/memory/{mem}/reembed").status_code == 200
        mid = until(c, two, mem, lambda s: s["holder"] is not None and s["job"]["done"] >= 2)
        assert mid["job"]["status"] == "running" and mid["job"]["done"] < len(FACTS), mid
        pid = int(mid["holder"].rsplit(":", 2)[1])
        holder, other = (one, two) if one.proc and one.proc.pid == pid else (two, one)
        assert holder.proc is not None and holder.proc.pid == pid, (mid["holder"], one.proc, two.proc)
        holder.kill()  # SIGKILL mid-job: no clean shutdown, the lease is left behind
        final = until(c, other, mem, lambda s: s["job"]["status"] == "done")
        assert final["pending"] == 0 and final["job"]["done"] == len(FACTS) and final["holder"] is None
        items = c.get(f"{other.admin_url}{A}/memory/entries", params={"limit": 100}).json()["items"]
        assert {i["embeddingModel"] for i in items} == {final["model"]} and len(items) == len(FACTS)
    # every memory was embedded; at most the batch in flight when the holder died was paid twice
    texts = embedded(fakes["emb5"])
    assert set(texts) == set(FACTS) and len(texts) <= len(FACTS) + 2, texts


def test_the_cli_leaves_a_job_a_running_server_holds_to_it(tmp_path: Path, fakes: dict[str, FakeServer]) -> None:
    """``magec memory reembed`` next to a server running the job: it says so and embeds nothing."""
    with ServerProcess(tmp_path / "srv", env=ENV) as srv, httpx.Client(timeout=30) as c:
        mem, _ = seeded(c, srv, fakes)
        # slow enough to outlast the command's start
        fakes["emb5"].provider.responder = lambda req: Reply(delay=2.0) if req.route == "embeddings" else None
        assert c.post(f"{srv.admin_url}{A}/memory/{mem}/reembed").status_code == 200
        until(c, srv, mem, lambda s: s["holder"] is not None)
        r = subprocess.run([sys.executable, "-m", "magec", "memory", "reembed", "--config", str(srv.data_dir / "config.yaml")],
                           capture_output=True, text=True, timeout=120, env={**os.environ, **ENV})
        assert r.returncode == 0, r.stderr
        out = " ".join((r.stdout + r.stderr).split())  # the console wraps long lines
        assert "running" in out and "in another magec process" in out and f"/memory/{mem}/reembed" in out, out
        final = until(c, srv, mem, lambda s: s["job"]["status"] == "done")
        assert final["pending"] == 0 and final["job"]["done"] == len(FACTS)
    assert sorted(embedded(fakes["emb5"])) == sorted(FACTS)
