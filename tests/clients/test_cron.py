"""Cron clients, driven as an operator would: a job due in the next seconds fires exactly once
with the command's prompt to every allowed agent (Magec's executor), its last/next run and result show in the Admin
API, schedule edits and disabling apply live, and missed runs after downtime follow the policy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from magec.clients import cron as cron_mod
from magec.clients import cronexpr
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.clients.helpers import A, agent, backend, client, command


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("cronllm")) as s:
        yield s


def at(moment: datetime) -> str:
    """A 6-field (seconds) expression firing at ``moment`` (UTC) only."""
    return f"{moment.second} {moment.minute} {moment.hour} {moment.day} {moment.month} *"


def soon(seconds: float = 3.0) -> datetime:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)


async def status(apps: Apps, cid: str) -> dict[str, Any]:
    r = await apps.admin.get(f"{A}/clients/{cid}")
    assert r.status_code == 200, r.text
    return dict(r.json()["status"] or {})


async def until(apps: Apps, cid: str, pred: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    st: dict[str, Any] = {}
    while time.monotonic() < deadline:
        st = await status(apps, cid)
        if pred(st):
            return st
        await asyncio.sleep(0.2)
    raise AssertionError(f"status never matched: {st}")


def prompts(llm: FakeServer, marker: str) -> int:
    return sum(1 for r in llm.requests if r.route == "chat" and marker in str(r.json))


async def test_due_job_fires_once_and_reports(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        first = await agent(apps, bid, "Default")
        other = await agent(apps, bid, "Other")
        cmd = await command(apps, "Write the morning report ONCE-MARKER")
        slot = soon(3)
        c = await client(apps, "cron", [first, other], {"cron": {"schedule": at(slot), "commandId": cmd}})
        st = await until(apps, c["id"], lambda s: s.get("running") and s.get("nextRun"))
        assert st["nextRun"] == cron_mod.iso(slot) and st["schedule"] == at(slot)
        st = await until(apps, c["id"], lambda s: s.get("lastRun") == cron_mod.iso(slot) and s.get("lastOk"))
        # every allowed agent answered, in allowedAgents order, the answers joined as Magec joins them
        answer = "cronllm says: Write the morning report ONCE-MARKER"
        assert st["lastResult"] == f"{answer}\n---\n{answer}"
        # the next slot is a year away; waiting past the slot does not fire it again
        assert st["nextRun"] > cron_mod.iso(slot + timedelta(days=300))  # type: ignore[operator]
        await asyncio.sleep(1.5)
        assert await cron_mod.run_count(apps.ctx.store.engine, c["id"]) == 1
        assert prompts(llm, "ONCE-MARKER") == 2  # once per agent, for the one slot
        # each agent ran the slot once, in a session of its own
        rt = await apps.ctx.runtime.fresh()  # type: ignore[union-attr]
        for aid in (first, other):
            sessions = await rt.session_service.list_sessions(app_name=aid, user_id=f"{c['id']}:cron")
            assert len(sessions.sessions) == 1, aid


async def test_schedule_edits_and_disabling_apply_live(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid)
        cmd = await command(apps, "EDIT-MARKER ping")
        far = datetime.now(UTC) + timedelta(days=40)
        c = await client(apps, "cron", [a], {"cron": {"schedule": at(far), "commandId": cmd}})
        cid = c["id"]
        await until(apps, cid, lambda s: s.get("nextRun") == cron_mod.iso(far.replace(microsecond=0)))
        slot = soon(3)
        body = {**c, "config": {"cron": {"schedule": at(slot), "commandId": cmd}}}
        r = await apps.admin.put(f"{A}/clients/{cid}", json=body)
        assert r.status_code == 200, r.text
        st = await until(apps, cid, lambda s: s.get("nextRun") == cron_mod.iso(slot))
        st = await until(apps, cid, lambda s: s.get("lastRun") == cron_mod.iso(slot) and s.get("lastOk") is not None)
        assert st["lastOk"] is True
        # a wrong expression on edit is refused and the job keeps its schedule
        r = await apps.admin.put(f"{A}/clients/{cid}", json={**body, "config": {"cron": {"schedule": "99 * * * *",
                                                                                        "commandId": cmd}}})
        assert r.status_code == 400 and r.json()["field"] == "config.cron.schedule"
        # disabled: the worker stops at once, and an every-second schedule does not fire
        r = await apps.admin.put(f"{A}/clients/{cid}", json={**body, "enabled": False,
                                                              "config": {"cron": {"schedule": "@every 1s",
                                                                                  "commandId": cmd}}})
        assert r.status_code == 200, r.text
        await until(apps, cid, lambda s: not s.get("running"))
        count = await cron_mod.run_count(apps.ctx.store.engine, cid)
        await asyncio.sleep(2.2)
        assert await cron_mod.run_count(apps.ctx.store.engine, cid) == count
        # enabled again: every second
        r = await apps.admin.put(f"{A}/clients/{cid}", json={**body, "enabled": True,
                                                              "config": {"cron": {"schedule": "@every 1s",
                                                                                  "commandId": cmd}}})
        assert r.status_code == 200
        deadline = time.monotonic() + 15
        while await cron_mod.run_count(apps.ctx.store.engine, cid) < count + 2:
            assert time.monotonic() < deadline, "the re-enabled job did not fire"
            await asyncio.sleep(0.2)
        # deleted: stopped
        r = await apps.admin.delete(f"{A}/clients/{cid}")
        assert r.status_code == 204
        supervisor = apps.ctx.extras["clients"]
        deadline = time.monotonic() + 10
        while supervisor.runs_here(cid):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("policy", ["once", "skip"])
async def test_missed_run_after_downtime(tmp_path: Path, llm: FakeServer, policy: str) -> None:
    # The first process must stop before the slot. On a machine too loaded for that, the attempt
    # proves nothing: start over on a fresh data directory with a later slot.
    for lead in (10, 30, 60):
        marker = f"MISSED-{policy}-{lead}"
        data = tmp_path / f"data-{lead}"
        async with running_apps(data) as apps:
            bid = await backend(apps, llm.url)
            a = await agent(apps, bid)
            cmd = await command(apps, f"{marker} digest")
            slot = soon(lead)
            c = await client(apps, "cron", [a], {"cron": {"schedule": at(slot), "commandId": cmd,
                                                          "missedRuns": policy}})
            await until(apps, c["id"], lambda s, at=slot: s.get("connected") and s.get("nextRun") == cron_mod.iso(at))
        if datetime.now(UTC) < slot:
            break
    else:
        pytest.fail("the first process never stopped before its slot")
    # down while the slot passes
    while datetime.now(UTC) <= slot + timedelta(seconds=1):
        await asyncio.sleep(0.2)
    async with running_apps(data) as apps:
        if policy == "once":
            st = await until(apps, c["id"], lambda s: s.get("lastRun") == cron_mod.iso(slot)
                             and s.get("lastOk") is not None)
            assert st["lastOk"] is True
        else:
            await until(apps, c["id"], lambda s: s.get("running"))
            await asyncio.sleep(1.0)
            assert (await status(apps, c["id"])).get("lastRun") is None
        assert await cron_mod.run_count(apps.ctx.store.engine, c["id"]) == (1 if policy == "once" else 0)
    assert prompts(llm, marker) == (1 if policy == "once" else 0)


def test_expressions() -> None:
    utc = UTC
    base = datetime(2026, 1, 15, 10, 30, 0, tzinfo=utc)
    nxt = lambda e, tz=None: cronexpr.parse(e).next_after(base, tz)  # noqa: E731
    assert nxt("*/15 * * * *") == datetime(2026, 1, 15, 10, 45, tzinfo=utc)
    assert nxt("@daily") == datetime(2026, 1, 16, tzinfo=utc)
    assert nxt("@hourly") == datetime(2026, 1, 15, 11, tzinfo=utc)
    assert nxt("0 9 * * mon-fri") == datetime(2026, 1, 16, 9, tzinfo=utc)  # Friday
    assert nxt("0 9 * * 7") == datetime(2026, 1, 18, 9, tzinfo=utc)  # Sunday as 7
    assert nxt("0 0 1 jan *") == datetime(2027, 1, 1, tzinfo=utc)
    assert nxt("0 0 29 2 *") == datetime(2028, 2, 29, tzinfo=utc)
    assert nxt("0 0 13 * 5") == datetime(2026, 1, 16, tzinfo=utc)  # day-of-month OR Friday
    assert nxt("30 10 * * *") == datetime(2026, 1, 16, 10, 30, tzinfo=utc)  # strictly after
    assert nxt("5 30 10 15 1 *") == datetime(2026, 1, 15, 10, 30, 5, tzinfo=utc)  # seconds field
    assert nxt("@every 45s") == datetime(2026, 1, 15, 10, 30, 45, tzinfo=utc)
    madrid = cronexpr.timezone("Europe/Madrid")
    assert nxt("0 12 * * *", madrid) == datetime(2026, 1, 15, 11, 0, tzinfo=utc)  # CET = UTC+1
    # DST: 02:30 does not exist on 2026-03-29 in Madrid, the job runs the next day
    spring = cronexpr.parse("30 2 * * *").next_after(datetime(2026, 3, 28, 12, tzinfo=utc), madrid)
    assert spring == datetime(2026, 3, 30, 0, 30, tzinfo=utc)
    for bad in ("", "* * * *", "60 * * * *", "* 24 * * *", "0 0 31 2 *", "5-1 * * * *", "*/0 * * * *",
                "@sometimes", "x * * * *"):
        with pytest.raises(ValueError):
            cronexpr.parse(bad)
    for bad in ("² * * * *", "*/² * * * *", "1-① * * * *"):  # digits to str.isdigit(), not to int()
        with pytest.raises(ValueError, match=r"^minute: (bad step|'.' is not a number)"):
            cronexpr.parse(bad)
    with pytest.raises(ValueError):
        cronexpr.timezone("Nowhere/Land")


def _next_midnight(expr: str, after: datetime, rule: str) -> datetime:
    """The first 00:00 UTC after ``after`` whose day ``expr`` ("0 0 dom month dow", numbers, ``*``,
    ``*/n``, ``a-b/n`` and lists only) takes: ``rule`` "and" is Magec's ``Schedule.matches`` (every
    field, server/clients/cron/cron.go), "or" is classic cron's for two restricted day fields."""

    def values(field: str, low: int, high: int) -> set[int]:
        out: set[int] = set()
        for item in field.split(","):
            base, _, step = item.partition("/")
            lo, _, hi = base.partition("-")
            start, end = (low, high) if base == "*" else (int(lo), int(hi or lo))
            out.update(range(start, end + 1, int(step or 1)))
        return out

    _, _, dom, month, dow = expr.split()
    days, months, weekdays = values(dom, 1, 31), values(month, 1, 12), values(dow, 0, 6)
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    while True:
        day += timedelta(days=1)
        in_dom, in_dow = day.day in days, day.isoweekday() % 7 in weekdays
        if day.month in months and ((in_dom and in_dow) if rule == "and" else (in_dom or in_dow)):
            return day


async def test_a_step_over_a_whole_day_field_keeps_magecs_and(tmp_path: Path, llm: FakeServer) -> None:
    """A day field written with ``*`` — ``*`` itself or a step over it such as ``*/2`` — does not
    count as restricted (Vixie cron's rule): with the other day field set, a day must match both,
    as Magec's own parser always requires (it does not use robfig/cron, which would take either
    day for ``*/2``). Two explicitly restricted day fields match either (docs/clients.md)."""
    cases = {
        "0 0 */2 * 1": "and",  # the odd days that are Mondays (robfig: odd days or Mondays)
        "0 0 */5 * 1-5": "and",  # days 1, 6, 11, … that are weekdays
        "0 0 13 * */3": "and",  # the 13th when it is a Sunday, Wednesday or Saturday
        "0 0 1-31/2 * 1": "or",  # both restricted: the odd days and every Monday (Magec: both)
        "0 0 13 * 5": "or",
    }
    async with running_apps(tmp_path / "data") as apps:
        cmd = await command(apps, "DAYS-MARKER")
        for expr, rule in cases.items():
            before = datetime.now(UTC)
            c = await client(apps, "cron", [], {"cron": {"schedule": expr, "commandId": cmd}})
            st = await until(apps, c["id"], lambda s: s.get("nextRun"))
            after = datetime.now(UTC)
            expected = {cron_mod.iso(_next_midnight(expr, t, rule)) for t in (before, after)}
            assert st["nextRun"] in expected, (expr, st["nextRun"], expected)


async def test_slot_due_before_the_worker_started_runs_once(tmp_path: Path, llm: FakeServer) -> None:
    """Start-up lag (a busy host, a lease moving): a slot between the client's save and its
    worker's start still runs once, whatever the missed-runs policy; slots before the save never."""
    from magec.clients.supervisor import Supervisor
    from magec.server import client_workers

    async with running_apps(tmp_path / "data", start_clients=False) as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid)
        cmd = await command(apps, "LAG-MARKER run")
        slot = soon(2)
        c = await client(apps, "cron", [a], {"cron": {"schedule": at(slot), "commandId": cmd, "missedRuns": "skip"}})
        while datetime.now(UTC) <= slot + timedelta(seconds=1):
            await asyncio.sleep(0.1)
        sup = Supervisor(apps.ctx, client_workers(), ttl=3)
        apps.ctx.extras["clients"] = sup  # the Admin API's status reads it
        await sup.start()
        st = await until(apps, c["id"], lambda s: s.get("lastRun") == cron_mod.iso(slot) and s.get("lastOk") is not None)
        assert st["lastOk"] is True
        assert await cron_mod.run_count(apps.ctx.store.engine, c["id"]) == 1
        assert prompts(llm, "LAG-MARKER") == 1


async def test_disabled_job_shows_disabled_not_its_last_error(tmp_path: Path, llm: FakeServer) -> None:
    """A job that failed and was then disabled is ``disabled`` at once (the one state an operator
    reads), not ``error`` until a restart; its last error stays readable as history."""
    async with running_apps(tmp_path / "data") as apps:
        cmd = await command(apps, "FAILING-MARKER")
        c = await client(apps, "cron", [], {"cron": {"schedule": "@every 1s", "commandId": cmd}})
        cid = c["id"]
        st = await until(apps, cid, lambda s: s.get("lastOk") is False and s.get("lastError"))
        assert "no allowed agents" in st["lastError"]
        assert st["state"] in ("running", "connected")
        r = await apps.admin.put(f"{A}/clients/{cid}", json={**c, "enabled": False})
        assert r.status_code == 200, r.text
        # the write answers once the worker stopped: the very next read is the new state
        for st in (await status(apps, cid),
                   next(x for x in (await apps.admin.get(f"{A}/clients")).json() if x["id"] == cid)["status"]):
            assert st["state"] == "disabled" and st["running"] is False and st["connected"] is False
            assert "no allowed agents" in st["lastError"] and st["lastErrorAt"]
            assert st.get("nextRun") is None


def test_a_run_cut_off_by_a_crash_shows_as_interrupted(tmp_path: Path) -> None:
    """SIGKILL while a cron run waits for its agent: the next start shows that run failed, its
    result saying it was interrupted (it showed as the last run with no result and no outcome),
    and does not run it again."""
    import httpx

    from magec.testing.fake_providers import Reply
    from magec.testing.server import ServerProcess

    with FakeServer(OpenAIFake("slow")) as slow:
        slow.script(Reply(text="never", delay=300))
        srv = ServerProcess(tmp_path / "d").start()
        try:
            admin = httpx.Client(base_url=srv.admin_url + A, timeout=30)
            b = admin.post("/backends", json={"name": "slow", "type": "openai", "url": slow.url}).json()
            aid = admin.post("/agents", json={"name": "a", "llm": {"backend": b["id"], "model": "m"}}).json()["id"]
            cmd = admin.post("/commands", json={"name": "report", "prompt": "CRASH-MARKER report"}).json()["id"]
            slot = soon(2)
            c = admin.post("/clients", json={"name": "job", "type": "cron", "allowedAgents": [aid], "config": {
                "cron": {"schedule": at(slot), "commandId": cmd, "missedRuns": "once"}}}).json()
            deadline = time.monotonic() + 30
            while not slow.calls():  # the run is with its provider
                assert time.monotonic() < deadline, "the run never reached its provider"
                time.sleep(0.05)
        finally:
            srv.kill()

        with ServerProcess(tmp_path / "d") as again:
            admin = httpx.Client(base_url=again.admin_url + A, timeout=30)
            deadline = time.monotonic() + 30
            st: dict[str, Any] = {}
            # the worker that takes the client over records the dead run's outcome as it starts:
            # until then the view shows the run as it was left (no outcome), so wait for one
            while time.monotonic() < deadline:
                st = admin.get(f"/clients/{c['id']}").json()["status"] or {}
                if st.get("running") and st.get("lastOk") is not None:
                    break
                time.sleep(0.1)
            assert st.get("running"), st
            assert st["lastRun"] == cron_mod.iso(slot), st
            assert st["lastOk"] is False and "interrupted" in st["lastResult"], st
        assert len(slow.calls()) == 1  # not run again


async def test_a_command_written_for_webhooks_runs_on_a_schedule_without_its_placeholders(
        tmp_path: Path, llm: FakeServer) -> None:
    """One command shared by a webhook and a cron client: a scheduled run has no request body, so
    its ``{{body…}}`` placeholders are empty (as a missing value is for a webhook), not sent to
    the model as literal braces."""
    async with running_apps(tmp_path / "data") as apps:
        bid = await backend(apps, llm.url)
        a = await agent(apps, bid, "Reporter")
        cmd = await command(apps, "Report PLACEHOLDER-MARKER on {{body.title}}{{body}}")
        slot = soon(3)
        c = await client(apps, "cron", [a], {"cron": {"schedule": at(slot), "commandId": cmd}})
        st = await until(apps, c["id"], lambda s: s.get("lastRun") == cron_mod.iso(slot) and s.get("lastOk") is not None)
        assert st["lastOk"], st
        sent = [r for r in llm.requests if r.route == "chat" and "PLACEHOLDER-MARKER" in str(r.json)]
        assert sent and "{{" not in str(sent[-1].json), sent[-1].json
        assert st["lastResult"].rstrip() == "cronllm says: Report PLACEHOLDER-MARKER on"
