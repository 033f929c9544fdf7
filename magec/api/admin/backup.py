"""Backup and restore routes (Magec's shapes): ``GET /settings/backup`` and ``POST /settings/restore``.

* ``GET /api/v1/admin/settings/backup[?include=sessions,memories,audit]`` answers the archive
  (``application/gzip``, ``Content-Disposition: attachment; filename="magec-backup-….tar.gz"``,
  with its ``Content-Length``). Optional sections are named in ``include``; an unknown name is a
  400 naming it.
* ``POST /api/v1/admin/settings/restore[?dryRun=true]`` takes the archive as the raw body
  (``Content-Type: application/gzip``, as Magec's Admin UI posts it; ``application/octet-stream``
  too), at most ``limits.backupBytes`` (default 500 MB, Magec's limit; 413 beyond) and unpacking
  to at most four times that. Answers ``{"status": "restored" | "dryRun", "changes": {kind:
  {created, updated, deleted, unchanged}}, "settings", "sections", "warnings", "epoch"}``.
  Errors: 400 naming the bad item or archive member, 400 ``backup_key_mismatch`` for another
  encryption key; nothing is changed on any error.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import IO, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import StreamingResponse

from magec.backup import archive
from magec.backup.restore import restore
from magec.backup.sections import Section, by_name
from magec.clients.purge import purge_client
from magec.context import AppContext
from magec.errors import ValidationError

CHUNK = 256 * 1024


def selected(sections: Sequence[Section], include: str) -> list[Section]:
    """The sections a backup holds: every required one plus the optional ones in ``include``."""
    known = by_name(sections)
    names = [n.strip() for n in include.split(",") if n.strip()]
    for name in names:
        if name not in known:
            available = ", ".join(s.name for s in sections if s.optional) or "none"
            raise ValidationError(f"include: unknown section {name!r} (available: {available})", field="include")
    return [s for s in sections if not s.optional or s.name in names]


async def _stream(fh: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := fh.read(CHUNK):
            yield chunk
    finally:
        fh.close()


def router(ctx: AppContext, sections: Sequence[Section]) -> APIRouter:
    r = APIRouter(prefix="/settings", tags=["backup"])

    @r.get(
        "/backup",
        summary="Download a backup (.tar.gz): every resource, settings, secrets (encrypted) and the included sections",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/gzip": {}}}},
        openapi_extra={"x-mcp-tool": "magec_backup_settings"},
    )
    async def backup(
        include: str = Query("", description="optional sections, comma-separated: sessions,memories,artifacts,audit,runs,usage"),
    ) -> StreamingResponse:
        chosen = selected(sections, include)
        fh = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the streaming body
        try:
            await archive.write(ctx.store, chosen, fh)
        except BaseException:
            fh.close()
            raise
        size = fh.tell()
        fh.seek(0)
        return StreamingResponse(
            _stream(fh),
            media_type="application/gzip",
            headers={
                "Content-Disposition": f'attachment; filename="{archive.file_name()}"',
                "Content-Length": str(size),
            },
        )

    @r.post(
        "/restore",
        summary="Restore a backup (raw .tar.gz body; magec's or Magec's): atomic, validated, live; ?dryRun=true only reports",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def restore_backup(
        request: Request,
        dry_run: bool = Query(False, alias="dryRun", description="check and report what would change; change nothing"),
    ) -> dict[str, Any]:
        limit = int(ctx.config.backup_limit_bytes)
        with tempfile.SpooledTemporaryFile(max_size=16 << 20) as fh:
            async for chunk in request.stream():  # the input guard caps it at limits.backupBytes
                fh.write(chunk)
            if fh.tell() == 0:
                raise ValidationError("backup: the request body is empty (post the .tar.gz as the body)", field="backup")
            fh.seek(0)
            parsed = await asyncio.to_thread(archive.read, fh, 4 * limit)  # type: ignore[arg-type]
        if dry_run:
            return await restore(ctx.store, parsed, sections, dry_run=True)
        # a client coming back: whatever a deleted one of its id left (a purge a crash cut short)
        # goes first; the archive's own sections are restored after (magec.clients.purge)
        before = set((await ctx.store.all_raw()).get("clients", {}))
        for cid in sorted({e.id for e in parsed.resources.get("clients", [])} - before):
            await purge_client(ctx, cid)
        answer = await restore(ctx.store, parsed, sections)
        # a client the restore dropped: its conversations, artifacts and memories go too
        for cid in sorted(before - set((await ctx.store.all_raw()).get("clients", {}))):
            await purge_client(ctx, cid)
        return answer

    return r
