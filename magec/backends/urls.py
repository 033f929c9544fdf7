"""Base-URL rules per backend type. URLs are *joined*, never replaced, so proxies with a path prefix work.

==========================  =====================================  =============================
input                       openai (SDK appends ``/chat/...``)     anthropic / gemini
==========================  =====================================  =============================
``""``                      ``https://api.openai.com/v1``          vendor default host
``http://parakeet:5092``    ``http://parakeet:5092/v1``            unchanged
``http://ollama:11434/v1/`` ``http://ollama:11434/v1``             (trailing ``/v1`` dropped:
``http://host/openai/v1``   ``http://host/openai/v1``              the SDK adds the version)
==========================  =====================================  =============================

No result ever ends with ``/`` or contains ``//`` in its path or a doubled version segment.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

OPENAI_DEFAULT = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT = "https://api.anthropic.com"
GEMINI_DEFAULT = "https://generativelanguage.googleapis.com"


def _split(url: str) -> tuple[str, str, str]:
    """(scheme, netloc, path without trailing or doubled slashes); a bare host gets ``http://``."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    return parts.scheme, parts.netloc, path


def join_url(base: str, path: str) -> str:
    """``base`` + ``/`` + ``path`` with exactly one slash between them and none at the end."""
    scheme, netloc, base_path = _split(base)
    tail = "/".join(seg for seg in path.split("/") if seg)
    full = f"{base_path}/{tail}" if tail else base_path
    return urlunsplit((scheme, netloc, full, "", ""))


def openai_base_url(url: str | None) -> str:
    """The base URL the openai SDK is given: empty → OpenAI; no path → ``/v1``; a path is kept."""
    if not url or not url.strip():
        return OPENAI_DEFAULT
    scheme, netloc, path = _split(url)
    return urlunsplit((scheme, netloc, path or "/v1", "", ""))


def _strip_version(url: str | None, default: str, versions: tuple[str, ...]) -> str:
    if not url or not url.strip():
        return default
    scheme, netloc, path = _split(url)
    for version in versions:
        if path.endswith("/" + version):
            path = path[: -len(version) - 1]
            break
    return urlunsplit((scheme, netloc, path, "", ""))


def anthropic_base_url(url: str | None) -> str:
    """The anthropic SDK appends ``/v1/messages``: a trailing ``/v1`` on the user's URL is dropped."""
    return _strip_version(url, ANTHROPIC_DEFAULT, ("v1",))


def gemini_base_url(url: str | None) -> str:
    """google-genai appends ``/<api_version>/models/...``: a trailing ``/v1beta`` or ``/v1`` is dropped."""
    return _strip_version(url, GEMINI_DEFAULT, ("v1beta", "v1alpha", "v1"))


def openai_v1_hint(url: str | None) -> str | None:
    """For a 404 from an OpenAI-compatible server: the URL the user probably meant, or None.

    Every OpenAI-compatible server (OpenAI, Ollama, LM Studio, vLLM, LiteLLM) serves ``/v1/…``; a
    URL whose path does not end in ``/v1`` (Ollama's native ``http://host:11434/api``, a proxy's
    ``http://host/openai``, an endpoint ``…/v1/chat/completions``) reaches none of it (a URL with
    no path already gets ``/v1``: :func:`openai_base_url`). A native ``/api`` path means the root's ``/v1``;
    any other path is taken for a proxy prefix, with ``/v1`` after it."""
    if not url or not url.strip() or "${" in url:
        return None
    scheme, netloc, path = _split(url)
    # no path: the client already went to /v1 (openai_base_url), so /v1 is not what is missing;
    # another version (/v2, Azure's /openai/deployments/...) is the user's own choice
    if not path or path.endswith("/v1") or not netloc or re.search(r"/v\d+$", path):
        return None
    if path == "/api" or path.startswith("/api/") or "/v1/" in path + "/":
        path = path.split("/v1/", 1)[0] if "/v1/" in path else ""
    return urlunsplit((scheme, netloc, f"{path}/v1", "", ""))
