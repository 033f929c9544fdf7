"""ADK's artifact routes on sessions, as ``adk api_server`` shapes them (Magec's ``/agent`` prefix).

Under ``…/apps/{app}/users/{user}/sessions/{session}/artifacts``:

====== ========================================================== ===================================
GET    ``/artifacts``                                              names (the session's + ``user:``)
POST   ``/artifacts`` ``{filename, artifact: Part, customMetadata}`` the new version's metadata
GET    ``/artifacts/{name}[?version=N]``                           the ``Part`` (latest or version N)
GET    ``/artifacts/{name}/versions``                              version numbers
GET    ``/artifacts/{name}/versions/metadata``                     every version's metadata
GET    ``/artifacts/{name}/versions/{v|latest}``                   the ``Part`` of that version
GET    ``/artifacts/{name}/versions/{v|latest}/metadata``          that version's metadata
GET    ``/artifacts/{name}/url[?version=N]``                       magec: a signed download URL
DELETE ``/artifacts/{name}``                                       every version (204)
====== ========================================================== ===================================

Mounted on the user app (client-token auth; the user id is the caller's owner key, so another
client's artifacts are simply not found) and on the admin app's playground prefix (admin auth).
Parts are answered camelCase (``inlineData.data`` base64), metadata as ADK's ``ArtifactVersion``
(``canonicalUri`` — naming the user as the caller named it, never the stored ``<clientId>:<userId>`` —,
``createTime``, ``mimeType``, ``customMetadata``). A limit exceeded is a 413
naming it; a version that is not an integer (or ``latest``) a 400 naming ``version``. Download URLs are
built from ``server.publicURL``, else from the request's own origin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from google.genai import types
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel

from magec.api import file_uris
from magec.api.clients import Caller
from magec.api.errors import json_body
from magec.api.routing import GatedRouter
from magec.api.user.adk_models import body_doc
from magec.artifacts.runtime_hook import Artifacts
from magec.artifacts.signing import Claims
from magec.context import AppContext
from magec.errors import MagecError, NotFoundError, ValidationError
from magec.runtime.build import Runtime
from magec.runtime.run import require_app


class SaveArtifactRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    filename: str = Field(description="artifact name; a 'user:' prefix makes it user-scoped")
    artifact: dict[str, Any] = Field(description="a genai Part: text, inlineData {mimeType, data: base64} or fileData")
    custom_metadata: dict[str, Any] | None = None


def part_json(part: types.Part) -> dict[str, Any]:
    return part.model_dump(mode="json", by_alias=True, exclude_none=True)


def meta_json(meta: Any, owner: str, user_id: str) -> dict[str, Any]:
    """ADK's ``ArtifactVersion``, its ``canonicalUri`` naming the user as the caller named it
    (``owner`` is the stored owner key ``<clientId>:<userId>``: a client is never shown that)."""
    out: dict[str, Any] = meta.model_dump(mode="json", by_alias=True, exclude_none=True)
    uri = out.get("canonicalUri")
    if isinstance(uri, str) and owner != user_id:
        out["canonicalUri"] = uri.replace(f"/users/{owner}/", f"/users/{user_id}/", 1)
    return out


def artifact_router(ctx: AppContext, caller_of: Callable[[Request, Runtime], Caller], *,
                    user_view: bool = True) -> APIRouter:
    """``user_view``: the user app's (a client's ``fileData`` URI is checked, magec.api.file_uris);
    the admin playground's twin passes False."""
    r = APIRouter(tags=["artifacts"])
    base = "/apps/{app_name}/users/{user_id}/sessions/{session_id}/artifacts"

    def artifacts() -> Artifacts:
        found = ctx.extras.get("artifacts")
        if not isinstance(found, Artifacts):
            raise MagecError("artifacts are not available")  # the composition root always wires them
        return found

    async def scope(request: Request, app_name: str, user_id: str) -> tuple[str, str]:
        """(app id, owner key) after the caller's checks; 404 for an unknown app."""
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        caller = caller_of(request, rt)
        app = rt.find(app_name, caller.may_use, field="appName")
        if app is None:
            require_app(rt, app_name)  # raises the 404
        assert app is not None
        caller.check(app.id)
        return app.id, caller.owner_key(user_id)

    def version_of(raw: str) -> int | None:
        if raw == "latest":
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValidationError("version: must be an integer or 'latest'", field="version") from None

    @r.get(base, summary="Artifact names of a session (and the user's 'user:' ones)")
    async def list_names(app_name: str, user_id: str, session_id: str, request: Request) -> list[str]:
        app, user = await scope(request, app_name, user_id)
        return await artifacts().service.list_artifact_keys(app_name=app, user_id=user, session_id=session_id)

    @r.post(base, summary="Save a new version of an artifact", openapi_extra=body_doc(SaveArtifactRequest))
    async def save(app_name: str, user_id: str, session_id: str, request: Request) -> dict[str, Any]:
        app, user = await scope(request, app_name, user_id)
        try:
            body = SaveArtifactRequest.model_validate(await json_body(request))
            part = types.Part.model_validate(body.artifact)
        except PydanticValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "body"
            raise ValidationError(f"{where}: {err.get('msg', 'invalid')}", field=where) from None
        if user_view and part.file_data is not None and part.file_data.file_uri:
            # an agent's artifact tools hand it to the model: a Gemini backend would fetch it
            assert ctx.runtime is not None
            rt = ctx.runtime.current()
            owner_app = rt.apps.get(app)
            if owner_app is not None:
                file_uris.check(ctx.config.allow_client_file_uris, rt.snapshot, owner_app,
                                run={"parts": [body.artifact]}, where="artifact.fileData.fileUri")
        svc = artifacts().service
        version = await svc.save_artifact(app_name=app, user_id=user, session_id=session_id,
                                          filename=body.filename, artifact=part,
                                          custom_metadata=body.custom_metadata)
        meta = await svc.get_artifact_version(app_name=app, user_id=user, session_id=session_id,
                                              filename=body.filename, version=version)
        if meta is None:  # deleted in between
            raise NotFoundError(f"artifact {body.filename!r} not found")
        return meta_json(meta, user, user_id)

    async def _load(request: Request, app_name: str, user_id: str, session_id: str, name: str,
                    version: int | None) -> dict[str, Any]:
        app, user = await scope(request, app_name, user_id)
        part = await artifacts().service.load_artifact(app_name=app, user_id=user, session_id=session_id,
                                                       filename=name, version=version)
        if part is None:
            raise NotFoundError("Artifact not found")
        return part_json(part)

    async def _meta(request: Request, app_name: str, user_id: str, session_id: str, name: str,
                    version: int | None) -> dict[str, Any]:
        app, user = await scope(request, app_name, user_id)
        meta = await artifacts().service.get_artifact_version(app_name=app, user_id=user, session_id=session_id,
                                                              filename=name, version=version)
        if meta is None:
            raise NotFoundError("Artifact version not found")
        return meta_json(meta, user, user_id)

    # the version routes first: names may contain '/', so the catch-all {name:path} comes last
    @r.get(base + "/{name:path}/versions/metadata", summary="Metadata of every version")
    async def versions_meta(app_name: str, user_id: str, session_id: str, name: str,
                            request: Request) -> list[dict[str, Any]]:
        app, user = await scope(request, app_name, user_id)
        found = await artifacts().service.list_artifact_versions(app_name=app, user_id=user,
                                                                 session_id=session_id, filename=name)
        return [meta_json(m, user, user_id) for m in found]

    @r.get(base + "/{name:path}/versions/{version_id}/metadata", summary="Metadata of one version")
    async def version_meta(app_name: str, user_id: str, session_id: str, name: str, version_id: str,
                           request: Request) -> dict[str, Any]:
        return await _meta(request, app_name, user_id, session_id, name, version_of(version_id))

    @r.get(base + "/{name:path}/versions/{version_id}", summary="One version of an artifact")
    async def load_version(app_name: str, user_id: str, session_id: str, name: str, version_id: str,
                           request: Request) -> dict[str, Any]:
        return await _load(request, app_name, user_id, session_id, name, version_of(version_id))

    @r.get(base + "/{name:path}/versions", summary="Version numbers of an artifact")
    async def versions(app_name: str, user_id: str, session_id: str, name: str, request: Request) -> list[int]:
        app, user = await scope(request, app_name, user_id)
        return await artifacts().service.list_versions(app_name=app, user_id=user, session_id=session_id,
                                                       filename=name)

    @r.get(base + "/{name:path}/url", summary="magec: a signed, expiring download URL of one version")
    async def url(app_name: str, user_id: str, session_id: str, name: str, request: Request,
                  version: int | None = None) -> dict[str, Any]:
        app, user = await scope(request, app_name, user_id)
        arts = artifacts()
        meta = await arts.service.get_artifact_version(app_name=app, user_id=user, session_id=session_id,
                                                       filename=name, version=version)
        if meta is None:
            raise NotFoundError("Artifact version not found")
        expires = time.time() + arts.ttl
        token = arts.signer.mint(Claims(app, user, "" if name.startswith("user:") else session_id, name,
                                        meta.version, expires, meta.create_time))
        origin = ctx.config.public_url or str(request.base_url)
        return {"url": f"{origin.rstrip('/')}/api/v1/ephemeral/artifacts/{token}", "version": meta.version,
                "expiresAt": int(expires)}

    @r.get(base + "/{name:path}", summary="An artifact's latest version (or ?version=N)")
    async def load(app_name: str, user_id: str, session_id: str, name: str, request: Request,
                   version: int | None = None) -> dict[str, Any]:
        return await _load(request, app_name, user_id, session_id, name, version)

    @r.delete(base + "/{name:path}", status_code=204, summary="Delete every version of an artifact")
    async def delete(app_name: str, user_id: str, session_id: str, name: str, request: Request) -> Response:
        app, user = await scope(request, app_name, user_id)
        await artifacts().service.delete_artifact(app_name=app, user_id=user, session_id=session_id, filename=name)
        return Response(status_code=204)

    return r


def router(ctx: AppContext) -> APIRouter:
    """The user app's artifact routes: ``/api/v1/agent/apps/…/artifacts`` with client-token auth."""
    from magec.api.clients import authenticate

    r = GatedRouter(("/api/v1/agent/",))  # api/routing.py: other paths are turned away at once
    r.include_router(artifact_router(ctx, authenticate), prefix="/api/v1/agent")
    return r
