"""Shared helpers for mapping provider failures onto :mod:`magec.errors` (vendor-neutral).

Vendor modules catch their SDK's exceptions and call :func:`from_status` / :func:`from_transport`;
every message built here has passed :func:`magec.redact.redact`.
"""

from __future__ import annotations

import email.utils
import html
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from magec.backends import _transport
from magec.errors import (
    BackendAuthError,
    BackendBadRequestError,
    BackendConnectionError,
    BackendError,
    BackendHTTPError,
    BackendNotFoundError,
    BackendRateLimitError,
    BackendTimeoutError,
    ContentFilteredError,
    MagecError,
    MalformedResponseError,
)
from magec.redact import redact

_FILTER_CODES = ("content_filter", "content_policy_violation", "content_filtered", "safety")


def safe(text: object) -> str:
    return redact(str(text))


def parse_retry_after(headers: Mapping[str, str] | Any | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    get = headers.get
    ms = get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_HTML = re.compile(r"<\s*(!doctype|html|head|body|title|h1)\b", re.IGNORECASE)
#: how much of an HTML error page is read for its title, heading or text (a page's title is near
#: its top; what comes after cannot change the 200 characters kept)
PAGE_BYTES = 16 * 1024
#: a tag: no ``<`` inside, so a run of unclosed ``<`` costs one pass, not one pass per ``<``
_TAG = re.compile(r"<[^<>]*>")


def _opening(name: str) -> re.Pattern[str]:
    return re.compile(rf"<{name}\b[^<>]*>", re.IGNORECASE)


def _closing(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}\s*>", re.IGNORECASE)


def _inside(page: str, name: str) -> str | None:
    """The content of ``page``'s first ``<name …>…</name>`` element, or None. Two searches, each
    one pass, rather than a lazy ``(.*?)</name>``, which scanned to the end of the page from every
    ``<name>`` that was never closed (quadratic)."""
    opened = _opening(name).search(page)
    closed = _closing(name).search(page, opened.end()) if opened else None
    return page[opened.end():closed.start()] if opened and closed else None


def _without(page: str, name: str) -> str:
    """``page`` without its ``<name>…</name>`` elements (script, style): their text is not shown."""
    kept, at = [], 0
    while (opened := _opening(name).search(page, at)) and (closed := _closing(name).search(page, opened.end())):
        kept.append(page[at:opened.start()])
        at = closed.end()
    return " ".join([*kept, page[at:]])


def plain_text(message: str) -> str:
    """``message`` as text: an HTML error page (a proxy's or load balancer's) is reduced to its
    title / heading and visible text, so it is never copied raw into an error message.

    Linear in the page and bounded (:data:`PAGE_BYTES`): whatever answers at a backend's URL writes
    it, and a page of unclosed ``<h1>`` held the event loop for seconds."""
    if not _HTML.search(message):
        return message
    page = message[:PAGE_BYTES]
    picked = _inside(page, "title") or _inside(page, "h1")
    text = picked if picked else _without(_without(page, "script"), "style")
    text = html.unescape(_TAG.sub(" ", text))
    text = " ".join(text.split())[:200]
    return f"{text} (an HTML error page)" if text else "an HTML error page"


def provider_message(body: Any, fallback: str = "") -> str:
    """The human message inside a vendor error body (``{"error": {"message": ...}}`` and friends)."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return str(body)[:500] or fallback
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if msg:
                return str(msg)
        elif isinstance(err, str):
            return err
    return fallback


def from_status(
    status: int,
    message: str,
    *,
    backend: str | None,
    headers: Mapping[str, str] | Any | None = None,
    code: str | None = None,
) -> BackendError:
    """The most specific error for an HTTP error status from a provider."""
    text = safe(f"{backend or 'backend'}: HTTP {status}: {plain_text(message)}".rstrip(": "))
    if code and any(c in code.lower() for c in _FILTER_CODES):
        return ContentFilteredError(text, backend=backend, status=status)
    if status in (401, 403):
        return BackendAuthError(text, status=status, backend=backend)
    if status == 429:
        return BackendRateLimitError(
            text, status=status, backend=backend, retry_after=parse_retry_after(headers)
        )
    if status in (400, 413, 422):
        return BackendBadRequestError(text, status=status, backend=backend)
    if status == 404:
        return BackendNotFoundError(text, status=status, backend=backend)
    if status in (408, 504):
        return BackendTimeoutError(text, backend=backend, status=status)
    return BackendHTTPError(text, status=status, backend=backend)


#: httpx's timeout exception names → what ran out
_TIMEOUTS = {
    "ConnectTimeout": "timed out connecting (connect deadline)",
    "ReadTimeout": "timed out waiting for data from the provider (read deadline)",
    "WriteTimeout": "timed out sending the request (read deadline)",
    "PoolTimeout": "timed out waiting for a free connection (connect deadline)",
}


def _chain(exc: BaseException | None) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def from_transport(
    exc: BaseException, *, backend: str | None, mid_stream: bool = False
) -> BackendError | None:
    """Map transport-level failures (httpx/httpx2, sockets, JSON) found anywhere in ``exc``'s chain.

    ``mid_stream`` says the response had started: a dropped connection then means the stream was
    cut, which is a malformed (incomplete) response rather than an unreachable provider.
    """
    label = backend or "backend"
    chain = _chain(exc)
    # The SDKs' aiohttp transport (magec.backends._transport) wraps its own exceptions in httpx
    # ones that do not always say what happened: the aiohttp exception underneath decides.
    for e in chain:
        found = _transport.classify(e, mid_stream=mid_stream)
        if found is None:
            continue
        kind, detail = found
        if kind == "timeout":
            return BackendTimeoutError(safe(f"{label}: {_TIMEOUTS.get(detail, 'request timed out')}"), backend=backend)
        if kind == "cut":
            return MalformedResponseError(
                safe(f"{label}: response stream ended mid-way ({no_address(detail)})"), backend=backend
            )
        return BackendConnectionError(safe(f"{label}: cannot connect: {connect_reason(e)}"), backend=backend)
    for e in chain:
        name = type(e).__name__
        if isinstance(e, TimeoutError) or name.endswith("TimeoutException") or "Timeout" in name:
            what = next((_TIMEOUTS[type(c).__name__] for c in _chain(e) if type(c).__name__ in _TIMEOUTS), None)
            what = what or "request timed out"
            return BackendTimeoutError(safe(f"{label}: {what}"), backend=backend)
        if isinstance(e, json.JSONDecodeError) or name == "ValidationError":
            return MalformedResponseError(safe(f"{label}: unparseable response: {e}"), backend=backend)
        if name in ("RemoteProtocolError", "ReadError", "IncompleteRead") or (
            mid_stream and (isinstance(e, ConnectionError) or name in ("ConnectError", "NetworkError"))
        ):
            return MalformedResponseError(
                safe(f"{label}: response stream ended mid-way ({no_address(str(e))})"), backend=backend
            )
        if isinstance(e, ConnectionError | OSError) or name in (
            "ConnectError",
            "NetworkError",
            "ConnectTimeout",
        ):
            return BackendConnectionError(safe(f"{label}: cannot connect: {connect_reason(e)}"), backend=backend)
    return None


#: what names a network address in a transport error's text: a URL, ``host:port``, an IPv4 or IPv6
#: address, a socket address tuple ``('10.0.0.5', 443)``
_ADDRESS = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"
    r"|\(\s*'[^']*'\s*,\s*\d+[^)]*\)"
    r"|\bhost\s+\S+"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"
    r"|\[?[0-9a-f]*:[0-9a-f:]+:[0-9a-f:.]*\]?(?::\d+)?"
    r"|\bssl:\S+",
    re.I,
)


def no_address(text: str) -> str:
    """``text`` with network addresses taken out.

    Why: these messages reach clients of the user API (error events, ``/v1`` errors), who have no
    business learning where magec's backends live (a private address, an internal host name,
    a port); the operator finds the backend by the label in front of the message."""
    return re.sub(r"\s{2,}", " ", _ADDRESS.sub("", text)).strip(" :,") or "connection failed"


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, without the address it went to (:func:`no_address`): the OS error's
    own words (``Connection refused``, ``Name or service not known``) when there is one."""
    for e in _chain(exc):
        os_error = getattr(e, "os_error", None) if not isinstance(e, OSError) else e
        if isinstance(os_error, OSError):
            if type(e).__name__ == "ClientConnectorDNSError" or isinstance(os_error, socket.gaierror):
                return "the host name could not be resolved"
            if os_error.errno is not None and os_error.errno > 0:
                return os.strerror(os_error.errno)
            if "certificate" in type(e).__name__.lower() or "ssl" in type(e).__name__.lower():
                return "TLS handshake failed"
    return no_address(str(exc))


def via_aiohttp(exc: BaseException) -> bool:
    """Whether ``exc``'s chain holds an exception of the SDKs' aiohttp transport."""
    return any(_transport.classify(e, mid_stream=False) is not None for e in _chain(exc))


def sdk_timeout(exc: BaseException, backend: str | None, mid_stream: bool) -> BackendError:
    """An SDK's ``APITimeoutError`` (openai, anthropic): what really failed underneath. The aiohttp
    transport reports some non-timeouts (a refused connection) as timeouts."""
    found = from_transport(exc, backend=backend, mid_stream=mid_stream)
    if isinstance(found, BackendTimeoutError) or (found is not None and via_aiohttp(exc)):
        return found
    return BackendTimeoutError(safe(f"{backend}: request timed out"), backend=backend)


def stream_incomplete(backend: str | None) -> MalformedResponseError:
    return MalformedResponseError(
        safe(f"{backend or 'backend'}: response stream ended before the model finished"), backend=backend
    )


def malformed(backend: str | None, what: str) -> MalformedResponseError:
    """An answer whose JSON does not have the shape the provider's API documents."""
    return MalformedResponseError(safe(f"{backend or 'backend'}: unexpected response shape: {what}"), backend=backend)


def text_field(value: object, backend: str | None, where: str) -> str | None:
    """A text field of a provider's answer: the string, or None when absent; anything else is a
    malformed answer naming ``where`` (dropped, it made a turn that answered nothing)."""
    if value is None or isinstance(value, str):
        return value
    raise malformed(backend, f"{where} is not a string")


def json_object(answer: Any, backend: str | None) -> dict[str, Any]:
    """An SDK's ``cast_to=object`` answer as the JSON object it must be (the SDK hands back the
    text when the content type is not JSON); anything else is a malformed answer."""
    if isinstance(answer, str):
        try:
            answer = json.loads(answer)
        except ValueError:
            raise malformed(backend, "the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise malformed(backend, "the answer is not a JSON object")
    return answer


def content_filtered(backend: str | None, detail: str = "") -> ContentFilteredError:
    return ContentFilteredError(
        safe(f"{backend or 'backend'}: the provider refused the content{': ' + detail if detail else ''}"),
        backend=backend,
    )


@dataclass
class CallState:
    """Mutable per-call flags the error mapper reads (``started``: response bytes have arrived)."""

    started: bool = False


def scrub_chain(exc: BaseException) -> None:
    """Redact the text carried by ``exc`` and its causes, so tracebacks logged later leak nothing.

    Vendor exceptions keep their type and attributes; only string payloads (``args``, ``message``)
    are rewritten.
    """
    for e in _chain(exc):
        try:
            e.args = tuple(redact(a) if isinstance(a, str) else a for a in e.args)
            msg = getattr(e, "message", None)
            if isinstance(msg, str):
                e.message = redact(msg)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):  # some exception types have read-only attributes
            continue


Mapper = Callable[[Exception, "str | None", bool], BackendError]


def _magec_cause(exc: BaseException) -> MagecError | None:
    seen: set[int] = set()
    cur: BaseException | None = exc.__cause__ or exc.__context__
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, MagecError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


@contextmanager
def mapped(mapper: Mapper, backend: str | None, state: CallState | None = None) -> Iterator[None]:
    """Turn any exception raised in the block into the vendor-mapped :class:`BackendError`.

    ``MagecError`` passes through; ``BaseException`` that is not an ``Exception`` (cancellation,
    generator close) is never touched.
    """
    try:
        yield
    except MagecError:
        raise
    except Exception as e:
        # an SDK may wrap an error magec raised under it (e.g. the answer size cap in an httpx
        # hook becomes the SDK's "connection error"): the typed original is the truth
        inner = _magec_cause(e)
        if inner is not None:
            raise inner from None
        err = mapper(e, backend, bool(state and state.started))
        scrub_chain(e)
        raise err from e
