"""The artifact service: ADK's :class:`BaseArtifactService` on the configured database.

Contract:
* **Scope.** An artifact is ``(app_name, user_id, session_id, filename)``; a filename starting
  with ``user:`` is user-scoped (stored with ``session_id = ""``, listed in every session of that
  user), any other needs a session. ``user_id`` is whatever the caller passes — the run API and
  the tools pass the session's owner key (``<clientId>:<userId>``), so one client's user never
  reaches another's artifacts: there is no query without all three owner columns.
* **Versions** are ADK's: the first save is version 0, each save the next integer; ``version=None``
  reads the latest; a delete removes every version (the next save starts at 0 again).
* **Payloads**: a ``Part`` with ``text`` (mime ``text/plain``), ``inline_data`` (its mime type) or
  ``file_data`` (a reference, stored as its URI: nothing is fetched). Anything else is a
  :class:`~magec.errors.ValidationError`, and so is a session id over 128 characters or a mime
  type over 255 (wider than their columns); a version past the INTEGER column is not found.
* **Limits** (:class:`Limits`, from ``artifacts.*`` in config.yaml): the size of one version (its
  data, file URI and metadata), the number of versions kept per session and their total bytes
  (user-scoped artifacts count against the user's scope ``""``), and the total bytes of one owner
  key (every app and session of it) and of one client (every owner key ``<clientId>:…`` of a
  client that exists; ``clients``). Sessions need not exist and a client names its users freely,
  so the per-client total is the one that bounds a token holder's disk use; open mode's ids name
  no client (even with a ``:``) and have only the per-user total. The totals count what a
  version takes in the database (:func:`stored_size`: payload, keys where they are stored, a
  fixed :data:`ROW_OVERHEAD`), so empty versions are not free. Exceeding one raises
  :class:`~magec.errors.PayloadTooLargeError` naming the limit (413 on the HTTP routes, a tool
  error for agents). The totals are exact under concurrent saves, in every process: a save
  inserts first and checks the totals after, inside its transaction (SQLite's write lock), and on
  PostgreSQL the saves of one client queue on an advisory lock first. They are sums over the
  ``(user_id, size)`` and ``(client, size)`` indexes: a save reads index entries, not payloads.
* Concurrent saves of one name get distinct versions: the insert *is* the claim (primary key), a
  lost race retries with the next number.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from google.adk.artifacts.base_artifact_service import ArtifactVersion, BaseArtifactService, ensure_part
from google.genai import types
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.artifacts.tables import ROW_OVERHEAD, artifacts
from magec.errors import PayloadTooLargeError, ValidationError
from magec.memory._sql import write_tx
from magec.memory.owners import client_id, client_of
from magec.memory.session_base import MAX_SESSION_ID

#: longest filename kept (the column's width)
MAX_FILENAME = 512
#: longest mime type (the column's width)
MAX_MIME = 255
#: versions are an INTEGER column: a larger number cannot name a stored version (and would make
#: the driver fail: SQLite overflows, asyncpg refuses it), so it is simply not found
MAX_VERSION = 2**31 - 1


@dataclass(frozen=True)
class Limits:
    """``artifacts.maxBytes`` / ``maxPerSession`` / ``maxSessionBytes`` / ``maxUserBytes`` /
    ``maxClientBytes`` in config.yaml."""

    max_bytes: int = 10 * 1024 * 1024
    max_per_session: int = 200
    max_session_bytes: int = 100 * 1024 * 1024
    max_user_bytes: int = 1024 * 1024 * 1024
    max_client_bytes: int = 5 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Stored:
    """One stored version: its payload and metadata (what the download route serves)."""

    part: types.Part
    meta: ArtifactVersion
    data: bytes


def stored_size(app: str, user: str, session: str, filename: str, payload: int) -> int:
    """What one version counts for in the quotas: everything it stores, where it is stored.

    ``payload``: its data, file URI and metadata (:func:`_payload`). The four keys are in the row
    and again in the primary key's index, the owner key once more in the ``(user_id, size)``
    index and its client part in the row and the ``(client, size)`` index; plus
    :data:`ROW_OVERHEAD`. Callers choose the keys (up to ~1 KB), so they must count."""
    keys = sum(len(k.encode()) for k in (app, user, session, filename))
    return payload + 2 * keys + len(user.encode()) + 2 * len(client_of(user).encode()) + ROW_OVERHEAD


def _payload(data: bytes, file_uri: str | None, metadata: str) -> int:
    """The bytes of a version that are not keys: what ``artifacts.maxBytes`` bounds."""
    return len(data) + len((file_uri or "").encode()) + len(metadata.encode())


def _scope(filename: str, session_id: str | None) -> str:
    if not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME or "\x00" in filename:
        raise ValidationError(f"filename: must be 1-{MAX_FILENAME} characters", field="filename")
    if session_id is not None and (len(session_id) > MAX_SESSION_ID or "\x00" in session_id):
        raise ValidationError(f"sessionId: at most {MAX_SESSION_ID} characters, no NUL", field="sessionId")
    if filename.startswith("user:"):
        return ""
    if not session_id:
        raise ValidationError("sessionId: session-scoped artifacts need a session", field="sessionId")
    return session_id


def _encode(part: types.Part) -> tuple[str, str | None, bytes, str | None]:
    """(kind, mime type, bytes, file uri) of a part."""
    mime = (part.inline_data or part.file_data or types.Blob()).mime_type
    if mime is not None and (len(mime) > MAX_MIME or "\x00" in mime):
        field = "inlineData.mimeType" if part.inline_data is not None else "fileData.mimeType"
        raise ValidationError(f"{field}: at most {MAX_MIME} characters, no NUL", field=field)
    if part.file_data is not None and "\x00" in (part.file_data.file_uri or ""):
        # PostgreSQL text cannot hold NUL: refused here rather than failing in the database
        raise ValidationError("fileData.fileUri: no NUL", field="fileData.fileUri")
    if part.inline_data is not None:
        return "blob", part.inline_data.mime_type or "application/octet-stream", part.inline_data.data or b"", None
    if part.text is not None:
        return "text", "text/plain", part.text.encode(), None
    if part.file_data is not None and part.file_data.file_uri:
        return "file", part.file_data.mime_type, b"", part.file_data.file_uri
    raise ValidationError("artifact: must carry text, inlineData or fileData", field="artifact")


def _decode(row: Any) -> types.Part:
    if row.kind == "text":
        return types.Part(text=bytes(row.data).decode())
    if row.kind == "file":
        return types.Part(file_data=types.FileData(file_uri=row.file_uri, mime_type=row.mime_type))
    return types.Part(inline_data=types.Blob(mime_type=row.mime_type, data=bytes(row.data)))


def _uri(app: str, user: str, session: str, filename: str, version: int) -> str:
    if not session:
        return f"artifact://apps/{app}/users/{user}/artifacts/{filename}/versions/{version}"
    return f"artifact://apps/{app}/users/{user}/sessions/{session}/artifacts/{filename}/versions/{version}"


def _meta(row: Any) -> ArtifactVersion:
    return ArtifactVersion(
        version=row.version,
        canonical_uri=_uri(row.app_name, row.user_id, row.session_id, row.filename, row.version),
        custom_metadata=json.loads(row.custom_metadata or "{}"),
        create_time=row.created_at,
        mime_type=row.mime_type,
    )


class SqlArtifactService(BaseArtifactService):
    def __init__(
        self, engine: AsyncEngine, limits: Limits | None = None, clients: Callable[[], Mapping[str, Any]] | None = None
    ) -> None:
        self.engine = engine
        self.limits = limits or Limits()
        #: the running configuration's clients by id (None: every owner-key prefix is a client)
        self.clients = clients
        # per owner, while a save holds or waits for it (weak values: an idle one goes)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @staticmethod
    def _where(app_name: str, user_id: str, session: str, filename: str | None = None) -> Any:
        t = artifacts.c
        cond = sa.and_(t.app_name == app_name, t.user_id == user_id, t.session_id == session)
        return cond if filename is None else sa.and_(cond, t.filename == filename)

    async def save_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        artifact: types.Part | dict[str, Any],
        session_id: str | None = None,
        custom_metadata: dict[str, Any] | None = None,
    ) -> int:
        session = _scope(filename, session_id)
        kind, mime, data, file_uri = _encode(ensure_part(artifact))
        try:
            metadata = json.dumps(custom_metadata or {})
        except (TypeError, ValueError):
            raise ValidationError("customMetadata: must be JSON", field="customMetadata") from None
        lim = self.limits
        payload = _payload(data, file_uri, metadata)
        if payload > lim.max_bytes:
            raise PayloadTooLargeError(
                f"artifact {filename!r} is {payload} bytes (data, file URI and metadata), over the limit "
                f"artifacts.maxBytes = {lim.max_bytes}",
                limit="artifacts.maxBytes",
            )
        t = artifacts.c
        size = stored_size(app_name, user_id, session, filename, payload)
        client = self._client(user_id)
        owner = client or user_id
        # the next version, read by the insert itself: no read before the write in the
        # transaction (on SQLite a read first could not become a write after another commit)
        latest = sa.select(sa.func.max(t.version)).where(self._where(app_name, user_id, session, filename))
        version = sa.func.coalesce(latest.scalar_subquery() + 1, 0)
        # one save per client at a time in this process: saves queue here, not on pooled
        # connections each holding a transaction that waits for the same lock
        lock = self._locks.get(owner)
        if lock is None:
            lock = self._locks[owner] = asyncio.Lock()
        async with lock:
            for _ in range(50):  # each lost race means another process's save won: bounded by the savers
                try:
                    return await self._insert(owner, app_name, user_id, session, client, dict(
                        app_name=app_name, user_id=user_id, session_id=session, filename=filename,
                        version=version, kind=kind, mime_type=mime, data=data, file_uri=file_uri,
                        size=size, custom_metadata=metadata, created_at=time.time(), client=client,
                    ))
                except IntegrityError:  # a concurrent save took this version number: take the next
                    continue
        raise ValidationError(f"artifact {filename!r}: too many concurrent saves, try again", field="filename")

    async def _insert(self, owner: str, app_name: str, user_id: str, session: str, client: str, row: dict[str, Any]) -> int:
        """Insert one version and check the totals with it in them, in one transaction."""
        async with write_tx(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                # saves of one client (or open-mode user) queue here across processes, so the
                # totals read below include every save committed before (readers never wait)
                key = f"magec-artifacts:{owner}"
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(key))))
            # the insert first: on SQLite it takes the write lock every process shares, so the
            # totals read next are exact there too; over a limit, the save rolls back
            version = (await conn.execute(artifacts.insert().values(**row).returning(artifacts.c.version))).scalar_one()
            count, in_session, of_user, of_client = (
                await conn.execute(self._usage(app_name, user_id, session, client))
            ).one()
            self._check_quotas(count, in_session, of_user, of_client)
        return int(version)

    def _client(self, user_id: str) -> str:
        """The client part of an owner key when it names a client (``""`` in open mode, whose ids
        may hold ``:`` too: they share no client total)."""
        prefix = client_of(user_id)
        if not prefix or (self.clients is not None and not client_id(user_id, self.clients())):
            return ""
        return prefix

    def _usage(self, app_name: str, user_id: str, session: str, client: str) -> Any:
        """One row: the session's (scope's) version count and bytes, the owner's and the client's bytes."""
        t = artifacts.c
        total = sa.func.coalesce(sa.func.sum(t.size), 0)
        in_session = sa.select(sa.func.count(), total).where(self._where(app_name, user_id, session)).subquery()
        of_user = sa.select(total).where(t.user_id == user_id).scalar_subquery()
        of_client = sa.select(total).where(t.client == client).scalar_subquery() if client else sa.literal(0)
        return sa.select(*in_session.c, of_user, of_client)

    def _check_quotas(self, count: int, session_bytes: int, user_bytes: int, client_bytes: int) -> None:
        """The totals with the new version in them."""
        lim = self.limits
        if count > lim.max_per_session:
            raise PayloadTooLargeError(
                f"session already holds {count - 1} artifact versions, the limit "
                f"artifacts.maxPerSession = {lim.max_per_session}",
                limit="artifacts.maxPerSession",
            )
        for used, limit, key, whose in (
            (session_bytes, lim.max_session_bytes, "maxSessionBytes", "session's"),
            (user_bytes, lim.max_user_bytes, "maxUserBytes", "user's"),
            (client_bytes, lim.max_client_bytes, "maxClientBytes", "client's"),
        ):
            if used > limit:
                raise PayloadTooLargeError(
                    f"the {whose} artifacts would take {used} bytes, over the limit artifacts.{key} = {limit}",
                    limit=f"artifacts.{key}",
                )

    async def _row(
        self, app_name: str, user_id: str, filename: str, session_id: str | None, version: int | None
    ) -> Any:
        session = _scope(filename, session_id)
        if version is not None and not 0 <= version <= MAX_VERSION:
            return None
        t = artifacts.c
        q = sa.select(artifacts).where(self._where(app_name, user_id, session, filename))
        q = q.where(t.version == version) if version is not None else q.order_by(t.version.desc()).limit(1)
        async with self.engine.connect() as conn:
            return (await conn.execute(q)).first()

    async def load_stored(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None, version: int | None = None
    ) -> Stored | None:
        """Payload and metadata of one version (None when absent)."""
        row = await self._row(app_name, user_id, filename, session_id, version)
        if row is None:
            return None
        return Stored(_decode(row), _meta(row), bytes(row.data))

    async def load_artifact(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> types.Part | None:
        row = await self._row(app_name, user_id, filename, session_id, version)
        return None if row is None else _decode(row)

    async def list_artifact_keys(
        self, *, app_name: str, user_id: str, session_id: str | None = None
    ) -> list[str]:
        t = artifacts.c
        scopes = [""] + ([session_id] if session_id else [])
        q = (
            sa.select(t.filename).distinct()
            .where(t.app_name == app_name, t.user_id == user_id, t.session_id.in_(scopes))
        )
        async with self.engine.connect() as conn:
            return sorted(r[0] for r in await conn.execute(q))

    async def delete_artifact(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> None:
        session = _scope(filename, session_id)
        async with self.engine.begin() as conn:
            await conn.execute(artifacts.delete().where(self._where(app_name, user_id, session, filename)))

    async def delete_session(
        self, *, app_name: str, user_id: str, session_id: str, saved_before: float | None = None
    ) -> None:
        """Every session-scoped artifact of one session (user-scoped ones stay); with
        ``saved_before``, only versions saved before that time (session retention: a session of
        the same id started since keeps its own)."""
        if not session_id:
            return
        where = self._where(app_name, user_id, session_id)
        if saved_before is not None:
            where = sa.and_(where, artifacts.c.created_at < saved_before)
        async with self.engine.begin() as conn:
            await conn.execute(artifacts.delete().where(where))

    async def list_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[int]:
        return [v.version for v in await self.list_artifact_versions(
            app_name=app_name, user_id=user_id, filename=filename, session_id=session_id)]

    async def list_artifact_versions(
        self, *, app_name: str, user_id: str, filename: str, session_id: str | None = None
    ) -> list[ArtifactVersion]:
        session = _scope(filename, session_id)
        t = artifacts.c
        cols = [c for c in artifacts.c if c.name != "data"]  # metadata only: no payloads read
        q = sa.select(*cols).where(self._where(app_name, user_id, session, filename)).order_by(t.version)
        async with self.engine.connect() as conn:
            return [_meta(r) for r in await conn.execute(q)]

    async def get_artifact_version(
        self,
        *,
        app_name: str,
        user_id: str,
        filename: str,
        session_id: str | None = None,
        version: int | None = None,
    ) -> ArtifactVersion | None:
        row = await self._row(app_name, user_id, filename, session_id, version)
        return None if row is None else _meta(row)
