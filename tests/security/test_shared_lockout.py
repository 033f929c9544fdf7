"""The admin password's lockout is the install's, not a process's: five wrong passwords a minute
from one address, whichever worker or replica they reach, and every later answer is 429 — the
right password included, so a guess made after the limit tells nothing (magec.api.lockout).

Driven like an attacker: real ``magec serve`` processes, fresh connections (the kernel spreads them
over ``--workers``), two replicas on one PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.server import ServerProcess
from tests.runtime.test_workers import WORKER, fresh, wait_both_serving

A = "/api/v1/admin"
PASSWORD = "right-admin-password-1234"


def guess(base: str, password: str) -> httpx.Response:
    return fresh("GET", f"{base}{A}/backends", headers={"Authorization": f"Bearer {password}"})


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "w", admin_password=PASSWORD, extra_args=["--workers", "2"]).start(timeout=300)
    try:
        wait_both_serving(srv)
        yield srv
    finally:
        srv.stop()


def test_wrong_passwords_spread_over_workers_count_once(two_workers: ServerProcess) -> None:
    base = two_workers.admin_url
    assert guess(base, PASSWORD).status_code == 200
    answers: list[tuple[str, int]] = []
    # keep guessing until each worker has answered at least twice after the fifth failure: counted
    # per worker, the second worker would still be answering 401 there
    while len(answers) < 80:
        r = guess(base, f"wrong-{len(answers)}")
        answers.append((r.headers[WORKER], r.status_code))
        after = answers[5:]
        if all(sum(1 for w, _ in after if w == worker) >= 2 for worker in ("0", "1")):
            break
    statuses = [s for _, s in answers]
    assert statuses[:5] == [401] * 5, answers
    assert set(statuses[5:]) == {429}, answers
    assert {w for w, _ in answers[5:]} == {"0", "1"}, answers
    # the right password is refused too while the address is locked out, on either worker
    seen: dict[str, int] = {}
    while len(seen) < 2:
        r = guess(base, PASSWORD)
        seen[r.headers[WORKER]] = r.status_code
        assert 1 <= int(r.headers["Retry-After"]) <= 61
    assert set(seen.values()) == {429}, seen


@pytest.fixture
def replicas(tmp_path: Path, postgres: Any) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.url(postgres.create_database())
    with ServerProcess(tmp_path / "one", database_url=url, admin_password=PASSWORD) as one, \
            ServerProcess(tmp_path / "two", database_url=url, admin_password=PASSWORD) as two:
        yield one, two


def test_wrong_passwords_on_one_replica_lock_the_address_out_of_the_other(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = replicas
    for i in range(5):
        assert guess(one.admin_url, f"wrong-{i}").status_code == 401
    r = guess(two.admin_url, "wrong-on-two")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61, r.text
    assert "too many failed" in r.json()["error"]
    # the right password answers no differently than a wrong one now, on both replicas
    assert guess(two.admin_url, PASSWORD).status_code == 429
    assert guess(one.admin_url, PASSWORD).status_code == 429
    # a request without credentials (a signed-out page load) is told what to send: it brings no
    # guess, and this replica saw only one failure itself
    r = fresh("GET", f"{two.admin_url}{A}/backends")
    assert r.status_code == 401 and "Bearer" in r.json()["error"], r.text
