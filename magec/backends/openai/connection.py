"""The OpenAI (and OpenAI-compatible) connection: base URL, key, headers, timeout, SDK client."""

from __future__ import annotations

from typing import Any

import openai

from magec import hops
from magec.backends._errors import CallState, from_status, from_transport, provider_message, safe, sdk_timeout
from magec.backends._shared import shared_client, spec_key
from magec.backends._transport import endpoint, http_client, quiet_headers, sdk_target
from magec.backends.base import BackendSpec
from magec.backends.urls import openai_base_url
from magec.errors import BackendConnectionError, BackendError, MalformedResponseError
from magec.redact import register_secret

# The SDK refuses to build a client without a key. With no key configured we hand it this
# placeholder *and* omit the Authorization header, so keyless local servers (Ollama, Parakeet)
# get no credential at all and the process environment's OPENAI_API_KEY is never picked up.
NO_KEY_PLACEHOLDER = "magec-no-api-key"


class _MagecAsyncOpenAI(openai.AsyncOpenAI):
    """The stock client plus the loop-guard header (see :mod:`magec.hops`).

    The header is set per request, not as a default header: its value carries the chain of magec
    instances the *current* inbound request came through, so a loop through several instances is
    caught as well as a backend URL pointing at this instance's own ``/v1``.
    """

    async def _prepare_request(self, request: Any) -> None:
        await super()._prepare_request(request)
        request.headers[hops.HEADER] = hops.outgoing()


class _KeylessAsyncOpenAI(_MagecAsyncOpenAI):
    """The stock client, minus its check that an Authorization header is present."""

    def _validate_headers(self, headers: Any, custom_headers: Any) -> None:
        return None


class OpenAIConnection:
    """Owns one ``AsyncOpenAI`` client for a backend spec. SDK retries are off (``max_retries=0``)."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.base_url = openai_base_url(spec.url)
        self.label = spec.name or spec.id or "openai"
        register_secret(spec.api_key)
        self._client: openai.AsyncOpenAI | None = None

    def _build(self) -> openai.AsyncOpenAI:
        """A new SDK client for this spec (called once per distinct spec; see magec.backends._shared)."""
        base_url, headers = sdk_target(self.base_url, self.spec.headers)  # URL credentials: Basic auth
        headers = quiet_headers(headers, openai.Omit)  # nothing about this host (magec.backends._transport)
        # read/write = the read deadline (between bytes); connect and pool = the connect deadline
        timeouts = openai.Timeout(
            self.spec.timeout, connect=self.spec.connect_timeout, pool=self.spec.connect_timeout
        )
        # the SDK's own client settings, plus the answer size cap (magec.backends._limits)
        http = http_client(openai.DefaultAioHttpClient, self.spec, self.label)
        if self.spec.api_key:
            client = _MagecAsyncOpenAI(
                base_url=base_url,
                api_key=self.spec.api_key,
                default_headers=headers,
                timeout=timeouts,
                max_retries=0,
                http_client=http,
            )
        else:
            # A user-supplied Authorization header (e.g. a proxy token) wins over the omission.
            headers.setdefault("Authorization", openai.Omit())
            client = _KeylessAsyncOpenAI(
                base_url=base_url,
                api_key=NO_KEY_PLACEHOLDER,
                default_headers=headers,
                timeout=timeouts,
                max_retries=0,
                http_client=http,
            )
        return client

    @property
    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            self._client = shared_client(spec_key("openai", self.spec, self.base_url), self._build)
        return self._client

    def endpoint(self, path: str) -> str:
        """The absolute URL of ``path`` for ``client.post`` (see :func:`magec.backends._transport.endpoint`)."""
        return endpoint(str(self.client.base_url), path)

    async def aclose(self) -> None:
        """Drop this connection's reference; the shared client stays warm for other connections."""
        self._client = None

    def state(self) -> CallState:
        return CallState()


def map_error(exc: Exception, backend: str | None, mid_stream: bool) -> BackendError:
    """The most specific :mod:`magec.errors` type for an exception out of the openai SDK."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        code = None
        if isinstance(body, dict):
            err = body.get("error", body)
            if isinstance(err, dict):
                code = str(err.get("code") or err.get("type") or "") or None
        message = provider_message(body, fallback=exc.message)
        return from_status(exc.status_code, message, backend=backend, headers=exc.response.headers, code=code)
    if isinstance(exc, openai.APITimeoutError):
        return sdk_timeout(exc, backend, mid_stream)
    if isinstance(exc, openai.APIResponseValidationError):
        return MalformedResponseError(safe(f"{backend}: unexpected response shape: {exc}"), backend=backend)
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        from magec.backends._errors import content_filtered

        return content_filtered(backend)
    mapped = from_transport(exc, backend=backend, mid_stream=mid_stream)
    if mapped is not None:
        return mapped
    if isinstance(exc, openai.APIConnectionError):
        return BackendConnectionError(safe(f"{backend}: cannot connect: {exc}"), backend=backend)
    return BackendError(safe(f"{backend}: {type(exc).__name__}: {exc}"), backend=backend)
