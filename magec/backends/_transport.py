"""The HTTP transport under the vendor SDKs: the SDKs' own aiohttp client.

Why: the openai and anthropic SDKs ship an aiohttp-backed ``httpx`` client
(``DefaultAioHttpClient``, their documented option for async throughput). Against the bench's
loopback mock it costs ~40 % less CPU per streamed network read than their default
``httpx``/``httpcore``/``anyio`` stack (~145 vs ~245 µs of CPU per paced token on the bench
machine) and ~0.25 ms less per non-streamed call; the request building, headers, timeouts, status
errors and response models stay the SDK's. :func:`http_client` builds one with magec's limits
(:mod:`magec.backends._limits`: answer size cap, pool size).

Its exceptions differ from httpcore's, and the SDKs' adapter maps some of them oddly (a refused
connection arrives as ``httpx.ConnectTimeout``), so :func:`classify` reads the aiohttp exception
under the SDK's and names what happened in magec's vocabulary (:mod:`magec.backends._errors`).

An aiohttp session belongs to the loop that opened it and must be closed on it:
:mod:`magec.backends._shared` closes the clients of a loop when the serving context closes.

What the adapters hand the SDK to send is shaped here too: :func:`endpoint` (an absolute URL,
parsed once) and :func:`json_body` (the body as JSON bytes, a long history encoded a message at
a time).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import httpx2

from magec.backends._limits import event_hooks, pool_limits
from magec.backends.base import BackendSpec

#: aiohttp timeout type → the httpx exception named for it in magec.backends._errors._TIMEOUTS
_TIMEOUT_NAMES = {aiohttp.ConnectionTimeoutError: "ConnectTimeout", aiohttp.SocketTimeoutError: "ReadTimeout"}


def http_client(sdk_client: type[httpx2.AsyncClient], spec: BackendSpec, label: str) -> httpx2.AsyncClient:
    """``sdk_client`` (an SDK's ``DefaultAioHttpClient``) with the answer cap and the pool size, and
    redirects not followed.

    Why no redirects: the SDKs follow them by default, so whatever answers at a backend's URL could
    answer ``307 Location: http://127.0.0.1:8081/api/v1/admin/...`` and have magec replay the
    request, method and body included, against its own admin port or any address inside its
    network. A provider's API never needs one; a 3xx ends the call as a backend error."""
    return sdk_client(event_hooks=event_hooks(spec, label), limits=pool_limits(), follow_redirects=False)


#: Headers the vendor SDKs add to every request to describe the calling host: its OS, CPU
#: architecture, Python and SDK versions, async library. Where a self-hosted server runs is not its
#: provider's business, so magec omits them (:func:`quiet_headers`). They were also ~20 % of the
#: CPU of a plain SDK call: each header is parsed and copied about six times per request between
#: the SDK, httpx2 and aiohttp.
SDK_HOST_HEADERS = (
    "X-Stainless-Lang",
    "X-Stainless-Package-Version",
    "X-Stainless-OS",
    "X-Stainless-Arch",
    "X-Stainless-Runtime",
    "X-Stainless-Runtime-Version",
    "X-Stainless-Async",
)


def quiet_headers(headers: dict[str, Any], omit: Callable[[], Any]) -> dict[str, Any]:
    """``headers`` for an SDK client's ``default_headers``, with :data:`SDK_HOST_HEADERS` removed
    (``omit``: the SDK's own ``Omit``, which its header merge drops). A backend that configures one
    of them still sends its own value."""
    return {**{name: omit() for name in SDK_HOST_HEADERS}, **headers}


def sdk_target(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The base URL and default headers to give an SDK client for ``url`` and ``headers``.

    A backend URL may carry credentials (``https://user:pass@proxy/v1``). httpx sent them as Basic
    auth in place of the SDK's own ``Authorization``; aiohttp refuses a URL with credentials beside
    that header. So the SDK gets the bare URL and the Basic header as a default header (which wins
    over its own and over a configured ``Authorization``, as httpx's did)."""
    parsed = httpx2.URL(url)
    if not parsed.userinfo:
        return url, dict(headers)
    token = base64.b64encode(f"{parsed.username}:{parsed.password}".encode()).decode()
    kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return str(parsed.copy_with(userinfo=b"")), {**kept, "Authorization": f"Basic {token}"}


@functools.lru_cache(maxsize=256)
def endpoint(base_url: str, path: str) -> str:
    """The absolute URL of ``path`` under an SDK client's ``base_url``, to give its ``post``.

    Why not the relative path: the SDKs merge a relative path into their base URL (two URL parses
    and a copy) and httpx parses the result again; an absolute URL is parsed once by each. ~0.2 ms
    less CPU per model call on the bench machine; the request sent is the same."""
    return str(base_url).rstrip("/") + "/" + path.lstrip("/")


#: model-request contents above which an adapter builds and encodes its body in a worker thread
LONG_REQUEST = 512


def json_body(body: dict[str, Any]) -> bytes:
    """``body`` as the JSON bytes a vendor SDK would send for it (their encoder's settings:
    ``ensure_ascii=False``, compact separators, no NaN), to give its ``post(..., content=...)``.

    Why the SDK does not encode it: one ``json.dumps`` of a 16k-message body is a single C call
    that holds the GIL for 15–60 ms, a stall of the event loop even when it runs in a worker
    thread. Here ``messages`` is encoded one message at a time (the loop gets its turns between
    them) and placed first; the other fields follow, encoded together (they are small)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) <= 64:
        return _dumps(body)
    rest = _dumps({k: v for k, v in body.items() if k != "messages"})
    parts = [b'{"messages":[', b",".join(_dumps(m) for m in messages), b"]"]
    parts.append(b"," + rest[1:] if len(rest) > 2 else b"}")
    return b"".join(parts)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def classify(exc: BaseException, *, mid_stream: bool) -> tuple[str, str] | None:
    """``(kind, detail)`` for an aiohttp failure: kind is ``"timeout"`` (detail: the httpx timeout
    name it stands for, or ``""``), ``"cut"`` (the answer ended mid-way or the server hung up
    without one) or ``"connect"``; None when ``exc`` is not aiohttp's."""
    if not isinstance(exc, aiohttp.ClientError):
        return None
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "timeout", next((n for t, n in _TIMEOUT_NAMES.items() if isinstance(exc, t)), "")
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return "cut", str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", str(exc)
    if isinstance(exc, aiohttp.ClientOSError | aiohttp.ClientConnectionError):
        return ("cut" if mid_stream else "connect"), str(exc) or type(exc).__name__
    return None
