"""Backup of a populated server restored into an empty one: identical Admin API, working agents;
failed restores (bad item, other key, damaged archive) change nothing; dry runs only report."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path

import pytest

from magec.resources import KINDS
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer
from tests.backup.helpers import A, U, admin_view, create, members, populate, restore, tar_gz, with_resource


async def _backup(apps: Apps, query: str = "") -> bytes:
    r = await apps.admin.get(f"{A}/settings/backup{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/gzip"
    assert r.headers["content-disposition"].startswith('attachment; filename="magec-backup-')
    return r.content


def _run(app: str, text: str, session: str = "s1") -> dict[str, object]:
    return {"appName": app, "userId": "u", "sessionId": session, "newMessage": {"parts": [{"text": text}]}}


async def test_round_trip_into_an_empty_server(tmp_path: Path, provider: FakeServer) -> None:
    async with running_apps(tmp_path / "a") as a:
        made = await populate(a, provider.url)
        token = {"Authorization": f"Bearer {made['token']}"}
        r = await a.user.post(f"{U}/run", json=_run(made["plain"]["id"], "before"), headers=token)
        assert r.status_code == 200, r.text
        expected = await admin_view(a)
        archive = await _backup(a, "?include=sessions,memories")
    files = members(archive)
    manifest = json.loads(files["manifest.json"])
    # every kind is in the archive, including kinds added after this test was written
    assert set(manifest["kinds"]) == set(KINDS)
    assert {f"resources/{k}.json" for k in KINDS} <= set(files)
    # secrets stay encrypted inside the archive
    text = b"".join(files.values())
    for clear in (b"sk-backup-secret-1", b"t-secret-42", b"mcp-secret-7"):
        assert clear not in text
    assert b"enc:v1:" in files["resources/secrets.json"]

    async with running_apps(tmp_path / "b") as b:
        assert (await b.admin.get(f"{A}/agents")).json() == []
        r = await restore(b, archive)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "restored"
        assert body["changes"]["agents"]["created"] == [made["agent"]["id"], made["plain"]["id"]]
        assert body["sections"]["sessions"]["session_sessions"] == 1
        assert body["sections"]["skills"] == {"skill_files": 1}
        assert await admin_view(b) == expected
        # a subsystem's own table (skills' files) came along with its resources
        r = await b.admin.get(f"{A}/skills/{made['skill']['id']}/references/guide.md")
        assert r.status_code == 200 and r.content == b"# Guide\nUse short words.", r.text
        # the restored client's token, agent, backend (with its secret-referencing key) all work at once
        r = await b.user.post(f"{U}/run", json=_run(made["plain"]["id"], "after"), headers=token)
        assert r.status_code == 200, r.text
        assert "fake-llm says: after" in r.text
        assert provider.requests[-1].headers["authorization"] == "Bearer sk-backup-secret-1"
        assert provider.requests[-1].headers["x-team"] == "t-secret-42"
        # the session of the first server came along
        r = await b.user.get(f"{U}/apps/{made['plain']['id']}/users/u/sessions/s1", headers=token)
        assert r.status_code == 200, r.text
        texts = json.dumps(r.json()["events"])
        assert "before" in texts and "after" in texts
        r = await b.user.post(f"{U}/run", json=_run(made["flow"]["id"], "flowing", "s2"), headers=token)
        assert r.status_code == 200 and "fake-llm says: flowing" in r.text


async def test_bad_item_at_the_end_changes_nothing(tmp_path: Path, provider: FakeServer) -> None:
    async with running_apps(tmp_path / "a") as a:
        await populate(a, provider.url)
        archive = await _backup(a)
    broken = with_resource(archive, "agents", {"id": "last-one", "createdAt": None, "updatedAt": None,
                                               "data": {"name": "Broken", "llm": {"backend": "nope", "model": "x"}}})
    async with running_apps(tmp_path / "b") as b:
        keep = await create(b, "agents", {"name": "Already here"})
        before = await admin_view(b)
        epoch = (await b.admin.get(f"{A}/overview")).json()["epoch"]
        r = await restore(b, broken)
        assert r.status_code == 400, r.text
        err = r.json()
        assert "agents 'Broken' (last-one)" in err["error"] and "llm.backend" in err["error"]
        assert err["field"] == "agents[last-one].llm.backend"
        assert await admin_view(b) == before
        assert (await b.admin.get(f"{A}/overview")).json()["epoch"] == epoch
        assert [x["id"] for x in (await b.admin.get(f"{A}/agents")).json()] == [keep["id"]]


async def test_other_encryption_key_is_refused(tmp_path: Path, provider: FakeServer) -> None:
    async with running_apps(tmp_path / "a") as a:
        await populate(a, provider.url)
        archive = await _backup(a)
    async with running_apps(tmp_path / "b", encryption_key="another-key") as b:
        before = await admin_view(b)
        for query in ("", "?dryRun=true"):
            r = await restore(b, archive, query)
            assert r.status_code == 400, r.text
            assert r.json()["code"] == "backup_key_mismatch"
            assert r.json()["field"] == "server.encryptionKey"
            assert "server.encryptionKey" in r.json()["error"]
        assert await admin_view(b) == before


async def test_dry_run_reports_and_changes_nothing(tmp_path: Path, provider: FakeServer) -> None:
    async with running_apps(tmp_path / "a") as a:
        made = await populate(a, provider.url)
        archive = await _backup(a)
        # after the backup: one agent renamed, one command added, the flow deleted
        r = await a.admin.put(f"{A}/agents/{made['plain']['id']}", json={**made["plain"], "name": "Renamed"})
        assert r.status_code == 200, r.text
        extra = await create(a, "commands", {"name": "Extra", "prompt": "x"})
        assert (await a.admin.delete(f"{A}/flows/{made['flow']['id']}?force=true")).status_code == 204
        before = await admin_view(a)
        r = await restore(a, archive, "?dryRun=true")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "dryRun"
        assert body["changes"]["agents"] == {"created": [], "updated": [made["plain"]["id"]], "deleted": [],
                                             "unchanged": 1}
        assert body["changes"]["commands"]["deleted"] == [extra["id"]]
        assert body["changes"]["flows"]["created"] == [made["flow"]["id"]]
        # re-encrypted secrets are not "changes"
        assert body["changes"]["secrets"] == {"created": [], "updated": [], "deleted": [], "unchanged": 1}
        assert body["settings"] == "unchanged"
        assert await admin_view(a) == before
        # the real restore does what the dry run said, as one configuration change (one epoch)
        epoch = (await a.admin.get(f"{A}/overview")).json()["epoch"]
        r = await restore(a, archive)
        assert r.status_code == 200, r.text
        assert r.json()["epoch"] == epoch + 1 == (await a.admin.get(f"{A}/overview")).json()["epoch"]
        assert (await a.admin.get(f"{A}/agents/{made['plain']['id']}")).json()["name"] == "Plain"
        assert (await a.admin.get(f"{A}/commands/{extra['id']}")).status_code == 404
        assert (await a.admin.get(f"{A}/flows/{made['flow']['id']}")).status_code == 200


def _manifest(**fields: object) -> bytes:
    return json.dumps({"format": "magec-backup", "version": 2, **fields}).encode()


def _corrupt(archive: bytes) -> bytes:
    """``archive`` with bytes in the middle of its compressed data flipped (a bad disk, a bad copy)."""
    mid = len(archive) // 2
    return archive[:mid] + bytes(b ^ 0x5A for b in archive[mid:mid + 16]) + archive[mid + 16:]


_BIG = tar_gz({"manifest.json": _manifest(), "resources/commands.json": json.dumps(
    [{"id": f"c{i}", "data": {"name": f"Command {i}", "prompt": f"say {i} " * 40}} for i in range(300)]).encode()})


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"no", "the upload is not gzip-compressed"),
        (gzip.decompress(tar_gz({"manifest.json": _manifest()})), "the upload is a plain .tar archive (not gzip-compressed)"),
        (b"PK\x03\x04" + b"\0" * 64, "the upload is a .zip archive"),
        (b'{"agents": []}', "the upload is JSON text"),
        (gzip.compress(b"just some text, no tar archive in here " * 40), "it is gzip-compressed but holds no tar archive"),
        (_BIG[: len(_BIG) // 2], "the archive ends too early: it was cut short"),
        (_corrupt(_BIG), "the archive's compressed data is corrupt"),
        (tar_gz({"notes.txt": b"hello"}), "holds neither manifest.json (a magec backup) nor store.json (a Magec backup) at its root"),
        (tar_gz({"magec-backup-20260101/manifest.json": _manifest()}), "must be at the root of the archive, found 'magec-backup-20260101/manifest.json'"),
        (tar_gz({"manifest.json": _manifest(format="other")}), 'format is "other", not "magec-backup"'),
        (tar_gz({"manifest.json": _manifest(version=9)}), "format version 9 was written by a newer magec (this one reads up to 2)"),
    ],
    ids=["not-gzip", "plain-tar", "zip", "json", "gzip-not-tar", "cut-short", "corrupt", "no-manifest", "in-a-folder",
         "other-format", "newer-version"],
)
async def test_a_malformed_archive_is_refused_in_words(sqlite_apps: Apps, content: bytes, says: str) -> None:
    """Someone posts the wrong file (a .zip, the .tar before gzip, a half-downloaded copy, a backup
    repacked from its folder, one from a newer magec): the 400 names ``backup`` and says what the file
    is in words. It quoted Python's error ("Not a gzipped file (b'no')", "invalid header",
    "Compressed file ended before the end-of-stream marker was reached"); nothing is changed."""
    r = await restore(sqlite_apps, content)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == "backup" and body["code"] == "validation_error", body
    assert says in body["error"], body["error"]
    for python in ("b'", "gzipped file", "invalid header", "end-of-stream", "Error", "zlib"):
        assert python not in body["error"], body["error"]


@pytest.mark.parametrize(
    ("content", "ctype", "status", "fragment"),
    [
        (b"not gzip at all", "application/gzip", 400, "not a .tar.gz archive: the upload is not gzip-compressed"),
        (b"", "application/gzip", 400, "empty"),
        # the refusal names what this route takes (an archive), not the voice routes' types
        (b"{}", "text/plain", 415, "Content-Type must be application/gzip or application/octet-stream, got"),
    ],
)
async def test_bad_uploads(sqlite_apps: Apps, content: bytes, ctype: str, status: int, fragment: str) -> None:
    r = await sqlite_apps.admin.post(f"{A}/settings/restore", content=content, headers={"content-type": ctype})
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]


async def test_archive_without_store_or_manifest(sqlite_apps: Apps) -> None:
    r = await restore(sqlite_apps, tar_gz({"hello.txt": b"hi"}))
    assert r.status_code == 400 and r.json()["field"] == "backup", r.text


async def test_unknown_include_names_it(sqlite_apps: Apps) -> None:
    r = await sqlite_apps.admin.get(f"{A}/settings/backup?include=sessions,nope")
    assert r.status_code == 400 and "'nope'" in r.json()["error"] and r.json()["field"] == "include"


async def test_upload_limit(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "a", config={"backup_limit_bytes": 4096}) as a:
        r = await restore(a, b"\x1f\x8b" + b"0" * 5000)
        assert r.status_code == 413, r.text


async def test_restores_a_magec_backup(sqlite_apps: Apps, provider: FakeServer) -> None:
    """A Magec (Go) archive: store.json at the root, conversations and skills beside it."""
    store = {
        "backends": [{"id": "b1", "name": "Fake", "type": "openai", "url": provider.url, "apiKey": "sk-magec-1"}],
        "agents": [{"id": "a1", "name": "Go agent", "llm": {"backend": "b1", "model": "m"}}],
        "secrets": [{"id": "s1", "name": "Old", "key": "OLD", "value": "enc:v1:unreadable"},
                    {"id": "s2", "name": "Blank", "key": "BLANK_KEY", "value": ""}],
        "clients": [{"id": "c1", "name": "Bot", "type": "direct", "token": "mgc_magec_token_1234567890",
                     "allowedAgents": ["a1"]}],
        "settings": {"sessionProvider": ""},
    }
    archive = tar_gz({"store.json": json.dumps(store).encode(), "conversations.json": b"[]",
                      "skills/x/SKILL.md": b"# x"})
    r = await restore(sqlite_apps, archive)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["origin"] == "magec-go"
    assert any("OLD" in w for w in body["warnings"]) and any("conversations" in w for w in body["warnings"])
    assert any("'BLANK_KEY'" in w and "empty" in w for w in body["warnings"]), body["warnings"]
    r = await sqlite_apps.user.post(f"{U}/run", json=_run("a1", "hola"),
                                    headers={"Authorization": "Bearer mgc_magec_token_1234567890"})
    assert r.status_code == 200 and "fake-llm says: hola" in r.text, r.text


async def test_failure_during_the_writes_rolls_everything_back(tmp_path: Path, provider: FakeServer) -> None:
    """The resources are already replaced inside the transaction when a section row is refused by
    the database (a duplicate key): the whole restore rolls back."""
    async with running_apps(tmp_path / "a") as a:
        made = await populate(a, provider.url)
        r = await a.user.post(f"{U}/run", json=_run(made["plain"]["id"], "hi"),
                              headers={"Authorization": f"Bearer {made['token']}"})
        assert r.status_code == 200, r.text
        archive = await _backup(a, "?include=sessions")
    files = members(archive)
    rows = files["tables/sessions/session_sessions.jsonl"].splitlines()
    assert rows
    files["tables/sessions/session_sessions.jsonl"] = b"\n".join([*rows, rows[0]]) + b"\n"  # same key twice
    async with running_apps(tmp_path / "b") as b:
        await create(b, "agents", {"name": "Already here"})
        before = await admin_view(b)
        epoch = (await b.admin.get(f"{A}/overview")).json()["epoch"]
        r = await restore(b, tar_gz(files))
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "backup" and "nothing was changed" in r.json()["error"]
        assert await admin_view(b) == before
        assert (await b.admin.get(f"{A}/overview")).json()["epoch"] == epoch
        # and the store's own view is still the old one for the next writes
        assert (await b.admin.post(f"{A}/commands", json={"name": "after", "prompt": "p"})).status_code == 201
        assert len((await b.admin.get(f"{A}/agents")).json()) == 1


_MANIFEST = b'{"format": "magec-backup", "version": 1}'


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"manifest.json": b'{"format": "magec-backup", "version": "abc"}'}, "version must be a whole number"),
        ({"manifest.json": b'{"format": "magec-backup", "version": [1]}'}, "version must be a whole number"),
        ({"manifest.json": b'{"format": "magec-backup", "version": NaN}'}, "NaN is not JSON"),
        ({"manifest.json": b"[" * 100_000 + b"]" * 100_000}, "manifest.json: JSON is nested deeper"),
        ({"manifest.json": b'{"format": "magec-backup", "version": 1%s}' % (b"0" * 5000)}, "too many digits"),
        ({"manifest.json": _MANIFEST, "resources/foo.json": b"5"}, "resources/foo.json must be a JSON list"),
        ({"manifest.json": _MANIFEST, "resources/agents.json": b"[" * 100_000}, "resources/agents.json: JSON is nested"),
        ({"manifest.json": _MANIFEST, "tables/sessions/sessions.jsonl": b"{}\n" + b"[" * 100_000},
         "tables/sessions/sessions.jsonl line 2: JSON is nested"),
    ],
)
async def test_crafted_archive_is_a_400_naming_the_problem(
    sqlite_apps: Apps, files: dict[str, bytes], fragment: str
) -> None:
    await create(sqlite_apps, "agents", {"name": "Already here"})
    before = await admin_view(sqlite_apps)
    for query in ("?dryRun=true", ""):
        r = await restore(sqlite_apps, tar_gz(files), query)
        assert r.status_code == 400, r.text
        assert r.json()["field"] == "backup" and fragment in r.json()["error"], r.json()
        assert "int_max_str_digits" not in r.text and "Traceback" not in r.text
    assert await admin_view(sqlite_apps) == before


async def test_an_edited_record_does_not_carry_its_secret(tmp_path: Path, provider: FakeServer) -> None:
    """An archive edited to point a stored API key elsewhere, or to paste one record's ciphertext
    into another, is refused naming the field (a plain write refuses both); other edits restore."""
    async with running_apps(tmp_path / "a") as apps:
        keyed = await create(apps, "backends", {"name": "Keyed", "type": "openai", "url": provider.url,
                                                "apiKey": "sk-inline-9"})
        other = await create(apps, "backends", {"name": "Other", "type": "openai", "url": "http://127.0.0.1:9/v1"})
        archive = await _backup(apps)
        files = members(archive)
        assert json.loads(files["manifest.json"])["version"] == 2

        def edited(change: dict[str, dict[str, object]]) -> bytes:
            items = json.loads(files["resources/backends.json"])
            for item in items:
                item["data"].update(change.get(item["id"], {}))
            return tar_gz({**files, "resources/backends.json": json.dumps(items).encode()})

        stored = {i["id"]: i["data"] for i in json.loads(files["resources/backends.json"])}
        assert str(stored[keyed["id"]]["apiKey"]).startswith("enc:v1:")
        before = await admin_view(apps)
        for archive_edit, field in (
            ({keyed["id"]: {"url": "http://attacker.example/v1"}}, f"backends[{keyed['id']}].apiKey"),
            ({other["id"]: {"apiKey": stored[keyed["id"]]["apiKey"]}}, f"backends[{other['id']}].apiKey"),
        ):
            for query in ("?dryRun=true", ""):
                r = await restore(apps, edited(archive_edit), query)
                assert r.status_code == 400, r.text
                assert r.json()["field"] == field and "sk-inline-9" not in r.text, r.json()
        assert await admin_view(apps) == before
        # an edit that carries no secret restores; so does the archive as exported
        r = await restore(apps, edited({other["id"]: {"name": "Renamed"}}))
        assert r.status_code == 200, r.text
        assert (await apps.admin.get(f"{A}/backends/{other['id']}")).json()["name"] == "Renamed"
        r = await restore(apps, archive)
        assert r.status_code == 200, r.text
        assert await admin_view(apps) == before


async def test_usage_moves_with_include_usage(tmp_path: Path, provider: FakeServer) -> None:
    """Moving servers (SQLite → PostgreSQL) keeps the cost history: ``include=usage``."""
    async with running_apps(tmp_path / "a") as a:
        made = await populate(a, provider.url)
        r = await a.user.post(f"{U}/run", json=_run(made["plain"]["id"], "count me"),
                              headers={"Authorization": f"Bearer {made['token']}"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 15
        while not (costs := (await a.admin.get(f"{A}/costs?groupBy=agent")).json())["items"]:
            assert time.monotonic() < deadline, "the turn's usage never showed in the cost report"
            await asyncio.sleep(0.2)
        with_usage, without = await _backup(a, "?include=usage"), await _backup(a)
    assert "tables/usage/usage.jsonl" in members(with_usage)
    assert not any(name.startswith("tables/usage/") for name in members(without))
    async with running_apps(tmp_path / "b") as b:
        r = await restore(b, with_usage)
        assert r.status_code == 200 and r.json()["sections"]["usage"]["usage"] >= 1, r.text
        assert (await b.admin.get(f"{A}/costs?groupBy=agent")).json() == costs
