"""Authentication: admin password (admin app) and client tokens (user app).

Admin: when ``server.adminPassword`` is set, every ``/api/*`` request on the admin app needs
``Authorization: Bearer <password>`` (constant-time compare). Five failures within a minute from
one client IP, on any process or replica of the install, give 429 with ``Retry-After`` until the
window passes (:mod:`magec.api.lockout`).

Client IP: the direct peer's address. ``X-Forwarded-For`` is believed only when the peer is one of
``server.trustedProxies`` (IPs or CIDRs); then the right-most address that is not itself a trusted
proxy is the client (everything left of it could have been written by the client). Anyone else
can write any value there, so honouring it from them would let an attacker rotate it past the
limiter or lock the real admin out.

Relayed requests: a reverse proxy on this machine connects from loopback, so without
``server.trustedProxies`` everyone it relays looks like this machine. The forwarding headers it adds
(``X-Forwarded-For``, ``X-Real-IP``, ``Forwarded``) are believed in one direction only, from any
peer: one naming another machine makes the request *not local* (:func:`relayed_for`). Whoever writes
such a header can only refuse themselves. So the admin app without a password, and the user API
while it is open to this machine only, refuse a proxy's callers instead of serving the internet.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection, Request

from magec.api.lockout import Lockout
from magec.errors import AuthError, ConfigError, ForbiddenError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: the admin app's refusal of a relayed request while it has no password
NO_PASSWORD_RELAYED = (
    "the Admin API has no password (server.adminPassword is not set), so it answers only this machine, "
    "and this request was relayed by a proxy for {client}: set server.adminPassword (MAGEC_ADMIN_PASSWORD) "
    "to use it through a proxy"
)


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def parse_networks(values: Iterable[str], name: str = "server.trustedProxies") -> tuple[IPNetwork, ...]:
    """IPs or CIDRs as networks; a :class:`ConfigError` naming the bad entry otherwise."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {v!r} is not an IP address or CIDR") from None
    return tuple(out)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _forwarded(request: HTTPConnection) -> list[str]:
    """The ``X-Forwarded-For`` hops, every header line, in order."""
    return [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if h.strip()]


def _forwarded_for(value: str) -> list[str]:
    """The ``for=`` nodes of an RFC 7239 ``Forwarded`` header, quotes, brackets and ports dropped."""
    out = []
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, node = pair.partition("=")
            if name.strip().lower() == "for":
                node = node.strip().strip('"')
                if node.startswith("["):
                    node = node[1:].split("]", 1)[0]
                elif node.count(":") == 1:
                    node = node.split(":", 1)[0]
                out.append(node)
    return out


def relayed_for(request: HTTPConnection) -> str | None:
    """The first client another machine's, as a proxy's forwarding headers name it (``X-Forwarded-For``,
    ``X-Real-IP``, ``Forwarded: for=``), or None when they name none or only loopback addresses.

    Read from any peer, but only to refuse (see the module docstring): a name that is no address
    (``unknown``, an obfuscated ``_hidden``) is a client the proxy would not name, so it counts."""
    nodes = _forwarded(request) + [request.headers.get("x-real-ip", "").strip()]
    for value in request.headers.getlist("forwarded"):
        nodes += _forwarded_for(value)
    for node in filter(None, nodes):
        ip = _ip(node)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is None or not ip.is_loopback:
            return node[:64]
    return None


def is_local(request: HTTPConnection, trusted: tuple[IPNetwork, ...] = ()) -> bool:
    """The caller is this machine: a loopback address (after ``X-Forwarded-For`` as
    :func:`client_ip` believes it), or no network peer at all (a Unix socket) — and no proxy's
    forwarding header names another machine (:func:`relayed_for`: a proxy on this machine that is
    not in ``server.trustedProxies`` would otherwise make everyone it relays local)."""
    if relayed_for(request) is not None:
        return False
    if request.client is None:
        return True
    peer = _ip(request.client.host)
    if peer is not None and any(peer in net for net in trusted):
        hops = _forwarded(request)
        if not hops or any(_ip(h) is None for h in hops):
            # a trusted proxy that names no client (a tunnel, socat, a proxy that adds no
            # X-Forwarded-For): whoever is behind it is unknown, so not local (fail closed)
            return False
    ip = _ip(client_ip(request, trusted))
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback


def client_ip(request: HTTPConnection, trusted: tuple[IPNetwork, ...] = ()) -> str:
    """The client's address (see the module docstring for when ``X-Forwarded-For`` counts)."""
    peer = request.client.host if request.client else "unknown"

    def is_trusted(addr: str) -> bool:
        ip = _ip(addr)
        return ip is not None and any(ip in net for net in trusted)

    if not trusted or not is_trusted(peer):
        return peer
    hops = _forwarded(request)
    for hop in reversed(hops):
        if _ip(hop) is None:  # garbage written by someone: the last proxy we trust saw `peer`
            return peer
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


class AdminAuth:
    """The admin password check, with the install-wide lockout (:mod:`magec.api.lockout`) when
    given the main database's ``engine``."""

    def __init__(self, password: str, trusted_proxies: Iterable[str] = (), engine: AsyncEngine | None = None) -> None:
        self.password = password
        self.trusted = parse_networks(trusted_proxies)
        self.limiter = Lockout("admin", engine)

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    async def verify(self, request: Request) -> None:
        if not self.enabled:
            # no password = this machine only (the app listens on loopback); a reverse proxy on
            # this machine would still relay the internet to it: refused, saying what to set
            relayed = relayed_for(request)
            if relayed is not None:
                raise ForbiddenError(NO_PASSWORD_RELAYED.format(client=relayed))
            return
        ip = client_ip(request, self.trusted)
        self.limiter.check(ip)
        token = bearer(request)
        right = bool(token) and hmac.compare_digest(token.encode(), self.password.encode())
        # a signed-out page load (no Authorization header) must not lock the admin out
        await self.limiter.judge(ip, presented="authorization" in request.headers, right=right)
        if not right:
            raise AuthError("admin password required: send Authorization: Bearer <password>")
