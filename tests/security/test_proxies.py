"""Trusted proxies and the brute-force limiter.

``X-Forwarded-For`` counts only when the direct peer is a configured trusted proxy, so rotating it
from anywhere else neither escapes the lockout nor locks someone else out; the limiter's memory
stays bounded however many addresses fail.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import httpx
import pytest

from magec.api.lockout import FailureLimiter
from magec.config import load_config
from magec.errors import ConfigError, RateLimitedError
from magec.testing.apps import running_apps
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
PW = "right-password-123"
BAD = {"Authorization": "Bearer wrong"}


async def test_rotating_forwarded_for_from_untrusted_peer_gets_429(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", admin_password=PW) as apps:
        codes = []
        for i in range(8):
            r = await apps.admin.get(f"{A}/backends", headers={**BAD, "X-Forwarded-For": f"10.0.{i}.1"})
            codes.append(r.status_code)
        assert codes == [401] * 5 + [429] * 3
        assert int(r.headers["Retry-After"]) > 0 and "error" in r.json()
        # the lockout applies to the peer, whatever it claims to be
        r = await apps.admin.get(f"{A}/backends", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 429


async def test_spoofed_forwarded_for_cannot_lock_out_the_admin(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", admin_password=PW) as apps:
        # an attacker at another address claims to be the admin's address
        attacker = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=apps.admin._transport.app, client=("198.51.100.7", 4444)),  # type: ignore[attr-defined]
            base_url="http://admin")
        async with attacker:
            for _ in range(6):
                await attacker.get(f"{A}/backends", headers={**BAD, "X-Forwarded-For": "127.0.0.1"})
            assert (await attacker.get(f"{A}/backends", headers=BAD)).status_code == 429
        # the admin (peer 127.0.0.1) is unaffected
        assert (await apps.admin.get(f"{A}/backends")).status_code == 200


async def test_forwarded_for_honoured_only_from_trusted_proxy(tmp_path: Path) -> None:
    # the in-process client's peer is 127.0.0.1: here it plays the reverse proxy
    async with running_apps(tmp_path / "d", admin_password=PW,
                            config={"trusted_proxies": ["127.0.0.0/8", "10.10.0.0/16"]}) as apps:
        for _ in range(5):
            await apps.admin.get(f"{A}/backends", headers={**BAD, "X-Forwarded-For": "203.0.113.5"})
        assert (await apps.admin.get(f"{A}/backends", headers={"X-Forwarded-For": "203.0.113.5"})).status_code == 429
        # another client behind the proxy is unaffected
        assert (await apps.admin.get(f"{A}/backends", headers={"X-Forwarded-For": "203.0.113.6"})).status_code == 200
        # the client cannot prepend its way out: the right-most untrusted hop is the client
        spoof = {"X-Forwarded-For": "192.0.2.1, 203.0.113.5"}
        assert (await apps.admin.get(f"{A}/backends", headers=spoof)).status_code == 429
        # chained trusted proxies are skipped
        chained = {"X-Forwarded-For": "203.0.113.5, 10.10.3.4"}
        assert (await apps.admin.get(f"{A}/backends", headers=chained)).status_code == 429


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_thousands_of_addresses_do_not_grow_memory_unboundedly(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", admin_password=PW,
                            config={"trusted_proxies": ["127.0.0.1"]}) as apps:

        async def fail_from(first: int, count: int) -> None:
            for i in range(first, first + count):
                r = await apps.admin.get(
                    f"{A}/backends", headers={**BAD, "X-Forwarded-For": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"})
                assert r.status_code == 401

        await fail_from(0, 10_000)  # fills the limiter to its cap (and warms every other cache)
        gc.collect()
        blocks, before = sys.getallocatedblocks(), _rss()
        await fail_from(10_000, 4_000)  # 4k more distinct addresses
        gc.collect()
        # Counted in Python's allocated blocks, exact where RSS is not: tracking each address takes
        # at least one block (its key; the limiter's entry is four), 16k for these 4k addresses,
        # where at the cap new addresses replace old ones (measured: 4-415 blocks of other noise)
        assert sys.getallocatedblocks() - blocks < 1_000
        # and in RSS, for what is no Python object: tracking every address once cost ~3 KB each
        # (12 MB for 4k); at the cap ~0.5 MB of allocator noise
        grown = _rss() - before
        assert grown < 4 * 1024 * 1024, grown


def test_limiter_is_bounded_and_evicts_oldest() -> None:
    limiter = FailureLimiter(limit=5, window=60, max_keys=1000)
    for i in range(20_000):
        limiter.fail(f"k{i}")
        limiter.check(f"never-failed-{i}")  # a check alone tracks nothing
    assert len(limiter) == 1000
    # the most recent keys are still tracked and still count
    for _ in range(4):
        limiter.fail("k19999")
    with pytest.raises(RateLimitedError):
        limiter.check("k19999")


def test_trusted_proxies_configuration() -> None:
    cfg = load_config(env={"MAGEC_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "MAGEC_CORS_ORIGINS": "https://a.example"})
    assert cfg.trusted_proxies == ["10.0.0.0/8", "192.0.2.1"] and cfg.cors_origins == ["https://a.example"]
    # a typo must not silently distrust (or trust) the wrong peer
    with pytest.raises(ConfigError, match="trustedProxies.*not an IP"):
        load_config(env={"MAGEC_TRUSTED_PROXIES": "10.0.0.0/33"})


def _bad_logins(srv: ServerProcess, forwarded: list[str]) -> list[int]:
    with httpx.Client(base_url=srv.admin_url, timeout=30) as c:
        return [c.get(f"{A}/backends", headers={**BAD, "X-Forwarded-For": f}).status_code for f in forwarded]


def test_served_process_believes_forwarded_for_only_from_trusted_proxies(tmp_path: Path) -> None:
    """The same rules through the real server: the HTTP server underneath must not rewrite the
    peer from ``X-Forwarded-For`` on its own (uvicorn trusts 127.0.0.1 unless told otherwise)."""
    rotating = [f"10.0.{i}.1" for i in range(8)]
    with ServerProcess(data_dir=tmp_path / "plain", admin_password=PW).start() as srv:
        # a local peer that is no configured proxy: its claims are ignored, the lockout holds
        assert _bad_logins(srv, rotating) == [401] * 5 + [429] * 3
    trusted = {"trustedProxies": ["127.0.0.0/8"]}
    with ServerProcess(data_dir=tmp_path / "proxied", admin_password=PW, server_config=trusted).start() as srv:
        # behind a trusted proxy each forwarded client is its own: one's failures lock only it out
        assert _bad_logins(srv, ["203.0.113.5"] * 6) == [401] * 5 + [429]
        with httpx.Client(base_url=srv.admin_url, timeout=30) as c:
            ok = c.get(f"{A}/backends", headers={"Authorization": f"Bearer {PW}", "X-Forwarded-For": "203.0.113.6"})
        assert ok.status_code == 200
