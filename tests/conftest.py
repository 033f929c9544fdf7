"""Shared fixtures: real PostgreSQL (pgvector) and redis-server per test session, app factories.

Databases: tests that take ``db_url`` run on SQLite *and* on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.services import Postgres, Redis, start_postgres, start_redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed; run the README test command (it installs it)")
    r = start_redis()
    yield r
    r.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'magec.db'}"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.url(pg.create_database())


@pytest.fixture
async def apps(tmp_path: Path, db_url: str) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", database_url=db_url) as a:
        yield a


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def session_apps(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Apps]:
    """Apps whose sessions live in SQLite, PostgreSQL (the main database) or Redis (a session
    memory provider selected in the settings), as a user would configure each."""
    url = ""
    if request.param == "postgres":
        pg: Postgres = request.getfixturevalue("postgres")
        url = pg.url(pg.create_database())
    async with running_apps(tmp_path / "data", database_url=url) as apps:
        if request.param == "redis":
            redis: Redis = request.getfixturevalue("redis_server")
            red = (await apps.admin.post("/api/v1/admin/memory", json={
                "name": "R", "type": "redis", "category": "session",
                "config": {"connectionString": redis.url, "ttl": "1h"}})).json()
            r = await apps.admin.put("/api/v1/admin/settings", json={"sessionProvider": red["id"]})
            assert r.status_code == 200, r.text
        yield apps


@pytest.fixture
async def sqlite_apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data") as a:
        yield a


# -- tiers ---------------------------------------------------------------------------------------
# Every test is either "fast" (in process, on the shipped fakes: FakeLlm, loopback fake providers,
# SQLite) or "service" (a real PostgreSQL, redis-server, Chromium, local models or a `magec serve`
# subprocess). `pytest -m fast` is the quick inner loop; the README's test command runs both.
_SERVICE_DIRS = ("ui", "backends/local", "demo", "bench", "compat")
_SERVICE_FIXTURES = {"postgres", "redis_server"}
_SERVICE_PARAMS = {"postgres", "redis"}
_spawns: dict[Path, bool] = {}


def _spawns_servers(path: Path) -> bool:
    if path not in _spawns:
        text = path.read_text(errors="replace")
        _spawns[path] = "ServerProcess" in text or "getfixturevalue(\"postgres\")" in text
    return _spawns[path]


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parent
    ranks: dict[str, int] = {}
    for item in items:
        path = Path(str(item.fspath)).resolve()
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
        callspec = getattr(item, "callspec", None)
        params = {p for p in (callspec.params.values() if callspec else ()) if isinstance(p, str)}
        service = (
            rel.startswith(_SERVICE_DIRS)
            or bool(_SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))
            or bool(_SERVICE_PARAMS & params)
            or _spawns_servers(path)
        )
        item.add_marker(pytest.mark.service if service else pytest.mark.fast)
        ranks[item.nodeid] = _SLOWEST_FIRST.index(rel) if rel in _SLOWEST_FIRST else len(_SLOWEST_FIRST)
    # The longest files start first: with ``--dist loadfile --no-loadscope-reorder`` (scripts/test.sh)
    # a worker takes the next file in collection order, so a four-minute file collected late (xdist's
    # default order puts one-test files last) leaves the other worker idle at the end of the run.
    # Stable: files stay whole and in their own order otherwise.
    items.sort(key=lambda item: ranks[item.nodeid])


#: the longest test files, longest first: every file of 12 s or more in a CI run's
#: test-artifacts/junit.xml (times summed per file), so that the last files any worker takes are
#: short ones. Update it from a fresh junit.xml when files grow or shrink.
_SLOWEST_FIRST = [
    "bench/test_bench_smoke.py",
    "cli/test_cli.py",
    "api/admin/test_admin_crud.py",
    "ui/test_clients_ui.py",
    "clients/bots/test_inbox.py",
    "clients/test_cron.py",
    "ui/test_admin_ui.py",
    "runtime/test_workers.py",
    "backends/test_faults.py",
    "a2a/test_durable_tasks.py",
    "memory_e2e/test_reembed_lease.py",
    "voice_ui/test_voice_ui.py",
    "ui/test_contrast_ui.py",
    "clients/test_webhooks.py",
    "ui/test_backend_test_report_ui.py",
    "security/test_proxies.py",
    "ui/test_playground_ui.py",
    "store/test_pool.py",
    "ui/test_pages_ui.py",
    "security/test_fuzz.py",
    "clients/test_accepted_runs.py",
    "voice_ui/test_voice_ui_mishaps.py",
    "voice_ui/test_voice_ui_shutdown.py",
    "ui/test_components_ui.py",
    "backends/test_clean_shutdown.py",
    "ui/test_memory_ui.py",
    "ui/test_axe_ui.py",
    "a2a/test_serve.py",
    "ui/test_keyboard_ui.py",
    "security/test_input.py",
    "clients/bots/test_telegram.py",
    "backup/test_restore.py",
    "security/test_loop_guard.py",
    "security/test_slow_clients.py",
    "clients/bots/test_replicas.py",
    "runtime/test_keep_alive.py",
    "ui/test_flow_graph_ui.py",
    "security/test_import_trust.py",
    "ui/test_long_lists_ui.py",
    "ui/test_flows_ui.py",
    "voice/test_realtime_client_info.py",
    "flows/test_llm_call_limit.py",
    "runtime/test_openai_compat.py",
    "security/test_jsonload.py",
    "flows/test_graph_validation.py",
    "runtime/test_replicas.py",
    "ui/test_status_ui.py",
    "ui/test_bot_user_names_ui.py",
    "runtime/test_session_listing.py",
    "ui/test_playground_shutdown_ui.py",
    "ui/test_fallback_ui.py",
    "ui/test_readme_screenshots.py",
    "clients/test_cron_replicas.py",
    "backends/local/test_local_speech.py",
    "store/test_durability.py",
    "ui/test_flow_phone_ui.py",
    "voice/test_realtime_protocol.py",
    "ui/test_mcp_health_ui.py",
    "security/test_admin_network.py",
    "runtime/test_failure_logs.py",
    "api/test_readiness.py",
    "security/test_secrets.py",
    "security/test_shared_lockout.py",
    "backup/test_cli.py",
    "memory_e2e/test_memory_runtime.py",
    "ui/test_live_health.py",
    "memory_e2e/test_embedding_fallback.py",
    "ui/test_agent_secrets_ui.py",
    "backup/test_migrate_move.py",
    "memory/test_session_quota.py",
    "backup/test_backup_ui.py",
    "clients/bots/test_slack.py",
    "backup/test_migrate_concurrent.py",
    "runtime/test_read_your_writes.py",
    "a2a/test_remote.py",
    "ui/test_costs_ui.py",
    "runtime/test_lb_replicas.py",
    "ui/test_conversations_ui.py",
]
