"""Log set-up (:func:`magec.logs.setup_logging`): a logged exception reaches both formats,
redacted. A unit test: no client-reachable path logs an exception on purpose."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from magec.logs import setup_logging
from magec.redact import register_secret

SECRET = "sk-logged-secret-4417-zz"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def _log_a_failure(fmt: str) -> str:
    out = io.StringIO()
    setup_logging("info", fmt, stream=out)
    register_secret(SECRET)
    try:
        raise RuntimeError(f"upstream refused key {SECRET}")
    except RuntimeError:
        logging.getLogger("magec.test").exception("health round failed")
    return out.getvalue()


def test_json_lines_carry_the_redacted_exception(restore_logging: None) -> None:
    lines = _log_a_failure("json").splitlines()
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["msg"] == "health round failed" and record["level"] == "error"
    assert record["error"] == "RuntimeError: upstream refused key ***"
    assert record["traceback"].startswith("Traceback") and "_log_a_failure" in record["traceback"]
    assert "RuntimeError: upstream refused key ***" in record["traceback"]
    assert SECRET not in lines[0]


def test_console_lines_carry_the_redacted_traceback(restore_logging: None) -> None:
    text = _log_a_failure("console")
    assert "health round failed" in text and "Traceback" in text
    assert "RuntimeError: upstream refused key ***" in text and SECRET not in text


async def test_debug_logs_are_not_flooded_by_the_database_pool(restore_logging: None, tmp_path: object) -> None:
    """At ``log.level: debug`` the pool's checkout/return lines stayed on (~10 a second on an idle
    server): its class lives under ``magec.`` and escaped the database loggers' WARNING floor."""
    import sqlalchemy as sa

    from magec.store.pool import pool_sizing
    from magec.store.store import make_engine

    out = io.StringIO()
    setup_logging("debug", "json", stream=out)
    url = f"sqlite+aiosqlite:///{tmp_path}/pool.db"
    engine = make_engine(url, pool_sizing(url, 8))
    try:
        for _ in range(3):
            async with engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
    finally:
        await engine.dispose()
    logging.getLogger("magec.test").debug("still on")
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["msg"] for line in lines] == ["still on"], lines


async def test_each_admin_change_is_one_info_line_without_its_values(restore_logging: None, tmp_path: Path) -> None:
    """An operator reading the log saw restores, imports and edits leave nothing: each admin write
    is one line (method, path, status, address); a body's values never appear."""
    from magec.testing.apps import running_apps

    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    async with running_apps(tmp_path / "d") as apps:
        r = await apps.admin.post("/api/v1/admin/secrets", json={"name": "k", "key": "K1", "value": "v-logged-never-991"})
        assert r.status_code == 201
        await apps.admin.get("/api/v1/admin/secrets")
        await apps.admin.delete(f"/api/v1/admin/secrets/{r.json()['id']}")
    msgs = [json.loads(line)["msg"] for line in out.getvalue().splitlines()]
    admin = [m for m in msgs if m.startswith("admin ")]
    assert admin == ["admin POST /api/v1/admin/secrets → 201 (from 127.0.0.1)",
                     f"admin DELETE /api/v1/admin/secrets/{r.json()['id']} → 204 (from 127.0.0.1)"], admin
    assert "v-logged-never-991" not in out.getvalue()


def test_uvicorn_says_it_started_once_not_once_per_port(tmp_path: Path) -> None:
    """One process serves the user and admin ports (and MCP): its log said each uvicorn start-up
    line once per port; magec's own line names the ports and the database."""
    from magec.testing.server import ServerProcess

    with ServerProcess(tmp_path / "d") as srv:
        pass
    assert srv.log_path is not None
    messages = [json.loads(line).get("msg", "") for line in srv.log_path.read_text().splitlines() if line.startswith("{")]
    for line in ("Started server process", "Waiting for application startup", "Application startup complete",
                 "Shutting down", "Application shutdown complete"):
        assert sum(m.startswith(line) for m in messages) == 1, (line, messages)
    assert sum("Uvicorn running on" in m for m in messages) == 2  # one per port: each says where
