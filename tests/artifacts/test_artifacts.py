"""Artifacts end to end: an agent saves files through its tools (scripted tool calls on the fake
OpenAI provider), the owner lists and downloads them through ADK's routes and signed links, another
client sees nothing, limits answer with the limit's name."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx

from magec.artifacts.runtime_hook import Artifacts
from magec.artifacts.service import stored_size
from magec.artifacts.signing import Claims
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.backup.helpers import members, tar_gz

A = "/api/v1/admin"
U = "/api/v1/agent"
TOOLS = {"artifact_agent_tools": True, "public_url": "http://user"}
PAYLOAD = 20_000


async def setup(apps: Apps, llm: FakeServer) -> tuple[str, dict[str, str], dict[str, str], str]:
    """An agent, two clients allowed to use it: (agent id, headers of A, headers of B, A's id)."""
    b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                       "apiKey": "sk-test"})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "Writer", "llm": {"backend": b["id"], "model": "m"}})
    assert r.status_code in (200, 201), r.text
    aid = r.json()["id"]
    ca = (await apps.admin.post(f"{A}/clients", json={"name": "CA", "allowedAgents": [aid]})).json()
    cb = (await apps.admin.post(f"{A}/clients", json={"name": "CB", "allowedAgents": [aid]})).json()
    return aid, {"Authorization": f"Bearer {ca['token']}"}, {"Authorization": f"Bearer {cb['token']}"}, ca["id"]


async def run(apps: Apps, aid: str, headers: dict[str, str], text: str, session: str = "s1",
              user: str = "u1") -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", headers=headers, json={
        "appName": aid, "userId": user, "sessionId": session,
        "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    assert not any(e.get("errorCode") for e in events), events
    return events


def tool_result(events: list[dict[str, Any]]) -> Any:
    found = [p["functionResponse"]["response"] for e in events for p in (e.get("content") or {}).get("parts", [])
             if "functionResponse" in p]
    assert len(found) == 1, events
    return found[0]


def chats(llm: FakeServer) -> list[Any]:
    return [r for r in llm.requests if r.route == "chat"]


def save_call(name: str, content: str, **extra: Any) -> str:
    return "call save_artifact " + json.dumps({"name": name, "content": content, **extra})


async def test_agent_saves_owner_downloads_others_see_nothing(tmp_path: Path, db_url: str, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data", database_url=db_url, config=TOOLS) as apps:
        aid, ha, hb, ca_id = await setup(apps, llm)
        # the agent is offered Magec's tools, with their paragraph
        events = await run(apps, aid, ha, save_call("report.md", "# First"))
        first = chats(llm)[0]  # (the health monitor's model listings are requests too)
        offered = {t["function"]["name"] for t in first.json["tools"]}
        assert {"save_artifact", "load_artifact", "list_artifacts", "get_artifact_url"} <= offered
        assert "save_artifact" in first.json["messages"][0]["content"]
        assert tool_result(events) == {"success": True, "version": 0, "message":
                                       "Artifact 'report.md' saved (version 0). It will be delivered to the user as a file."}
        assert any((e.get("actions") or {}).get("artifactDelta") == {"report.md": 0} for e in events)
        assert tool_result(await run(apps, aid, ha, save_call("report.md", "# Second")))["version"] == 1
        # the agent reads it back and lists it
        assert tool_result(await run(apps, aid, ha, 'call load_artifact {"name": "report.md"}'))["content"] == "# Second"
        listed = tool_result(await run(apps, aid, ha, "call list_artifacts {}"))
        assert listed["artifacts"] == ["report.md"] and listed["count"] == 1

        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        assert (await apps.user.get(base, headers=ha)).json() == ["report.md"]
        latest = (await apps.user.get(f"{base}/report.md", headers=ha)).json()
        assert set(latest) == {"inlineData"} and latest["inlineData"]["mimeType"] == "text/markdown"
        assert base64.b64decode(latest["inlineData"]["data"]) == b"# Second"
        first = (await apps.user.get(f"{base}/report.md/versions/0", headers=ha)).json()
        assert base64.b64decode(first["inlineData"]["data"]) == b"# First"
        assert (await apps.user.get(f"{base}/report.md?version=0", headers=ha)).json() == first
        assert (await apps.user.get(f"{base}/report.md/versions", headers=ha)).json() == [0, 1]
        meta = (await apps.user.get(f"{base}/report.md/versions/latest/metadata", headers=ha)).json()
        assert meta["version"] == 1 and meta["mimeType"] == "text/markdown" and "canonicalUri" in meta
        assert len((await apps.user.get(f"{base}/report.md/versions/metadata", headers=ha)).json()) == 2
        r = await apps.user.get(f"{base}/report.md/versions/x", headers=ha)
        assert r.status_code == 400 and "version" in r.text

        # another client's user with the same ids: nothing listed, nothing found, nothing deleted
        assert (await apps.user.get(base, headers=hb)).json() == []
        assert (await apps.user.get(f"{base}/report.md", headers=hb)).status_code == 404
        assert (await apps.user.get(f"{base}/report.md/url", headers=hb)).status_code == 404
        assert (await apps.user.delete(f"{base}/report.md", headers=hb)).status_code == 204
        assert (await apps.user.get(base, headers=ha)).json() == ["report.md"]
        assert (await apps.user.get(base)).status_code == 401  # no token

        # the playground sees the same artifact under the stored owner key
        owner = f"{ca_id}:u1"
        r = await apps.admin.get(f"{A}/agent/apps/{aid}/users/{owner}/sessions/s1/artifacts/report.md/versions")
        assert r.status_code == 200 and r.json() == [0, 1]

        # a signed link: no credential needed, that version only, passive headers
        link = (await apps.user.get(f"{base}/report.md/url?version=0", headers=ha)).json()
        assert link["url"].startswith("http://user/api/v1/ephemeral/artifacts/") and link["version"] == 0
        r = await apps.user.get(link["url"])
        assert r.status_code == 200 and r.content == b"# First"
        assert r.headers["content-type"].startswith("text/markdown")
        assert r.headers["x-content-type-options"] == "nosniff"
        # the agent's own tool mints one too (from server.publicURL)
        got = tool_result(await run(apps, aid, ha, 'call get_artifact_url {"name": "report.md"}'))
        assert got["success"] and got["version"] == 1
        assert (await apps.user.get(got["url"])).content == b"# Second"

        # delete by the owner: every version gone, links dead
        assert (await apps.user.delete(f"{base}/report.md", headers=ha)).status_code == 204
        assert (await apps.user.get(base, headers=ha)).json() == []
        assert (await apps.user.get(link["url"])).status_code == 404


async def test_links_tampered_expired_and_active_content(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data", config=TOOLS) as apps:
        aid, ha, _, ca_id = await setup(apps, llm)
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        page = base64.b64encode(b"<script>alert(1)</script>").decode()
        r = await apps.user.post(base, headers=ha, json={
            "filename": "x.html", "artifact": {"inlineData": {"mimeType": "text/html", "data": page}},
            "customMetadata": {"from": "test"}})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 0 and r.json()["customMetadata"] == {"from": "test"}
        url = (await apps.user.get(f"{base}/x.html/url", headers=ha)).json()["url"]
        r = await apps.user.get(url)
        assert r.status_code == 200 and r.content == b"<script>alert(1)</script>"
        # never rendered as HTML on this origin
        assert r.headers["content-type"].startswith("text/plain")
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["x-content-type-options"] == "nosniff" and "sandbox" in r.headers["content-security-policy"]
        svg = base64.b64encode(b"<svg onload=alert(1)/>").decode()
        await apps.user.post(base, headers=ha, json={"filename": "i.svg",
                                                     "artifact": {"inlineData": {"mimeType": "image/svg+xml", "data": svg}}})
        r = await apps.user.get((await apps.user.get(f"{base}/i.svg/url", headers=ha)).json()["url"])
        assert r.headers["content-disposition"].startswith("attachment;")

        token = url.rsplit("/", 1)[1]
        flipped = token[:-4] + ("A" if token[-4] != "A" else "B") + token[-3:]
        for bad in (flipped, token[:-2], token[:30], "x.y", "a.b.c", "x"):
            r = await apps.user.get(f"/api/v1/ephemeral/artifacts/{bad}")
            assert r.status_code == 403 and r.content == b"", bad
        arts = apps.ctx.extras["artifacts"]
        assert isinstance(arts, Artifacts)
        expired = arts.signer.mint(Claims(aid, f"{ca_id}:u1", "s1", "x.html", 0, time.time() - 1))
        r = await apps.user.get(f"/api/v1/ephemeral/artifacts/{expired}")
        assert r.status_code == 410 and r.content == b""
        # a link for a version that does not exist
        missing = arts.signer.mint(Claims(aid, f"{ca_id}:u1", "s1", "x.html", 7, time.time() + 60))
        assert (await apps.user.get(f"/api/v1/ephemeral/artifacts/{missing}")).status_code == 404


async def test_limits_name_the_limit(tmp_path: Path, llm: FakeServer) -> None:
    # two 40-byte versions fit the session's bytes, a third of 30 bytes does not, one of 1 byte does
    # (app and client ids are 36 characters; the text is stored with "{}" as its metadata)
    def cost(text: int) -> int:
        return stored_size("a" * 36, "c" * 36 + ":u1", "s1", "f0.txt", text + 2)

    session_bytes = 2 * cost(40) + cost(1)
    limits = {**TOOLS, "artifact_max_bytes": 64, "artifact_max_per_session": 3, "artifact_max_session_bytes": session_bytes}
    async with running_apps(tmp_path / "data", config=limits) as apps:
        aid, ha, _, ca_id = await setup(apps, llm)
        assert len(aid) == len(ca_id) == 36
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        # an agent's save over the size limit is a tool result the model can read
        res = tool_result(await run(apps, aid, ha, save_call("big.txt", "x" * 63)))
        assert res["success"] is False and "artifacts.maxBytes" in res["message"]
        r = await apps.user.post(base, headers=ha, json={"filename": "big.txt", "artifact": {"text": "x" * 63}})
        assert r.status_code == 413 and "artifacts.maxBytes" in r.json()["error"]
        # total bytes per session
        for i in range(2):
            r = await apps.user.post(base, headers=ha, json={"filename": f"f{i}.txt", "artifact": {"text": "y" * 40}})
            assert r.status_code == 200, r.text
        r = await apps.user.post(base, headers=ha, json={"filename": "f2.txt", "artifact": {"text": "z" * 30}})
        assert r.status_code == 413 and "artifacts.maxSessionBytes" in r.json()["error"]
        # versions per session
        assert (await apps.user.post(base, headers=ha, json={"filename": "f0.txt", "artifact": {"text": "a"}})).status_code == 200
        r = await apps.user.post(base, headers=ha, json={"filename": "f0.txt", "artifact": {"text": "b"}})
        assert r.status_code == 413 and "artifacts.maxPerSession" in r.json()["error"]
        res = tool_result(await run(apps, aid, ha, save_call("n.txt", "c")))
        assert res["success"] is False and "artifacts.maxPerSession" in res["message"]
        # another session has its own quota
        r = await apps.user.post(f"{U}/apps/{aid}/users/u1/sessions/s2/artifacts", headers=ha,
                                 json={"filename": "f0.txt", "artifact": {"text": "b"}})
        assert r.status_code == 200
        # bad bodies name the field
        r = await apps.user.post(base, headers=ha, json={"artifact": {"text": "b"}})
        assert r.status_code == 400 and "filename" in r.json()["error"]
        r = await apps.user.post(base, headers=ha, json={"filename": "e", "artifact": {}})
        assert r.status_code == 400 and "artifact" in r.json()["error"]


async def test_a_client_cannot_fill_the_disk_with_invented_users(tmp_path: Path, db_url: str, llm: FakeServer) -> None:
    """Sessions need not exist and a client names its users: the per-client total holds anyway,
    the per-user one holds across sessions, and other clients are untouched."""
    # 20 kB versions: their keys (< 1 kB) leave 2 in the per-user total and 4 in the per-client one
    one = PAYLOAD
    limits = {"artifact_max_user_bytes": int(2.5 * one), "artifact_max_client_bytes": int(4.5 * one)}
    async with running_apps(tmp_path / "data", database_url=db_url, config=limits) as apps:
        aid, ha, hb, _ = await setup(apps, llm)
        body = {"filename": "f.bin", "artifact": {"inlineData": {"mimeType": "application/octet-stream",
                                                                 "data": base64.b64encode(b"x" * PAYLOAD).decode()}}}

        async def save(headers: dict[str, str], user: str, session: str) -> httpx.Response:
            return await apps.user.post(f"{U}/apps/{aid}/users/{user}/sessions/{session}/artifacts",
                                        headers=headers, json=body)

        assert (await save(ha, "u1", "a")).status_code == 200
        assert (await save(ha, "u1", "b")).status_code == 200
        r = await save(ha, "u1", "c")
        assert r.status_code == 413 and "artifacts.maxUserBytes" in r.json()["error"], r.text
        assert (await save(ha, "u2", "never-created-1")).status_code == 200
        assert (await save(ha, "u3", "never-created-2")).status_code == 200
        r = await save(ha, "u4", "never-created-3")
        assert r.status_code == 413 and "artifacts.maxClientBytes" in r.json()["error"], r.text
        # the other client, with the same user and session names, is untouched
        assert (await save(hb, "u4", "never-created-3")).status_code == 200
        # deleting gives the room back
        r = await apps.user.delete(f"{U}/apps/{aid}/users/u3/sessions/never-created-2/artifacts/f.bin", headers=ha)
        assert r.status_code in (200, 204), r.text
        assert (await save(ha, "u4", "never-created-3")).status_code == 200


async def test_concurrent_saves_of_one_client_cannot_overrun_its_total(
    tmp_path: Path, db_url: str, llm: FakeServer
) -> None:
    """Twenty users of one client save at once through two replicas of one database: exactly what
    fits is kept, the rest is refused (on PostgreSQL the saves of one client queue on an advisory
    lock; on SQLite the database's write lock orders them)."""
    limits = {"artifact_max_client_bytes": int(2.5 * PAYLOAD)}
    async with running_apps(tmp_path / "a", database_url=db_url, config=limits) as one, \
            running_apps(tmp_path / "b", database_url=db_url, config=limits) as two:
        aid, ha, _, _ = await setup(one, llm)
        body = {"filename": "f.bin", "artifact": {"inlineData": {"mimeType": "application/octet-stream",
                                                                 "data": base64.b64encode(b"x" * PAYLOAD).decode()}}}
        answers = await asyncio.gather(*(
            replica.user.post(f"{U}/apps/{aid}/users/u{i:02}/sessions/s/artifacts", headers=ha, json=body)
            for i, replica in enumerate([one, two] * 10)))
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 200] + [413] * 18, [r.text for r in answers if r.status_code not in (200, 413)]


async def test_artifacts_restored_from_an_older_backup_count_for_their_client(
    tmp_path: Path, db_url: str, llm: FakeServer
) -> None:
    """An archive from before the per-client totals has no ``client`` column in its artifact rows:
    after a restore those artifacts still count against their client."""
    limits = {"artifact_max_client_bytes": int(3.5 * PAYLOAD)}  # three versions fit, four do not
    async with running_apps(tmp_path / "data", database_url=db_url, config=limits) as apps:
        aid, ha, _, _ = await setup(apps, llm)
        body = {"filename": "f.bin", "artifact": {"inlineData": {"mimeType": "application/octet-stream",
                                                                 "data": base64.b64encode(b"x" * PAYLOAD).decode()}}}
        for user in ("u1", "u2"):
            r = await apps.user.post(f"{U}/apps/{aid}/users/{user}/sessions/s/artifacts", headers=ha, json=body)
            assert r.status_code == 200, r.text
        r = await apps.admin.get(f"{A}/settings/backup?include=artifacts")
        assert r.status_code == 200, r.text
        files = members(r.content)
        rows = [json.loads(line) for line in files["tables/artifacts/artifacts.jsonl"].splitlines()]
        assert [row.pop("client") for row in rows] == [rows[0]["user_id"].split(":")[0]] * 2
        files["tables/artifacts/artifacts.jsonl"] = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
        r = await apps.admin.post(f"{A}/settings/restore?include=artifacts", content=tar_gz(files),
                                  headers={"content-type": "application/gzip"})
        assert r.status_code == 200, r.text
        r = await apps.user.post(f"{U}/apps/{aid}/users/u3/sessions/s/artifacts", headers=ha, json=body)
        assert r.status_code == 200, r.text
        r = await apps.user.post(f"{U}/apps/{aid}/users/u4/sessions/s/artifacts", headers=ha, json=body)
        assert r.status_code == 413 and "artifacts.maxClientBytes" in r.json()["error"], r.text


async def test_tools_off_by_default_service_still_wired(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        aid, ha, _, _ = await setup(apps, llm)
        await run(apps, aid, ha, "hello")
        last = chats(llm)[-1].json
        assert not last.get("tools") and "save_artifact" not in json.dumps(last)
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        assert (await apps.user.post(base, headers=ha, json={"filename": "user:notes.txt",
                                                             "artifact": {"text": "hi"}})).status_code == 200
        # user-scoped: listed in every session of that user
        assert (await apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/other/artifacts", headers=ha)).json() == [
            "user:notes.txt"]


async def test_flow_steps_save_artifacts(tmp_path: Path, llm: FakeServer) -> None:
    """A flow's runner has the artifact service too: its agent step saves, the flow's session lists."""
    async with running_apps(tmp_path / "data", config=TOOLS) as apps:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                           "apiKey": "sk-test"})).json()
        aid = (await apps.admin.post(f"{A}/agents", json={"name": "Step", "llm": {"backend": b["id"], "model": "m"}})).json()["id"]
        r = await apps.admin.post(f"{A}/flows", json={"name": "Pipeline", "root": {"type": "sequential", "steps": [
            {"type": "agent", "agentId": aid, "responseAgent": True}]}})
        assert r.status_code in (200, 201), r.text
        fid = r.json()["id"]
        r = await apps.user.post(f"{U}/run", json={"appName": fid, "userId": "u", "sessionId": "f1", "newMessage": {
            "role": "user", "parts": [{"text": save_call("plan.md", "1. steps")}]}})
        assert r.status_code == 200, r.text
        base = f"{U}/apps/{fid}/users/u/sessions/f1/artifacts"
        assert (await apps.user.get(base)).json() == ["plan.md"]
        part = (await apps.user.get(f"{base}/plan.md")).json()
        assert base64.b64decode(part["inlineData"]["data"]) == b"1. steps"


async def test_values_wider_than_the_columns_are_4xx(tmp_path: Path, db_url: str, llm: FakeServer) -> None:
    """A session id, mime type or version the artifact table cannot hold is the client's mistake:
    a 4xx naming it, never a database error (PostgreSQL refuses over-long VARCHARs, both engines
    a version past the INTEGER column)."""
    async with running_apps(tmp_path / "data", database_url=db_url) as apps:
        aid, ha, _, _ = await setup(apps, llm)
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        r = await apps.user.post(f"{U}/apps/{aid}/users/u1/sessions/{'s' * 300}/artifacts", headers=ha,
                                 json={"filename": "a.txt", "artifact": {"text": "hi"}})
        assert r.status_code == 400 and r.json()["field"] == "sessionId", r.text
        r = await apps.user.get(f"{U}/apps/{aid}/users/u1/sessions/{'s' * 300}/artifacts/a.txt", headers=ha)
        assert r.status_code == 400 and r.json()["field"] == "sessionId", r.text
        r = await apps.user.post(base, headers=ha, json={
            "filename": "a.bin", "artifact": {"inlineData": {"mimeType": "x/" + "y" * 300, "data": "aGk="}}})
        assert r.status_code == 400 and r.json()["field"] == "inlineData.mimeType", r.text
        assert (await apps.user.post(base, headers=ha, json={"filename": "a.txt", "artifact": {"text": "hi"}})
                ).status_code == 200
        huge = 10**20
        for path in (f"{base}/a.txt?version={huge}", f"{base}/a.txt/url?version={huge}",
                     f"{base}/a.txt/versions/{huge}", f"{base}/a.txt/versions/{huge}/metadata"):
            r = await apps.user.get(path, headers=ha)
            assert r.status_code == 404, (path, r.text)


async def test_a_mime_type_that_is_no_media_type_downloads_as_octet_stream(tmp_path: Path, llm: FakeServer) -> None:
    """The mime type is the saver's (a client or a model) text: one that cannot be a header value
    (control characters, non-Latin-1) or is no ``type/subtype`` made the download a 500 or a dropped
    connection; it is served as an ``application/octet-stream`` attachment instead."""
    async with running_apps(tmp_path / "data") as apps:
        aid, ha, _, _ = await setup(apps, llm)
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        weird = ["audio/x\r\nX-Injected: 1", "audio/\u20ac", "image/png\x01", "video/x y", "audio", "image/png/x"]
        for i, mime in enumerate(weird):
            r = await apps.user.post(base, headers=ha, json={
                "filename": f"f{i}", "artifact": {"inlineData": {"mimeType": mime, "data": "aGk="}}})
            assert r.status_code == 200, r.text
            url = (await apps.user.get(f"{base}/f{i}/url", headers=ha)).json()["url"]
            r = await apps.user.get(url)
            assert r.status_code == 200 and r.content == b"hi", mime
            assert r.headers["content-type"] == "application/octet-stream", mime
            assert r.headers["content-disposition"].startswith("attachment;"), mime
            assert "x-injected" not in r.headers
        # a real media type with parameters keeps its type
        await apps.user.post(base, headers=ha, json={
            "filename": "ok.ogg", "artifact": {"inlineData": {"mimeType": "Audio/Ogg; codecs=opus", "data": "aGk="}}})
        r = await apps.user.get((await apps.user.get(f"{base}/ok.ogg/url", headers=ha)).json()["url"])
        assert r.headers["content-type"] == "audio/ogg" and r.headers["content-disposition"].startswith("inline;")


async def test_a_deleted_artifacts_link_stays_dead_when_the_name_is_reused(
    tmp_path: Path, db_url: str, llm: FakeServer
) -> None:
    """Versions restart at 0 after a delete: a link handed out for the old version 0 must not serve
    the new artifact that took its name (the link's holder was never given that content)."""
    async with running_apps(tmp_path / "data", database_url=db_url, config=TOOLS) as apps:
        aid, ha, _, _ = await setup(apps, llm)
        base = f"{U}/apps/{aid}/users/u1/sessions/s1/artifacts"
        await apps.user.post(base, headers=ha, json={"filename": "report.md", "artifact": {"text": "shared draft"}})
        link = (await apps.user.get(f"{base}/report.md/url", headers=ha)).json()["url"]
        tool_link = tool_result(await run(apps, aid, ha, 'call get_artifact_url {"name": "report.md"}'))["url"]
        for url in (link, tool_link):
            assert (await apps.user.get(url)).text == "shared draft"
        assert (await apps.user.delete(f"{base}/report.md", headers=ha)).status_code == 204
        r = await apps.user.post(base, headers=ha, json={"filename": "report.md", "artifact": {"text": "private"}})
        assert r.status_code == 200 and r.json()["version"] == 0
        for url in (link, tool_link):
            r = await apps.user.get(url)
            assert r.status_code == 404 and r.content == b"", url
        # a link minted now serves the new version
        fresh = (await apps.user.get(f"{base}/report.md/url", headers=ha)).json()["url"]
        assert (await apps.user.get(fresh)).text == "private"


async def test_a_client_is_never_shown_its_stored_owner_key(tmp_path: Path, llm: FakeServer) -> None:
    """docs/security.md: responses show a client its own user id (``alice``), never the stored
    ``<clientId>:alice`` — artifact metadata's ``canonicalUri`` included, on every route that
    answers it; the admin playground still sees the stored id it addresses."""
    async with running_apps(tmp_path / "data") as apps:
        aid, ha, _, ca_id = await setup(apps, llm)
        base = f"{U}/apps/{aid}/users/alice/sessions/s1/artifacts"
        saved = await apps.user.post(base, headers=ha, json={"filename": "n.txt", "artifact": {"text": "hi"}})
        assert saved.status_code == 200, saved.text
        answers = [saved, *[await apps.user.get(f"{base}/n.txt/{tail}", headers=ha)
                            for tail in ("versions/metadata", "versions/0/metadata", "versions/latest/metadata")]]
        for r in answers:
            assert r.status_code == 200 and ca_id not in r.text, r.text
        expected = f"artifact://apps/{aid}/users/alice/sessions/s1/artifacts/n.txt/versions/0"
        assert saved.json()["canonicalUri"] == expected
        stored = f"/api/v1/admin/agent/apps/{aid}/users/{ca_id}:alice/sessions/s1/artifacts/n.txt/versions/0/metadata"
        admin = (await apps.admin.get(stored)).json()
        assert admin["canonicalUri"] == expected.replace("/users/alice/", f"/users/{ca_id}:alice/")
