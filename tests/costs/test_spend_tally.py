"""The budget counters read the ``usage`` table incrementally (magec.costs.tally): a month of
history is aggregated once at start, after that each refresh reads only the rows written since —
watched as an operator would, on ``/metrics`` (``magec_usage_rows_read``, ``magec_usage_recounts``),
with the spend checked on ``GET /costs/budgets``. On PostgreSQL another replica's batch that
commits after a later id was counted is still counted when it lands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from magec.store.tables import usage
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from magec.testing.services import Postgres
from tests.costs.helpers import A, agent, backend, client, run

MONTH = {"amount": 10_000_000, "unit": "tokens", "period": "month"}



async def _metric(apps: Apps, name: str) -> float:
    text = (await apps.admin.get("/metrics")).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, text[:500]
    return float(found.group(1))


async def _spent(apps: Apps, client_id: str) -> float:
    r = await apps.admin.get(f"{A}/costs/budgets")
    assert r.status_code == 200, r.text
    (row,) = [b for b in r.json() if b["scope"] == "client" and b["id"] == client_id]
    return float(row["spent"])


def _row(agent_id: str, client_id: str, at: datetime, tokens: tuple[int, int], kind: str = "llm") -> dict[str, Any]:
    return {"at": at, "agent_id": agent_id, "backend_id": "b", "kind": kind, "model": "m-1",
            "input_tokens": tokens[0], "output_tokens": tokens[1], "client_id": client_id}


async def test_a_month_of_history_is_aggregated_once_then_only_new_rows_are_read(oai: FakeServer, tmp_path: Path) -> None:
    async with running_apps(tmp_path) as apps:
        aid = await agent(apps, await backend(apps, oai), "Helper")
        c = await client(apps, "Web", [aid], budget=MONTH)
    # the month so far, written by earlier runs (and one row of last month, one voice row)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = [_row(aid, c["id"], now - timedelta(seconds=1), (1, 2)) for _ in range(12_000)]
    rows += [_row(aid, c["id"], month_start - timedelta(days=1), (50, 50)),
             _row(aid, c["id"], now, (70, 70), kind="tts")]
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'magec.db'}")
    async with engine.begin() as conn:
        await conn.execute(usage.insert(), rows)
    await engine.dispose()

    async with running_apps(tmp_path) as apps:
        assert await _spent(apps, c["id"]) == 36_000
        assert await _metric(apps, "magec_usage_recounts") == 1
        read = await _metric(apps, "magec_usage_rows_read")
        assert read <= 10_000, "the month's history was read row by row, not aggregated"
        for i in range(3):
            await run(apps, aid, f"turn {i}", token=c["token"])
        assert await _spent(apps, c["id"]) == 36_000 + 3 * 1000
        assert await _metric(apps, "magec_usage_rows_read") == read + 3  # the three new rows, each once
        assert await _spent(apps, c["id"]) == 39_000
        assert await _metric(apps, "magec_usage_rows_read") == read + 3
        assert await _metric(apps, "magec_usage_recounts") == 1


async def test_a_late_commit_from_another_replica_is_counted(postgres: Postgres, oai: FakeServer,
                                                              tmp_path: Path) -> None:
    url = postgres.url(postgres.create_database())
    other = create_async_engine(url)  # another replica's usage writer
    try:
        async with running_apps(tmp_path, database_url=url) as apps:
            aid = await agent(apps, await backend(apps, oai), "Helper")
            c = await client(apps, "Web", [aid], budget=MONTH)
            assert await _spent(apps, c["id"]) == 0
            async with other.connect() as conn:
                tx = await conn.begin()
                # its id is taken now, its commit comes after this replica's next row is counted
                await conn.execute(usage.insert(), [_row(aid, c["id"], datetime.now(UTC), (2000, 3000))])
                await run(apps, aid, "hello", token=c["token"])
                assert await _spent(apps, c["id"]) == 1000
                await tx.commit()
            assert await _spent(apps, c["id"]) == 6000
            assert await _spent(apps, c["id"]) == 6000  # counted once
            # a rolled-back insert leaves a gap for good: counting goes on past it
            async with other.connect() as conn:
                tx = await conn.begin()
                await conn.execute(usage.insert(), [_row(aid, c["id"], datetime.now(UTC), (9, 9))])
                await tx.rollback()
            await run(apps, aid, "again", token=c["token"])
            assert await _spent(apps, c["id"]) == 7000
    finally:
        await other.dispose()
