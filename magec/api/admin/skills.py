"""Skills routes of the Admin API, in Magec's shapes (G1 ``server/api/admin/skills.go`` + G2 packages).

Listing and reading one skill are the generic CRUD routes; this router, included before them,
takes what differs:

==========  ==========================================  ===================================================
POST        ``/skills``                                 201 the skill (inline; ``instructions`` required;
                                                        ``references`` / ``package`` / ``slug`` ignored)
PUT         ``/skills/{id}``                            200 the skill (server-managed fields kept; a package
                                                        skill's ``SKILL.md`` follows the edit)
DELETE      ``/skills/{id}``                            204; 409 with ``references`` when agents use it,
                                                        ``?force=true`` removes it from them (no ``force``:
                                                        ``settings.deleteReferenced``); files removed
POST        ``/skills/upload`` (``?replace=true``)      201 the new skill / 200 the replaced one, from a
                                                        multipart ``file``: SKILL.md, .zip or .tar.gz
GET         ``/skills/{id}/download``                   200 ``application/gzip`` (the package; an inline
                                                        skill as SKILL.md + references/)
GET         ``/skills/{id}/references``                 200 ``[{filename, size}]``
POST        ``/skills/{id}/references``                 201 ``{filename, size}`` from a multipart ``file``;
                                                        409 when that file name exists
GET         ``/skills/{id}/references/{filename}``      200 the bytes (``attachment``, octet-stream)
DELETE      ``/skills/{id}/references/{filename}``      204
==========  ==========================================  ===================================================

Uploads are ``multipart/form-data``: the request guard (:mod:`magec.api.guard`) lets that content
type through on these two paths only, after the same Host / Origin checks as every write (a
cross-site form post carries a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site`` and is refused)
and behind the admin password. Bad input is a 4xx naming ``file`` / ``filename``; sizes over the
limits of :mod:`magec.skills.archive` are 413.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from magec.api.admin.views import public
from magec.api.errors import json_body
from magec.context import AppContext
from magec.errors import MagecError, ValidationError
from magec.skills import archive
from magec.skills.service import KIND, SkillService
from magec.store.stamps import stamped

#: request paths taking multipart uploads (the request guard and the body limit read this)
UPLOAD_PATHS = r"^/api/v1/admin/skills/(upload|[^/]+/references)$"
#: body limit of those paths: a whole package plus multipart framing
UPLOAD_BODY_BYTES = archive.MAX_PACKAGE_BYTES + 64 * 1024


def _attachment(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def _upload(request: Request) -> tuple[str, bytes]:
    """(file name, bytes) of the multipart field ``file``."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ValidationError("file: send the file as multipart/form-data in the field 'file'", field="file")
    try:
        form = await request.form(max_files=1, max_fields=8)
    except MagecError:  # the body limit (413)
        raise
    except Exception as e:  # noqa: BLE001 - a malformed multipart body is the caller's error
        raise ValidationError(f"file: unreadable multipart body: {e}", field="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationError("file: is required", field="file")
        return upload.filename or "", await upload.read()
    finally:
        await form.close()


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix="/skills", tags=["skills"])
    service = SkillService(ctx.store)

    async def view(raw: dict[str, Any]) -> dict[str, Any]:
        # with updatedAt, as the generic routes these take the place of answer
        return await stamped(ctx.store.engine, KIND, await public(ctx, KIND, raw))

    # POST / PUT / DELETE take the place of the generic CRUD routes of the same method and path,
    # which stay in the OpenAPI schema (same shapes): one operation per path and method there
    @r.post("", status_code=201, include_in_schema=False)
    async def create(request: Request) -> dict[str, Any]:
        return await view(await service.create(await json_body(request)))

    @r.post("/upload", summary="Create (201) or, with ?replace=true, replace (200) a skill from a SKILL.md package")
    async def upload(request: Request, response: Response, replace: bool = False) -> dict[str, Any]:
        filename, data = await _upload(request)
        row, created = await service.upload_package(filename, data, replace=replace)
        response.status_code = 201 if created else 200
        return await view(row)

    @r.put("/{id}", include_in_schema=False)
    async def update(id: str, request: Request) -> dict[str, Any]:
        return await view(await service.update(id, await json_body(request)))

    @r.delete("/{id}", status_code=204, include_in_schema=False)
    async def delete(id: str, force: bool | None = None) -> Response:
        if force is None:  # a client without "force" (Magec's UI): the instance's rule, as for every kind
            force = (await ctx.store.get_settings()).get("deleteReferenced") == "scrub"
        await service.delete(id, force=force)
        return Response(status_code=204)

    @r.get("/{id}/download", summary="The skill as a tar.gz package")
    async def download(id: str) -> Response:
        name, data = await service.download(id)
        return Response(data, media_type="application/gzip", headers={"Content-Disposition": _attachment(name)})

    @r.get("/{id}/references", summary="Reference files of a skill")
    async def list_references(id: str) -> list[dict[str, Any]]:
        return list((await ctx.store.get(KIND, id)).get("references") or [])

    @r.post("/{id}/references", status_code=201, summary="Upload a reference file (multipart field 'file')")
    async def upload_reference(id: str, request: Request) -> dict[str, Any]:
        await ctx.store.get(KIND, id)  # 404 before reading the body
        filename, data = await _upload(request)
        return await service.add_reference(id, filename, data)

    @r.get("/{id}/references/{filename}", summary="Download a reference file")
    async def download_reference(id: str, filename: str) -> Response:
        data = await service.get_reference(id, filename)
        return Response(
            data, media_type="application/octet-stream", headers={"Content-Disposition": _attachment(filename)}
        )

    @r.delete("/{id}/references/{filename}", status_code=204, summary="Delete a reference file")
    async def delete_reference(id: str, filename: str) -> Response:
        await service.delete_reference(id, filename)
        return Response(status_code=204)

    return r
