"""The Anthropic connection: base URL (proxies such as CLIProxyAPI supported), key, headers, client."""

from __future__ import annotations

from typing import Any

import anthropic

from magec import hops
from magec.backends._errors import (
    content_filtered,
    from_status,
    from_transport,
    provider_message,
    safe,
    sdk_timeout,
)
from magec.backends._shared import shared_client, spec_key
from magec.backends._transport import endpoint, http_client, quiet_headers, sdk_target
from magec.backends.base import BackendSpec
from magec.backends.urls import anthropic_base_url
from magec.errors import BackendConnectionError, BackendError, MalformedResponseError
from magec.redact import register_secret

# Always pass *some* key: with none the SDK would go looking for ANTHROPIC_API_KEY, profiles and
# credential files of the host. With no key configured the auth headers are omitted entirely.
NO_KEY_PLACEHOLDER = "magec-no-api-key"


class _MagecAsyncAnthropic(anthropic.AsyncAnthropic):
    """The stock client plus the loop-guard header, set per request (see :mod:`magec.hops`)."""

    async def _prepare_request(self, request: Any) -> None:
        await super()._prepare_request(request)
        request.headers[hops.HEADER] = hops.outgoing()


class _KeylessAsyncAnthropic(_MagecAsyncAnthropic):
    """The stock client, minus its check that an auth header is present."""

    def _validate_headers(self, headers: Any, omitted: Any) -> None:
        return None


class AnthropicConnection:
    """Owns one ``AsyncAnthropic`` client for a backend spec. SDK retries are off."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec
        self.base_url = anthropic_base_url(spec.url)
        self.label = spec.name or spec.id or "anthropic"
        register_secret(spec.api_key)
        self._client: anthropic.AsyncAnthropic | None = None

    def _build(self) -> anthropic.AsyncAnthropic:
        """A new SDK client for this spec (called once per distinct spec; see magec.backends._shared)."""
        base_url, headers = sdk_target(self.base_url, self.spec.headers)  # URL credentials: Basic auth
        headers = quiet_headers(headers, anthropic.Omit)  # nothing about this host (magec.backends._transport)
        kwargs: dict[str, Any] = {
            "base_url": base_url,
            # read/write = the read deadline (between bytes); connect and pool = the connect deadline
            "timeout": anthropic.Timeout(
                self.spec.timeout, connect=self.spec.connect_timeout, pool=self.spec.connect_timeout
            ),
            "max_retries": 0,
            # the SDK's own client settings, plus the answer size cap (magec.backends._limits)
            "http_client": http_client(anthropic.DefaultAioHttpClient, self.spec, self.label),
        }
        if self.spec.api_key:
            client = _MagecAsyncAnthropic(api_key=self.spec.api_key, default_headers=headers, **kwargs)
        else:
            headers.setdefault("Authorization", anthropic.Omit())
            headers.setdefault("X-Api-Key", anthropic.Omit())
            client = _KeylessAsyncAnthropic(api_key=NO_KEY_PLACEHOLDER, default_headers=headers, **kwargs)
        return client

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = shared_client(spec_key("anthropic", self.spec, self.base_url), self._build)
        return self._client

    def endpoint(self, path: str) -> str:
        """The absolute URL of ``path`` for ``client.post`` (see :func:`magec.backends._transport.endpoint`)."""
        return endpoint(str(self.client.base_url), path)

    async def aclose(self) -> None:
        """Drop this connection's reference; the shared client stays warm for other connections."""
        self._client = None


def map_error(exc: Exception, backend: str | None, mid_stream: bool) -> BackendError:
    """The most specific :mod:`magec.errors` type for an exception out of the anthropic SDK."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body
        code = None
        if isinstance(body, dict):
            err = body.get("error", body)
            if isinstance(err, dict):
                code = str(err.get("type") or "") or None
        message = provider_message(body, fallback=exc.message)
        if code and "refus" in code:
            return content_filtered(backend, message)
        return from_status(exc.status_code, message, backend=backend, headers=exc.response.headers, code=code)
    if isinstance(exc, anthropic.APITimeoutError):
        return sdk_timeout(exc, backend, mid_stream)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return MalformedResponseError(safe(f"{backend}: unexpected response shape: {exc}"), backend=backend)
    mapped = from_transport(exc, backend=backend, mid_stream=mid_stream)
    if mapped is not None:
        return mapped
    if isinstance(exc, anthropic.APIConnectionError):
        return BackendConnectionError(safe(f"{backend}: cannot connect: {exc}"), backend=backend)
    return BackendError(safe(f"{backend}: {type(exc).__name__}: {exc}"), backend=backend)
