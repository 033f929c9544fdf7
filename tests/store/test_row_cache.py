"""The store's row cache keeps a row's identity from one snapshot to the next.

``SnapshotBuilder`` tells changed rows by identity, and the runtime rebuilds exactly the apps of
changed rows. A read that reloads the rows while one of this process's write transactions is open
is not cached (the transaction may still change them); such reloads must still hand an unchanged
row the same tuple, or every app written since the cache's epoch is rebuilt at each of them (seen as
an extra ``magec_app_builds_total`` in a burst of 20 concurrent creates).
"""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps

A = "/api/v1/admin"


async def test_reloads_during_a_write_keep_unchanged_rows(tmp_path: Path) -> None:
    async with (
        running_apps(tmp_path, start_runtime=False) as one,
        running_apps(tmp_path) as two,
    ):
        store = one.ctx.store
        await store.snapshot()
        # another replica writes a backend and an agent: this replica's row cache is now behind
        r = await two.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1"})
        assert r.status_code == 201, r.text
        r = await two.admin.post(f"{A}/agents", json={"name": "a", "llm": {"backend": r.json()["id"], "model": "m"}})
        assert r.status_code == 201, r.text
        agent = r.json()["id"]
        # while a write transaction of this replica is open, reads reload (and do not cache)
        async with store._write_tx():
            store._pending.append(("agents", "not-committed", None))
            first = await store.snapshot()
            second = await store.snapshot()
        third = await store.snapshot()  # the transaction is over: this read fills the cache
        fourth = await store.snapshot()
        assert agent in first.agents and first.dirty is not None and agent in first.dirty
        assert second.dirty == frozenset()
        assert third.dirty == frozenset()
        assert fourth.dirty == frozenset()
