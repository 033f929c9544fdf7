"""The Gemini connection (google-genai, Gemini Developer API): base URL, key, headers, client.

google-genai 2.x sends the key in the ``x-goog-api-key`` header (never ``?key=`` in the URL) and,
for an API-key client, calls ``{base}/v1beta/...``; we pin ``api_version="v1beta"`` so a custom
base URL gets the same paths as the real API.
"""

from __future__ import annotations

from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from magec import hops
from magec.backends._errors import content_filtered, from_status, from_transport, provider_message, safe
from magec.backends._limits import event_hooks, pool_limits
from magec.backends._shared import shared_client, spec_key
from magec.backends.base import BackendSpec
from magec.backends.urls import gemini_base_url
from magec.errors import BackendError, BackendTimeoutError
from magec.redact import register_secret

API_VERSION = "v1beta"
# google-genai refuses to build an API-key client without a key; keyless gateways get this
# placeholder (sent as x-goog-api-key, which they ignore).
NO_KEY_PLACEHOLDER = "magec-no-api-key"


def _async_http(spec: BackendSpec) -> httpx2.AsyncClient:
    """The async HTTP client google-genai uses for this spec: read/write = the read deadline
    (between bytes), connect/pool = the connect deadline. Passing a client also keeps google-genai
    off aiohttp, whose timeout is a total one."""
    timeouts = httpx2.Timeout(spec.timeout, connect=spec.connect_timeout, pool=spec.connect_timeout)

    async def deadlines(request: httpx2.Request) -> None:
        # google-genai passes timeout=None (= "no timeout") with each request; ours wins
        request.extensions = {**request.extensions, "timeout": timeouts.as_dict()}

    hooks = event_hooks(spec, spec.name or spec.id or "gemini")
    # follow_redirects=False (httpx's default, stated so it stays): a redirect from whatever answers
    # at the backend's URL must not send the request on to another address (magec.backends._transport)
    return httpx2.AsyncClient(timeout=timeouts, limits=pool_limits(), follow_redirects=False,
                              event_hooks={"request": [deadlines], **hooks})


class GeminiConnection:
    """Owns one ``genai.Client``. SDK retries are off (``attempts=1``); deadlines in seconds."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.base_url = gemini_base_url(spec.url)
        self.label = spec.name or spec.id or "gemini"
        register_secret(spec.api_key)
        self._client: genai.Client | None = None

    def _build(self) -> genai.Client:
        """A new SDK client for this spec (called once per distinct spec; see magec.backends._shared)."""
        options = types.HttpOptions(
            base_url=self.base_url,
            api_version=API_VERSION,
            # google-genai has no per-request hook: the loop guard's header names this instance
            # (magec's own API speaks the OpenAI protocol, so chains run through openai backends).
            headers={**self.spec.headers, hops.HEADER: hops.INSTANCE_ID},
            # no per-call timeout (google-genai would apply one number to every phase, and with
            # aiohttp installed as a total): our own httpx client sets the connect and read deadlines
            httpx_async_client=_async_http(self.spec),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        client = genai.Client(api_key=self.spec.api_key or NO_KEY_PLACEHOLDER, http_options=options)
        return client

    @property
    def client(self) -> genai.Client:
        if self._client is None:
            self._client = shared_client(spec_key("gemini", self.spec, self.base_url), self._build)
        return self._client

    async def aclose(self) -> None:
        """Drop this connection's reference; the shared client stays warm for other connections."""
        self._client = None


def map_error(exc: Exception, backend: str | None, mid_stream: bool) -> BackendError:
    """The most specific :mod:`magec.errors` type for an exception out of google-genai."""
    if isinstance(exc, genai_errors.APIError):
        headers: Any = getattr(getattr(exc, "response", None), "headers", None)
        message = exc.message or provider_message(exc.details, fallback=str(exc.status or ""))
        status = exc.status or ""
        if exc.code == 400 and "SAFETY" in status.upper():
            return content_filtered(backend, message)
        if exc.code == 499 or status == "DEADLINE_EXCEEDED":
            return BackendTimeoutError(safe(f"{backend}: {message}"), backend=backend)
        return from_status(exc.code or 500, message, backend=backend, headers=headers, code=status or None)
    mapped = from_transport(exc, backend=backend, mid_stream=mid_stream)
    if mapped is not None:
        return mapped
    return BackendError(safe(f"{backend}: {type(exc).__name__}: {exc}"), backend=backend)
