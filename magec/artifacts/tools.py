"""The agents' artifact tools, as Magec names and shapes them (``server/agent/tools/artifacts``).

* ``save_artifact(name, content, mime_type?, is_base64?)`` → ``{success, version, message}``.
  Text is stored as a text part (``text/plain``) unless ``mime_type`` (or, when absent, the
  filename's extension) says another type, then as bytes of that type, so ``report.md``
  downloads as ``text/markdown``; ``is_base64`` content is decoded and stored as bytes.
* ``load_artifact(name)`` → ``{success, content, mime_type?, is_base64?, message}`` (text for
  text parts and UTF-8 ``text/*`` / JSON bytes, base64 otherwise).
* ``list_artifacts()`` → ``{success, artifacts, count, message}`` (this session's and the
  user's ``user:`` names).
* ``get_artifact_url(name, version?)`` → ``{success, url, expires_at, message}`` (Magec G2): a
  signed ephemeral download URL under ``server.publicURL`` (see :mod:`magec.artifacts.signing`).

Failures (missing name, a limit, unknown artifact) are results with ``success: false`` and a
message naming the cause — the model reads them and can recover, as in Magec — never raised.
All go through the invocation's artifact service, so the scope is the running session's owner.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import time
from collections.abc import Callable
from typing import Any

from google.adk.tools import FunctionTool, ToolContext
from google.genai import types

from magec.artifacts.signing import Claims, Signer
from magec.errors import MagecError

#: the paragraph added to the instruction of agents with these tools (Magec's wording)
PARAGRAPH = (
    "You have access to artifact tools for creating and managing files:\n"
    "- Use 'save_artifact' to save code, documents, data files, or any content that should be "
    'delivered as a downloadable file. Provide a filename (e.g. "report.md", "main.py", "data.csv"), '
    "the content, and optionally a mime_type. For binary content, set is_base64=true and provide "
    "base64-encoded data.\n"
    "- Use 'load_artifact' to retrieve a previously saved artifact by name.\n"
    "- Use 'list_artifacts' to see all artifacts in the current session.\n"
    "- Use 'get_artifact_url' to get a temporary download link for an artifact.\n\n"
    "IMPORTANT: When generating code files, long documents, configuration files, scripts, or any "
    "substantial structured content, ALWAYS use save_artifact instead of pasting it in the chat."
)


def _part(name: str, content: str, mime_type: str, is_base64: bool) -> types.Part:
    if is_base64:
        data = base64.b64decode(content, validate=True)
        return types.Part(inline_data=types.Blob(mime_type=mime_type or "application/octet-stream", data=data))
    mime = mime_type or mimetypes.guess_type(name)[0] or "text/plain"
    if mime == "text/plain":
        return types.Part(text=content)
    return types.Part(inline_data=types.Blob(mime_type=mime, data=content.encode()))


def _textual(mime: str | None) -> bool:
    m = (mime or "").split(";")[0].strip().lower()
    return m.startswith("text/") or m.endswith(("+json", "+xml", "/json", "/xml", "/javascript", "/yaml"))


async def save_artifact(
    name: str, content: str, tool_context: ToolContext, mime_type: str = "", is_base64: bool = False
) -> dict[str, Any]:
    """Save a file artifact (code, documents, data, images, etc.) that will be delivered to the user as a
    downloadable file. Use this instead of pasting long code blocks or file contents directly in chat. For
    text content, provide it directly in the 'content' field. For binary content (images, PDFs, etc.), set
    'is_base64' to true and provide base64-encoded data in 'content'. The artifact persists across the
    session and can be retrieved later."""
    if not name:
        return {"success": False, "version": 0, "message": "name is required"}
    if not content:
        return {"success": False, "version": 0, "message": "content is required"}
    try:
        part = _part(name, content, mime_type, is_base64)
    except (binascii.Error, ValueError) as e:
        return {"success": False, "version": 0, "message": f"invalid base64 content: {e}"}
    try:
        version = await tool_context.save_artifact(name, part)
    except MagecError as e:
        return {"success": False, "version": 0, "message": f"failed to save: {e}"}
    return {"success": True, "version": version,
            "message": f"Artifact '{name}' saved (version {version}). It will be delivered to the user as a file."}


async def load_artifact(name: str, tool_context: ToolContext) -> dict[str, Any]:
    """Load a previously saved artifact by name. Returns the artifact content. Use list_artifacts first to
    see available artifacts."""
    if not name:
        return {"success": False, "content": "", "message": "name is required"}
    try:
        part = await tool_context.load_artifact(name)
    except MagecError as e:
        return {"success": False, "content": "", "message": f"artifact not found: {e}"}
    if part is None:
        return {"success": False, "content": "", "message": f"artifact not found: {name}"}
    if part.text is not None:
        return {"success": True, "content": part.text, "message": "Artifact loaded successfully"}
    blob = part.inline_data
    if blob is not None:
        data = blob.data or b""
        if _textual(blob.mime_type):
            try:
                return {"success": True, "content": data.decode(), "mime_type": blob.mime_type,
                        "message": "Artifact loaded successfully"}
            except UnicodeDecodeError:
                pass
        return {"success": True, "content": base64.b64encode(data).decode(), "mime_type": blob.mime_type,
                "is_base64": True, "message": "Binary artifact loaded successfully"}
    return {"success": False, "content": "", "message": "artifact has no content"}


async def list_artifacts(tool_context: ToolContext) -> dict[str, Any]:
    """List all artifacts saved in the current session. Returns the filenames of all available artifacts."""
    try:
        names = await tool_context.list_artifacts()
    except MagecError as e:
        return {"success": False, "artifacts": [], "count": 0, "message": f"failed to list artifacts: {e}"}
    return {"success": True, "artifacts": names, "count": len(names), "message": f"Found {len(names)} artifact(s)"}


def url_tool(signer: Callable[[], Signer | None], base_url: str, ttl: float) -> FunctionTool:
    """``get_artifact_url``: links under ``base_url`` (``server.publicURL`` or the local default)."""

    async def get_artifact_url(name: str, tool_context: ToolContext, version: int | None = None) -> dict[str, Any]:
        """Get a temporary download link (valid for a limited time) for a saved artifact, to share with
        the user. Optionally a specific version; the latest by default."""
        s = signer()
        if s is None:
            return {"success": False, "url": "", "message": "download links are not available"}
        try:
            meta = await tool_context.get_artifact_version(name, version)
        except MagecError as e:
            return {"success": False, "url": "", "message": f"artifact not found: {e}"}
        if meta is None:
            return {"success": False, "url": "", "message": f"artifact not found: {name}"}
        session = tool_context.session
        expires = time.time() + ttl
        claims = Claims(session.app_name, session.user_id, "" if name.startswith("user:") else session.id,
                        name, meta.version, expires, meta.create_time)
        url = f"{base_url.rstrip('/')}/api/v1/ephemeral/artifacts/{s.mint(claims)}"
        return {"success": True, "url": url, "version": meta.version, "expires_at": int(expires),
                "message": f"Download link for '{name}' (version {meta.version}), valid for {int(ttl)} seconds"}

    return FunctionTool(get_artifact_url)


def artifact_tools(url: FunctionTool | None) -> list[Any]:
    tools: list[Any] = [FunctionTool(save_artifact), FunctionTool(load_artifact), FunctionTool(list_artifacts)]
    if url is not None:
        tools.append(url)
    return tools
