"""Files a client names by URI, where the agent's backend would fetch them with this server's key.

Why: a Gemini backend passes a part's ``fileData.fileUri`` to the Gemini API, which resolves it
with the install's API key: a Files API name (``https://generativelanguage.googleapis.com/…/files/…``)
reads a file uploaded to the key owner's project — another user's upload, say — and a ``gs://``
object one the key may read. So a client-token holder could have the model read files it was
never given. OpenAI-protocol and Anthropic backends pass a link on as an image URL, which the
provider fetches anonymously from the internet (docs/security.md, "Links in client messages are the
backend's to fetch"): no credential of the install goes with it, so links stay allowed there.

Contract: :func:`check` raises :class:`~magec.errors.ValidationError` (400 naming the part; A2A
answers it as JSON-RPC invalid params) for the first client-named file URI of a request to an agent
or flow that may call a Gemini backend (primary, fallbacks, a flow's agents), unless
``server.allowClientFileURIs`` is set. Inline data (``inlineData``, ``data:`` URLs, A2A file bytes)
is never refused. The parts are read as the client sent them, before anything is converted:

* the run API's ``newMessage.parts[i].fileData`` (``file_data``),
* a ``/v1`` message's (``/v1/responses`` input item's) ``image_url`` / ``input_image`` link,
* A2A's ``params.message.parts[i]``: a 0.3 ``file.uri`` or a 1.0 ``url``,
* an artifact a client saves (``artifact.fileData``): an agent's artifact tools hand it to the model.
"""

from __future__ import annotations

from typing import Any

from magec.agents.apps import App
from magec.errors import ValidationError
from magec.runtime.admission import backends_of


def reaches_gemini(snap: Any, app: App) -> bool:
    """Whether a turn of ``app`` may call a Gemini backend."""
    for backend_id in backends_of(snap, app.kind, app.id):
        backend = snap.backends.get(backend_id)
        if backend is not None and backend.type == "gemini":
            return True
    return False


def _refuse(where: str) -> ValidationError:
    return ValidationError(
        f"{where}: a file named by URI would be fetched by this agent's Gemini backend with the server's "
        "key; send the file inline (inlineData, or a base64 data: URL), or ask the admin to set "
        "server.allowClientFileURIs", field=where)


def _is_link(url: Any) -> bool:
    return isinstance(url, str) and bool(url) and not url.startswith("data:")


def _run_part(part: dict[str, Any]) -> bool:
    ref = part.get("fileData", part.get("file_data"))
    return isinstance(ref, dict) and bool(ref.get("fileUri", ref.get("file_uri")))


def _v1_part(part: dict[str, Any]) -> bool:
    if part.get("type") not in ("image_url", "input_image"):
        return False
    image = part.get("image_url")
    return _is_link(image.get("url") if isinstance(image, dict) else image)


def _a2a_part(part: dict[str, Any]) -> bool:
    file = part.get("file")
    return _is_link(file.get("uri") if isinstance(file, dict) else None) or _is_link(part.get("url"))


def _parts(parts: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, p) for i, p in enumerate(parts) if isinstance(p, dict)] if isinstance(parts, list) else []


def check(allowed: bool, snap: Any, app: App, *, run: Any = None, v1: tuple[str, Any] | None = None,
          a2a: Any = None, where: str = "") -> None:
    """Refuse the first client-named file URI (see the module contract). ``run``: the run API's
    ``newMessage`` (``where``: the field named instead of ``newMessage.parts[i]…``: an artifact's);
    ``v1``: (``"messages"`` or ``"input"``, that list); ``a2a``: ``params.message``."""
    if allowed or not reaches_gemini(snap, app):
        return
    if isinstance(run, dict):
        for i, part in _parts(run.get("parts")):
            if _run_part(part):
                raise _refuse(where or f"newMessage.parts[{i}].fileData.fileUri")
    if v1 is not None:
        key, messages = v1
        for m, message in _parts(messages):
            for i, part in _parts(message.get("content")):
                if _v1_part(part):
                    raise _refuse(f"{key}[{m}].content[{i}].image_url")
    if isinstance(a2a, dict):
        for i, part in _parts(a2a.get("parts")):
            if _a2a_part(part):
                raise _refuse(f"params.message.parts[{i}].file.uri" if "file" in part else f"params.message.parts[{i}].url")
