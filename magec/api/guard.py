"""Browser-facing request guard for both apps: allowed hosts, Origin, JSON-only writes, headers.

Contract (one plain ASGI middleware, outermost, so nothing below it sees a refused request):

* **Allowed hosts** (DNS-rebinding defence): the ``Host`` header's name must be in the allow-list —
  ``localhost``, ``127.0.0.1``, ``::1``, the configured listen hosts (unless a wildcard address),
  the host of ``server.publicURL`` and ``server.allowedHosts`` (``*`` = any, ``*.example.com`` = any
  subdomain). A ``Host`` that is the IP address the connection arrived on (the server's own end of
  it: ``http://192.168.1.5:8080`` from the LAN to a server on ``0.0.0.0``; IPv4-mapped addresses
  of a dual-stack ``::`` listener count as their IPv4 form) is allowed too: a rebinding page's
  request carries the attacker's name, never the address, so it cannot be one. Otherwise
  ``400 {"error": ..., "field": "Host"}``. ``/api/v1/health`` is exempt (orchestrators probe by
  IP and it says nothing).
* **Origin** on state-changing requests (POST, PUT, PATCH, DELETE): an ``Origin`` header must name
  this very server — scheme, host and port, as :func:`own_origin` says what is served (the scheme
  the request arrived with, which uvicorn takes from ``X-Forwarded-Proto`` only when the peer is in
  ``server.trustedProxies``; a ``Host`` that is ``server.publicURL``'s host and port has that URL's
  scheme), so an ``http://`` page on the same host cannot drive an app served over ``https://``
  — or an allowed origin
  (``server.adminOrigins`` / ``server.corsOrigins``, where ``*`` = any); ``Origin: null`` never
  passes; without an
  ``Origin``, ``Sec-Fetch-Site`` other than ``same-origin``/``none`` is refused. Else ``403``.
  Non-browser clients send neither header and are unaffected.
* **JSON only** (admin app always; user app while it is open, i.e. no client exists): a
  state-changing request with a body must be ``Content-Type: application/json``, except on upload
  routes (voice transcription, ``/v1/audio/transcriptions``, the admin backup restore, skill
  packages and reference files), which also take ``multipart/form-data`` and raw ``audio/*``,
  ``video/*``, ``application/octet-stream`` or ``application/gzip``. Else ``415`` naming what the
  route takes. This stops the
  "simple" cross-site requests (``text/plain``, form posts) a browser sends without a preflight.
* **Headers** on every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``; ``Cache-Control: no-store`` on API responses; on the Admin UI a
  ``Content-Security-Policy`` (see :func:`ui_csp`) — not on ``/docs`` (Swagger UI, served from
  local assets by :mod:`magec.api.docs`, initialised by an inline script).
* **/metrics**: when tokens are configured, ``Authorization: Bearer <token>`` is required (401);
  failures count in the caller's per-IP limiter, so the endpoint cannot be used to guess them.

* **Open, local only** (user app while no client exists and ``server.openAccess`` is ``local``):
  API routes (``/api/``, ``/v1/``; health aside) and WebSockets answer ``403`` to a peer that is not
  a loopback address (``X-Forwarded-For`` names the client only from ``server.trustedProxies``;
  from any peer, a forwarding header naming another machine makes it remote:
  :func:`magec.api.auth.relayed_for`). An open API
  runs every agent (and their tools) for anyone; the ``Host`` check stops DNS rebinding, not a
  network caller who sends ``Host: localhost``.
* **WebSockets**: the same Host check and the same Origin rule (on every handshake, not only
  writes: a browser sends this server's cookies with any page's WebSocket); refused handshakes
  are closed before acceptance (HTTP 403).
* **CORS** (:func:`install`): preflights and CORS headers for ``server.corsOrigins`` only, on
  every route (run API, sessions, voice, ``/v1``); none configured = no cross-origin access.

Every refusal is a JSON ``{"error": ...}`` body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request

from magec.api.auth import IPNetwork, bearer, client_ip, is_local
from magec.api.errors import error_response
from magec.api.lockout import Lockout
from magec.config import Config
from magec.errors import MagecError, RateLimitedError

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_TYPES = ("multipart/form-data", "audio/", "video/", "application/octet-stream", "application/gzip",
                "application/x-gzip")
#: routes that take uploads rather than JSON, with what each takes in its words (the 415 names it):
#: the voice transcription routes of both apps, a backup archive to restore, skill packages and
#: reference files. multipart is a type a form can post cross-site: the Origin rule stops those.
UPLOAD_ROUTES = (
    (re.compile(r"^/api/v1/(admin/)?voice/[^/]+/transcription$|^/v1/audio/transcriptions$"),
     "application/json, multipart/form-data or audio/*"),
    (re.compile(r"^/api/v1/admin/settings/restore$"), "application/gzip or application/octet-stream"),
    (re.compile(r"^/api/v1/admin/skills/(upload|[^/]+/references)$"), "multipart/form-data"),
)


def upload_types(path: str) -> str | None:
    """What the upload route at ``path`` takes (for the 415), or None for a JSON-only route."""
    return next((wanted for pattern, wanted in UPLOAD_ROUTES if pattern.match(path)), None)
EXEMPT = frozenset({"/api/v1/health", "/api/v1/health/ready"})  # magec.api.health.PROBES
_WILDCARD_BIND = {"", "0.0.0.0", "::", "[::]"}


def host_name(value: str) -> str:
    """The lower-cased name of a ``Host`` value or host entry, without port or IPv6 brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:  # name:port (a bare IPv6 literal has several colons)
        return value.split(":", 1)[0]
    return value


def default_allowed_hosts(config: Config, *, admin: bool) -> list[str]:
    """Loopback names, the listen hosts, the public URL's host and ``server.allowedHosts``."""
    hosts = ["localhost", "127.0.0.1", "::1", *config.allowed_hosts]
    listen = [config.host, config.admin_host or config.host] if admin else [config.host]
    hosts += [h for h in listen if h.strip() not in _WILDCARD_BIND]
    if config.public_url:
        hosts.append(urlsplit(config.public_url).hostname or "")
    return [h for h in hosts if h]


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``value`` as an IP address (zone dropped, IPv4-mapped IPv6 as IPv4), or None for a name."""
    try:
        addr = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def arrived_on(host_header: str, scope: dict[str, Any]) -> bool:
    """Whether ``Host`` names the address this connection arrived on (ASGI ``scope["server"]``,
    the local end of the socket). DNS rebinding needs the browser to send the attacker's name,
    so a bare address that is this socket's own is the user typing the server's IP."""
    server = scope.get("server")
    if not server or not server[0]:
        return False
    name, local = _address(host_name(host_header)), _address(str(server[0]))
    return name is not None and name == local and not name.is_unspecified


class HostAllowList:
    def __init__(self, hosts: Iterable[str]) -> None:
        names = {host_name(h) for h in hosts if h.strip()}
        self.any = "*" in names
        self.exact = frozenset(n for n in names if not n.startswith(("*.", ".")))
        self.suffixes = tuple("." + n.lstrip("*.") for n in names if n.startswith(("*.", ".")))

    def allows(self, host_header: str) -> bool:
        if self.any:
            return True
        name = host_name(host_header)
        return bool(name) and (name in self.exact or name.endswith(self.suffixes))


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, default ports dropped (how browsers send it); a value
    that is no URL (``http://[::1``: urlsplit raises) comes back as it is, matching no origin."""
    try:
        parts = urlsplit(origin.strip().rstrip("/").lower())
        port = parts.port
    except ValueError:
        return origin.strip().lower()
    if not parts.scheme or not parts.hostname:
        return origin.strip().lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def own_origin(scope: Mapping[str, Any], host: str, public_origin: str = "") -> str:
    """The origin this request was served at, normalised (:func:`normalise_origin`): the scheme it
    arrived with (``ws``/``wss`` as ``http``/``https``; behind a TLS-terminating proxy that is
    ``https`` only when the proxy is trusted, uvicorn's ``X-Forwarded-Proto`` rule) and the ``Host``.
    ``public_origin`` (``server.publicURL``'s) is the operator's word for the scheme of its host and
    port: a ``Host`` naming them is served with that scheme, whatever the proxy forwarded."""
    scheme = str(scope.get("scheme") or "http").lower()
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    host = host.strip()
    if public_origin and "://" in public_origin:
        declared = public_origin.split("://", 1)[0]
        if normalise_origin(f"{declared}://{host}") == public_origin:
            return public_origin
    return normalise_origin(f"{scheme}://{host}")


def same_origin(origin: str, own: str) -> bool:
    """Whether an ``Origin`` header names this very server, whose origin is ``own``
    (:func:`own_origin`): scheme, host and port alike. An ``http://`` page on the host of an app
    served over ``https://`` is another origin (whoever can answer plain HTTP for the name, on the
    path or on the LAN, writes it). A header that is no URL names no server: the caller's 403."""
    origin = origin.strip()
    return "://" in own and bool(origin) and origin != "null" and normalise_origin(origin) == own


def ui_csp(ui_dir: Path) -> str:
    """The Admin UI's Content-Security-Policy.

    The UI is static Vue 3 ESM with runtime-compiled templates (Vue's compiler needs
    ``'unsafe-eval'``), one inline import map (allowed by its hash, computed from ``index.html`` so
    editing it keeps working), ``:style`` bindings (inline styles), a ``data:`` favicon and
    ``blob:`` audio for the playground; every request goes to this origin.
    """
    script = ["'self'", "'unsafe-eval'"]
    index = ui_dir / "index.html"
    if index.is_file():
        for body in re.findall(r"<script[^>]*>(.*?)</script>", index.read_text(), flags=re.S):
            if body.strip():
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                script.append(f"'sha256-{digest}'")
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {' '.join(script)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "font-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


@dataclass
class GuardPolicy:
    hosts: HostAllowList
    #: allowed cross-origin origins (normalised)
    origins: frozenset[str]
    #: whether state-changing requests must carry JSON right now
    json_only: Callable[[], bool]
    #: response paths under these prefixes are API responses (``Cache-Control: no-store``)
    api_prefixes: tuple[str, ...] = ("/api/",)
    #: CSP for everything that is not API, docs or metrics (the Admin UI); None = no CSP
    csp: str | None = None
    #: the setting listing the allowed origins, named in a refusal (an operator behind a proxy that rewrites
    #: ``Host`` meets it on every save and needs to know where to allow the public origin)
    origins_setting: str = "server.adminOrigins (MAGEC_ADMIN_ORIGINS)"
    #: accepted bearer tokens for /metrics; empty = /metrics is not guarded here
    metrics_tokens: tuple[str, ...] = ()
    trusted_proxies: tuple[IPNetwork, ...] = ()
    #: whether API routes and WebSockets answer only this machine right now (the user app while it
    #: needs no token and ``server.openAccess`` is ``local``); asked only for a remote peer, and
    #: caught up with every replica's writes (a client created elsewhere opens the API at once)
    local_only: Callable[[], Awaitable[bool]] | None = None
    #: the wrong-token lockout of ``/metrics`` (the admin app passes its password's: one count)
    limiter: Lockout = field(default_factory=lambda: Lockout("metrics"))
    #: ``server.publicURL``'s origin (normalised), or "": the scheme its host and port are served with
    public_origin: str = ""
    #: whether an Origin refusal may advise setting ``server.publicURL`` (the user API's address:
    #: not on the admin app, whose own address it never is)
    public_url_hint: bool = True


_BASE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
#: scope state set on a request from a peer that is not this machine, on an app that answers only
#: this machine while it is open (read by magec.api.clients.authenticate)
REMOTE = "magec.remote"
#: the refusal of a remote caller while the user API is open (no client, ``openAccess: local``)
OPEN_LOCAL_ONLY = (
    "no client exists yet, so the user API needs no token and answers only this machine: create a "
    "client (Admin UI → Clients) and send its token, or set server.openAccess: network to let anyone "
    "reach it without one"
)
#: paths that are not a UI page (no CSP): these exact paths and everything under them. A prefix
#: test alone ("/docs…") left the CSP off the UI itself, which the catch-all serves at "/docs-x"
_NOT_UI = ("/api", "/v1", "/docs", "/docs-assets", "/openapi.json", "/metrics", "/swagger")


def _not_ui(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _NOT_UI)


class RequestGuard:
    """The ASGI middleware enforcing :class:`GuardPolicy` (contract in the module docstring)."""

    def __init__(self, app: Any, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            remote = await self._remote_refusal(scope)
            problem = self._websocket_refusal(scope, Headers(scope=scope)) or (remote[1] if remote else None)
            if problem is not None:
                await receive()  # websocket.connect; closing before accepting answers the handshake 403
                await send({"type": "websocket.close", "code": 1008, "reason": problem})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = Headers(scope=scope)
        refusal = None if path in EXEMPT else self._refusal(scope, path, headers)
        if refusal is None and path == "/metrics" and self.policy.metrics_tokens:
            refusal = await self._metrics_refusal(scope)
        if refusal is None and path not in EXEMPT and path.startswith(self.policy.api_prefixes):
            remote = await self._remote_refusal(scope)
            if remote is not None:
                refusal = error_response(*remote)
        extra = list(_BASE_HEADERS)
        if path.startswith(self.policy.api_prefixes) or path == "/metrics":
            extra.append((b"cache-control", b"no-store"))
        elif self.policy.csp and not _not_ui(path):
            extra.append((b"content-security-policy", self.policy.csp.encode()))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in extra}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + extra}
            await send(message)

        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _origin_allowed(self, origin: str, host: str, scope: Mapping[str, Any]) -> bool:
        if origin.strip() == "null":
            return False
        if same_origin(origin, own_origin(scope, host, self.policy.public_origin)):
            return True
        return "*" in self.policy.origins or normalise_origin(origin) in self.policy.origins

    def _origin_refusal(self, origin: str, host: str, scope: Mapping[str, Any], headers: Headers) -> str:
        """Why ``origin`` is refused, in the words that fix it: an operator's own page behind a
        proxy meets this on every save. The same host and port over ``https`` while the request
        arrived as ``http`` is a TLS proxy magec does not trust (named by its address); another
        host is a proxy that rewrote ``Host``. ``server.publicURL`` is advised only where it
        applies (the user app: it is the user API's address, never the admin app's)."""
        said = f"cross-origin request from {origin!r} refused"
        own = own_origin(scope, host, self.policy.public_origin)
        theirs = normalise_origin(origin)
        if "://" not in theirs or "://" not in own:
            return f"{said}: that origin is not allowed"
        (their_scheme, their_place), (own_scheme, own_place) = theirs.split("://", 1), own.split("://", 1)
        setting = self.policy.origins_setting
        if their_place == own_place and their_scheme == "https" and own_scheme == "http":
            peer = str((scope.get("client") or ("?",))[0])
            proto = headers.get("x-forwarded-proto")
            sent = f"its X-Forwarded-Proto: {proto} was ignored" if proto else "it sent no X-Forwarded-Proto"
            fixes = [f"add the proxy's address ({peer}) to server.trustedProxies (MAGEC_TRUSTED_PROXIES) "
                     "and have it send X-Forwarded-Proto"]
            if self.policy.public_url_hint:
                fixes.append(f"set server.publicURL to {theirs}")
            fixes.append(f"list {theirs} in {setting}")
            return (f"{said}: the page is served over https but reached magec as plain http through a proxy "
                    f"at {peer} that is not in server.trustedProxies ({sent}); " + ", or ".join(fixes))
        if their_place == own_place and their_scheme == "http" and own_scheme == "https":
            return f"{said}: a plain-http page may not write to this server, which is served over https"
        if their_place != own_place:
            return (f"{said}: that origin is not allowed (magec was reached as {own}: if {theirs} is "
                    f"this server's own address behind a proxy that rewrites Host, list it in {setting})")
        return f"{said}: that origin is not allowed (list it in {setting} to allow it)"

    def _host_allowed(self, host: str, scope: dict[str, Any]) -> bool:
        return self.policy.hosts.allows(host) or arrived_on(host, scope)

    def _websocket_refusal(self, scope: dict[str, Any], headers: Headers) -> str | None:
        """Why a WebSocket handshake is refused (bad Host, foreign Origin), or None.

        Browsers let any page open a WebSocket to any host and send this host's cookies with it,
        so the Origin check that guards writes guards every WebSocket too."""
        host = headers.get("host", "")
        if not self._host_allowed(host, scope):
            return f"Host {host_name(host)!r} is not allowed"
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, host, scope):
            return "cross-origin WebSocket refused: that origin is not allowed"
        return None

    def _refusal(self, scope: dict[str, Any], path: str, headers: Headers) -> Any:
        host = headers.get("host", "")
        if not self._host_allowed(host, scope):
            return error_response(
                400,
                f"Host {host_name(host)!r} is not allowed: add it to server.allowedHosts "
                "(MAGEC_ALLOWED_HOSTS) if this server is meant to be reached by that name",
                field="Host",
            )
        method = scope.get("method", "GET")
        if method in STATE_CHANGING:
            origin = headers.get("origin")
            if origin is not None:
                if not self._origin_allowed(origin, host, scope):
                    return error_response(403, self._origin_refusal(origin, host, scope, headers), field="Origin")
            elif headers.get("sec-fetch-site", "same-origin").lower() not in ("same-origin", "none"):
                return error_response(403, "cross-site request refused", field="Origin")
            if self.policy.json_only() and _has_body(headers):
                ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
                upload = upload_types(path)
                if ctype != "application/json" and not (upload and ctype.startswith(UPLOAD_TYPES)):
                    wanted = upload or "application/json"
                    return error_response(
                        415, f"Content-Type must be {wanted}, got {ctype or 'none'!r}", field="Content-Type"
                    )
        return None

    async def _remote_refusal(self, scope: dict[str, Any]) -> tuple[int, str] | None:
        """(status, why) a peer that is not this machine is refused while the app is open, or None.
        When the runtime cannot say (a failed rebuild), its own error is the answer (a 503 a client
        retries): this middleware sits outside the app's error handlers, and refusing is the safe side."""
        if self.policy.local_only is None or is_local(HTTPConnection(scope), self.policy.trusted_proxies):
            return None
        # the routes' own client auth refuses it too if it finds the app open after all (a last
        # client deleted on another replica a moment ago: magec.api.clients.authenticate)
        scope.setdefault("state", {})[REMOTE] = True
        try:
            return (403, OPEN_LOCAL_ONLY) if await self.policy.local_only() else None
        except MagecError as e:
            return e.status_code, e.message

    async def _metrics_refusal(self, scope: dict[str, Any]) -> Any:
        request = Request(scope)
        ip = client_ip(request, self.policy.trusted_proxies)
        token = bearer(request).encode()
        try:
            self.policy.limiter.check(ip)
            right = bool(token) and any(hmac.compare_digest(token, t.encode()) for t in self.policy.metrics_tokens)
            await self.policy.limiter.judge(ip, presented="authorization" in request.headers, right=right)
        except RateLimitedError as e:
            return error_response(429, e.message, headers={"Retry-After": str(e.retry_after)})
        if right:
            return None
        return error_response(401, "metrics token required: send Authorization: Bearer <metricsToken>")


def install(app: Any, policy: GuardPolicy, cors_origins: Iterable[str]) -> None:
    """Add CORS (only for ``cors_origins``) and, outside it, the guard; call after other middleware."""
    from starlette.middleware.cors import CORSMiddleware

    origins = [normalise_origin(o) for o in cors_origins]
    if origins:
        # Bearer tokens, not cookies, authenticate cross-origin callers: no credentials mode, so
        # "*" (any origin) is possible and no cookie of this server is ever sent cross-origin.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Accept-Language"],
            expose_headers=["Retry-After", "Content-Type", "Content-Length"],
            max_age=600,
        )
    app.add_middleware(RequestGuard, policy=policy)


def _has_body(headers: Headers) -> bool:
    if "transfer-encoding" in headers:
        return True
    try:
        return int(headers.get("content-length", "0") or 0) > 0
    except ValueError:
        return True
