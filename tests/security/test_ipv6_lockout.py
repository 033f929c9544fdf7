"""Hostile: an admin-password guesser holding a whole IPv6 /48 (a free tunnel broker hands one out).

The lockout counts an IPv6 caller per /64 (one host is usually given a whole /64), which alone let
one attacker with a /48 move to the next of its 65,536 /64s after every fifth wrong password:
327,680 guesses a minute instead of 5. The /48 now has its own count too, of four times the
address limit (20 a minute): a site's hosts may share it, a guesser no longer multiplies it.
Driven through a trusted proxy (``X-Forwarded-For``), as a real IPv6 client reaches magec behind one.
"""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps

A = "/api/v1/admin"
PW = "right-password-123"
BAD = {"Authorization": "Bearer wrong"}


def behind(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_moving_through_the_64s_of_a_48_is_counted(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", admin_password=PW, config={"trusted_proxies": ["127.0.0.1"]}) as apps:
        answers = []
        for n in range(40):  # a new /64 of 2001:db8:7::/48 for every guess
            r = await apps.admin.get(f"{A}/backends", headers={**BAD, **behind(f"2001:db8:7:{n:x}::1")})
            answers.append(r.status_code)
        assert answers[:20] == [401] * 20, answers
        assert set(answers[20:]) == {429}, answers
        # the right password from a /64 of that /48 nobody used waits too: a guess past the limit tells nothing
        r = await apps.admin.get(f"{A}/backends", headers={**behind("2001:db8:7:ffff::9"),
                                                           "Authorization": f"Bearer {PW}"})
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61
        # another /48, and IPv4 callers, are not affected
        r = await apps.admin.get(f"{A}/backends", headers={**behind("2001:db8:8::1"), "Authorization": f"Bearer {PW}"})
        assert r.status_code == 200
        r = await apps.admin.get(f"{A}/backends", headers={**behind("203.0.113.7"), "Authorization": f"Bearer {PW}"})
        assert r.status_code == 200


async def test_one_64_still_gets_five(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "d", admin_password=PW, config={"trusted_proxies": ["127.0.0.1"]}) as apps:
        answers = [(await apps.admin.get(f"{A}/backends", headers={**BAD, **behind(f"2001:db8:9::{n:x}")})).status_code
                   for n in range(7)]  # every address of one /64
        assert answers == [401] * 5 + [429] * 2, answers
        # the rest of its /48 may still sign in
        r = await apps.admin.get(f"{A}/backends", headers={**behind("2001:db8:9:1::1"), "Authorization": f"Bearer {PW}"})
        assert r.status_code == 200
