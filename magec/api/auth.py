"""Authentication: admin password (admin app) and client tokens (user app).

Admin: when ``server.adminPassword`` is set, every ``/api/*`` request on the admin app needs
``Authorization: Bearer <password>`` (constant-time compare). Five failures within a minute from
one client IP give 429 with ``Retry-After`` until the window passes.

Client IP: the direct peer's address. ``X-Forwarded-For`` is believed only when the peer is one of
``server.trustedProxies`` (IPs or CIDRs); then the right-most address that is not itself a trusted
proxy is the client (everything left of it could have been written by the client). Anyone else
can write any value there, so honouring it from them would let an attacker rotate it past the
limiter or lock the real admin out.

The limiter's memory is bounded: at most ``max_keys`` addresses are tracked, each with at most
``limit`` timestamps; when full, expired entries go first, then the least recently failed ones.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Iterable

from starlette.requests import HTTPConnection, Request

from magec.errors import AuthError, ConfigError, RateLimitedError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def is_local(request: HTTPConnection, trusted: tuple[IPNetwork, ...] = ()) -> bool:
    """The caller is this machine: a loopback address (after ``X-Forwarded-For`` as
    :func:`client_ip` believes it), or no network peer at all (a Unix socket)."""
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


class FailureLimiter:
    """Counts failures per key in a sliding window; ``check`` raises 429 when over the limit.

    Bounded: at most ``max_keys`` keys, each holding at most ``limit`` timestamps.
    """

    def __init__(self, limit: int = 5, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # least recently failed first; a tuple of at most `limit` times is a few dozen bytes
        self._failures: OrderedDict[str, tuple[float, ...]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def _recent(self, key: str, now: float) -> tuple[float, ...]:
        times = self._failures.get(key, ())
        return tuple(t for t in times if now - t <= self.window)

    @staticmethod
    def _key(key: str) -> str:
        # one IPv6 host is usually handed a whole /64: counted per address, it could guess for ever
        ip = _ip(key)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
            return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
        return key

    def check(self, key: str) -> None:
        key = self._key(key)
        now = time.monotonic()
        times = self._recent(key, now)
        if len(times) >= self.limit:
            retry = max(1, int(self.window - (now - times[0])) + 1)
            raise RateLimitedError(
                "too many failed authentication attempts; try again later", retry_after=retry
            )

    def fail(self, key: str) -> None:
        key = self._key(key)
        now = time.monotonic()
        times = (*self._recent(key, now), now)[-self.limit :]
        self._failures.pop(key, None)
        if len(self._failures) >= self.max_keys:
            self._evict(now)
        self._failures[key] = times

    def _evict(self, now: float) -> None:
        # oldest last-failure first: expired keys sit at the front, so stop at the first live one
        while self._failures:
            key, times = next(iter(self._failures.items()))
            if now - times[-1] > self.window or len(self._failures) >= self.max_keys:
                del self._failures[key]
            else:
                break

    def reset(self, key: str) -> None:
        self._failures.pop(self._key(key), None)


class AdminAuth:
    def __init__(self, password: str, trusted_proxies: Iterable[str] = ()) -> None:
        self.password = password
        self.trusted = parse_networks(trusted_proxies)
        self.limiter = FailureLimiter()

    @property
    def enabled(self) -> bool:
        return bool(self.password)

    def verify(self, request: Request) -> None:
        if not self.enabled:
            return
        ip = client_ip(request, self.trusted)
        self.limiter.check(ip)
        token = bearer(request)
        if not token or not hmac.compare_digest(token.encode(), self.password.encode()):
            # Only a presented-and-wrong credential counts towards the lockout: a signed-out page
            # load (no Authorization header at all) must not lock the admin out.
            if "authorization" in request.headers:
                self.limiter.fail(ip)
            raise AuthError("admin password required: send Authorization: Bearer <password>")
