"""The artifact service alone (on a migrated SQLite database): ADK's version numbering under
concurrent saves, scopes, payload kinds, validation; and the ``artifacts`` section of config.yaml."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from magec.artifacts.service import Limits, SqlArtifactService, stored_size
from magec.artifacts.signing import Claims, ExpiredToken, InvalidToken, Signer
from magec.config import load_config
from magec.errors import ConfigError, PayloadTooLargeError, ValidationError
from magec.store.migrate import upgrade
from magec.store.store import make_engine


async def service(tmp_path: Path, limits: Limits | None = None, **kw: Any) -> SqlArtifactService:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    await upgrade(engine)
    return SqlArtifactService(engine, limits, **kw)


async def test_versions_scopes_and_payloads(tmp_path: Path) -> None:
    svc = await service(tmp_path)
    kw = {"app_name": "app", "user_id": "c1:u", "session_id": "s"}
    # concurrent saves of one name: distinct, consecutive versions
    got = await asyncio.gather(*(svc.save_artifact(filename="f.txt", artifact=types.Part(text=f"v{i}"), **kw)
                                 for i in range(8)))
    assert sorted(got) == list(range(8))
    assert await svc.list_versions(filename="f.txt", **kw) == list(range(8))
    latest = await svc.load_artifact(filename="f.txt", **kw)
    assert latest is not None and latest.text == f"v{got.index(7)}"
    # bytes, a file reference, a dict in ADK's camelCase
    await svc.save_artifact(filename="b.bin", artifact=types.Part(inline_data=types.Blob(
        mime_type="application/x-thing", data=b"\x00\x01")), **kw)
    await svc.save_artifact(filename="ref", artifact={"fileData": {"fileUri": "gs://b/o", "mimeType": "image/png"}}, **kw)
    blob = await svc.load_artifact(filename="b.bin", **kw)
    assert blob is not None and blob.inline_data is not None and blob.inline_data.data == b"\x00\x01"
    ref = await svc.load_artifact(filename="ref", **kw)
    assert ref is not None and ref.file_data is not None and ref.file_data.file_uri == "gs://b/o"
    meta = await svc.get_artifact_version(filename="b.bin", version=0, **kw)
    assert meta is not None and meta.mime_type == "application/x-thing"
    assert meta.canonical_uri == "artifact://apps/app/users/c1:u/sessions/s/artifacts/b.bin/versions/0"
    # user-scoped names: in every session of the user, not in another user's
    await svc.save_artifact(filename="user:pref", artifact=types.Part(text="x"), **kw)
    assert await svc.list_artifact_keys(app_name="app", user_id="c1:u", session_id="other") == ["user:pref"]
    assert await svc.list_artifact_keys(app_name="app", user_id="c2:u", session_id="s") == []
    assert await svc.load_artifact(app_name="app", user_id="c2:u", session_id="s", filename="f.txt") is None
    # delete: every version; the next save starts at 0 again (ADK's numbering)
    await svc.delete_artifact(filename="f.txt", **kw)
    assert await svc.list_versions(filename="f.txt", **kw) == []
    assert await svc.save_artifact(filename="f.txt", artifact=types.Part(text="again"), **kw) == 0
    await svc.delete_session(app_name="app", user_id="c1:u", session_id="s")
    assert await svc.list_artifact_keys(**kw) == ["user:pref"]
    # bad input names the field
    with pytest.raises(ValidationError, match="filename"):
        await svc.save_artifact(filename="", artifact=types.Part(text="x"), **kw)
    with pytest.raises(ValidationError, match="sessionId"):
        await svc.save_artifact(app_name="app", user_id="u", filename="f", artifact=types.Part(text="x"))
    with pytest.raises(ValidationError, match="artifact"):
        await svc.save_artifact(filename="e", artifact=types.Part(), **kw)
    await svc.engine.dispose()


def size(text: int, filename: str, *, app: str = "app", user: str = "u", session: str = "s") -> int:
    """What a text version of ``text`` bytes without metadata ("{}") counts for."""
    return stored_size(app, user, session, filename, text + 2)


async def test_limits(tmp_path: Path) -> None:
    session_bytes = size(10, "a") + size(5, "b")
    svc = await service(tmp_path, Limits(max_bytes=12, max_per_session=2, max_session_bytes=session_bytes))
    kw = {"app_name": "app", "user_id": "u", "session_id": "s"}
    # one version: its data and metadata ("{}")
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxBytes = 12"):
        await svc.save_artifact(filename="a", artifact=types.Part(text="x" * 11), **kw)
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxBytes = 12"):
        await svc.save_artifact(filename="a", artifact=types.Part(text="x"), custom_metadata={"k": "v" * 20}, **kw)
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxBytes = 12"):
        await svc.save_artifact(filename="a", artifact={"fileData": {"fileUri": "gs://b/" + "o" * 20}}, **kw)
    await svc.save_artifact(filename="a", artifact=types.Part(text="x" * 10), **kw)
    with pytest.raises(PayloadTooLargeError, match=rf"artifacts\.maxSessionBytes = {session_bytes}"):
        await svc.save_artifact(filename="b", artifact=types.Part(text="x" * 6), **kw)
    await svc.save_artifact(filename="b", artifact=types.Part(text="x" * 5), **kw)
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxPerSession = 2"):
        await svc.save_artifact(filename="c", artifact=types.Part(text=""), **kw)
    await svc.engine.dispose()


async def test_totals_per_user_and_per_client(tmp_path: Path) -> None:
    """Sessions need not exist and a client names its users freely: the totals bound both."""
    one = size(100, "f", user="c1:aaaa", session="s1")  # every key below has the same length
    svc = await service(tmp_path, Limits(max_bytes=1000, max_per_session=100, max_session_bytes=10**6,
                                         max_user_bytes=3 * one, max_client_bytes=5 * one))
    text = types.Part(text="x" * 100)

    async def save(user: str, session: str, app: str = "app") -> None:
        await svc.save_artifact(app_name=app, user_id=user, session_id=session, filename="f", artifact=text)

    # one user across sessions and apps: three versions, then the per-user total
    await save("c1:aaaa", "s1")
    await save("c1:aaaa", "s2")
    await save("c1:aaaa", "s3", app="ppa")
    with pytest.raises(PayloadTooLargeError, match=rf"artifacts\.maxUserBytes = {3 * one}"):
        await save("c1:aaaa", "s4")
    # the client's other (invented) users fill the client total, whatever their sessions
    await save("c1:bbbb", "s5")
    await save("c1:cccc", "s6")
    with pytest.raises(PayloadTooLargeError, match=rf"artifacts\.maxClientBytes = {5 * one}"):
        await save("c1:dddd", "s7")
    # another client, and a client whose id merely starts alike, have their own totals
    await save("c10:ddd", "s7")
    await save("c:ddddd", "s7")
    # an id without a client has only the per-user total
    for i in range(3):
        await save(f"user{i}aaa", "s8")
    # a delete gives the room back
    await svc.delete_artifact(app_name="app", user_id="c1:bbbb", session_id="s5", filename="f")
    await save("c1:dddd", "s7")
    # empty versions are not free, and long keys count where they are stored
    empty = stored_size("a", "u", "s0", "e", 2)
    assert empty > 128 + 2 * len("aus0e")
    assert stored_size("a", "u" * 200, "s" * 128, "e" * 512, 2) > 2 * (200 + 128 + 512) + 200
    (tmp_path / "tiny").mkdir()
    tiny = await service(tmp_path / "tiny", Limits(max_user_bytes=3 * empty))
    for i in range(3):
        await tiny.save_artifact(app_name="a", user_id="u", session_id=f"s{i}", filename="e", artifact=types.Part(text=""))
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxUserBytes"):
        await tiny.save_artifact(app_name="a", user_id="u", session_id="s9", filename="e", artifact=types.Part(text=""))
    await svc.engine.dispose()
    await tiny.engine.dispose()


async def test_open_mode_ids_with_a_colon_share_no_client_total(tmp_path: Path) -> None:
    """Only a prefix that names an existing client groups owner keys: in open mode "slack:U1" and
    "slack:U2" are two users, not one client."""
    one = size(100, "f", user="slack:U1", session="s")
    svc = await service(tmp_path, Limits(max_client_bytes=2 * one), clients=lambda: {"c1": object()})
    text = types.Part(text="x" * 100)
    for user in ("slack:U1", "slack:U2", "slack:U3"):
        await svc.save_artifact(app_name="app", user_id=user, session_id="s", filename="f", artifact=text)
    await svc.save_artifact(app_name="app", user_id="c1:U1", session_id="s", filename="f", artifact=text)
    await svc.save_artifact(app_name="app", user_id="c1:U2", session_id="s", filename="f", artifact=text)
    with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxClientBytes"):
        await svc.save_artifact(app_name="app", user_id="c1:U3", session_id="s", filename="f", artifact=text)
    await svc.engine.dispose()


async def test_concurrent_saves_cannot_overrun_a_total(tmp_path: Path) -> None:
    one = size(100, "f", user="c1:u00", session="s")
    svc = await service(tmp_path, Limits(max_client_bytes=2 * one))
    text = types.Part(text="x" * 100)
    results = await asyncio.gather(*(
        svc.save_artifact(app_name="app", user_id=f"c1:u{i:02}", session_id="s", filename="f", artifact=text)
        for i in range(30)), return_exceptions=True)
    assert sum(r == 0 for r in results) == 2, results
    assert all(isinstance(r, PayloadTooLargeError) for r in results if r != 0), results
    await svc.engine.dispose()


async def test_an_older_database_gets_the_totals(tmp_path: Path) -> None:
    """Migration 0006 on a database from before it: rows get their client and are recounted as
    the quotas count now (they counted only the data), and the totals see them."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0005_memory_search")
        with sqlite3.connect(tmp_path / "old.db") as raw:  # the table as 0004 created it back then
            raw.execute("DROP INDEX ix_artifacts_user_size")
            raw.execute("DROP INDEX ix_artifacts_client_size")
            raw.execute("ALTER TABLE artifacts DROP COLUMN client")
            for user in ("c1:aaaa", "c1:bbbb", "open-us"):
                raw.execute("INSERT INTO artifacts (app_name, user_id, session_id, filename, version, kind, data,"
                            " size, custom_metadata, created_at) VALUES ('a', ?, 's', 'f', 0, 'blob', zeroblob(600),"
                            " 600, '{}', 0)", (user,))
        await upgrade(engine)
        with sqlite3.connect(tmp_path / "old.db") as raw:
            rows = raw.execute("SELECT user_id, client, size FROM artifacts ORDER BY user_id").fetchall()
            plan = str(raw.execute("EXPLAIN QUERY PLAN SELECT sum(size) FROM artifacts WHERE client = 'c1'").fetchall())
        assert rows == [(u, c, stored_size("a", u, "s", "f", 602)) for u, c in
                        (("c1:aaaa", "c1"), ("c1:bbbb", "c1"), ("open-us", ""))]
        assert "COVERING INDEX ix_artifacts_client_size" in plan, plan
        one = stored_size("a", "c1:cccc", "s", "f", 602)
        svc = SqlArtifactService(engine, Limits(max_client_bytes=3 * one - 1))
        with pytest.raises(PayloadTooLargeError, match=r"artifacts\.maxClientBytes"):
            await svc.save_artifact(app_name="a", user_id="c1:cccc", session_id="s", filename="f",
                                    artifact=types.Part(inline_data=types.Blob(mime_type="x/y", data=bytes(600))))
    finally:
        await engine.dispose()


def test_signer() -> None:
    s = Signer(b"k" * 32)
    claims = Claims("app", "c:u", "s", "a/b.txt", 3, 2_000_000_000)
    token = s.mint(claims)
    assert s.verify(token, now=1_000_000_000) == claims
    with pytest.raises(ExpiredToken):
        s.verify(token, now=2_000_000_001)
    with pytest.raises(InvalidToken):
        Signer(b"other" * 7).verify(token, now=0)  # another database's key
    # opaque: the user id (maybe an e-mail address), session and filename cannot be read off a link
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert b"c:u" not in raw and b"a/b.txt" not in raw and "." not in token
    for i in (0, 12, len(raw) - 1):  # nonce, sealed claims, tag: any change is refused
        bad = bytearray(raw)
        bad[i] ^= 1
        with pytest.raises(InvalidToken):
            s.verify(base64.urlsafe_b64encode(bytes(bad)).decode().rstrip("="), now=0)
    with pytest.raises(InvalidToken):
        s.verify(token[:20], now=0)
    # a link of the earlier form (readable claims + HMAC) is honoured until it expires
    body = json.dumps({"a": "app", "u": "c:u", "s": "s", "n": "a/b.txt", "v": 3, "e": 2_000_000_000}).encode()
    mac = hmac.new(b"k" * 32, body, hashlib.sha256).digest()
    legacy = f"{base64.urlsafe_b64encode(body).decode().rstrip('=')}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    assert s.verify(legacy, now=1_000_000_000) == claims
    forged = body.replace(b'"v": 3', b'"v": 4')
    with pytest.raises(InvalidToken):  # another version, old signature
        s.verify(f"{base64.urlsafe_b64encode(forged).decode().rstrip('=')}.{legacy.split('.')[1]}", now=0)


def test_config_section(tmp_path: Path) -> None:
    p = tmp_path / "config.yaml"
    p.write_text("artifacts: {maxBytes: 100, maxPerSession: 3, maxSessionBytes: 1000, maxUserBytes: 2000,"
                 " maxClientBytes: 3000, urlTTL: 60, agentTools: true}\n")
    cfg = load_config(p, env={})
    assert (cfg.artifact_max_bytes, cfg.artifact_max_per_session, cfg.artifact_max_session_bytes,
            cfg.artifact_max_user_bytes, cfg.artifact_max_client_bytes,
            cfg.artifact_url_ttl, cfg.artifact_agent_tools) == (100, 3, 1000, 2000, 3000, 60.0, True)
    defaults = load_config(None, env={})
    assert defaults.artifact_agent_tools is False and defaults.artifact_max_bytes == 10 * 1024 * 1024
    for bad, field in (("maxBytes: 0", "artifacts.maxBytes"), ("urlTTL: soon", "artifacts.urlTTL"),
                       ("maxClientBytes: 0", "artifacts.maxClientBytes"), ("maxUserBytes: lots", "artifacts.maxUserBytes"),
                       ("agentTools: maybe", "artifacts.agentTools")):
        p.write_text(f"artifacts: {{{bad}}}\n")
        with pytest.raises(ConfigError, match=field):
            load_config(p, env={})
