"""Logging set-up: console or JSON lines, every record passed through the secret redactor."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from magec.redact import RedactingFilter, redact


class JsonFormatter(logging.Formatter):
    """One JSON object per record; an exception's type and text go in ``error`` and its traceback
    in ``traceback`` (both redacted: the handler's :class:`~magec.redact.RedactingFilter` has
    already turned the live exception into ``exc_error`` / ``exc_text``)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        error = getattr(record, "exc_error", None)
        if error is None and record.exc_info and record.exc_info[1] is not None:
            # not through the redacting handler (a formatter used on its own): redact here
            exc = record.exc_info[1]
            error, record.exc_text = f"{type(exc).__name__}: {exc}", self.formatException(record.exc_info)
        if error is not None:
            out["error"] = redact(error)
            out["traceback"] = redact(record.exc_text or "")
        return json.dumps(out)


class AdkFailureEchoFilter(logging.Filter):
    """Drops google-adk's own records of a failed node / run: every failed turn is logged once by
    :func:`magec.runtime.run.run_turn` (with the error code and the redacted text), and ADK logs the
    same failure again per workflow level, each with a full traceback."""

    _LOGGERS = ("google_adk.google.adk.workflow._node_runner", "google_adk.google.adk.runners")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name not in self._LOGGERS or record.levelno < logging.ERROR:
            return True
        msg = str(record.msg)
        return not (msg.startswith("Node execution failed") or (msg.startswith("Root node") and "failed" in msg))


class A2aClientErrorFilter(logging.Filter):
    """Drops a2a-sdk's ERROR records of a request it could not validate: a caller's malformed
    JSON-RPC request (a wrong type, a missing field) is answered with the JSON-RPC error naming it,
    and a2a-sdk also logs each one at ERROR with a traceback, so any client could fill the error
    log with its own typos. Its records of genuine failures (``Unhandled exception``) pass."""

    _LOGGERS = ("a2a.compat.v0_3.jsonrpc_adapter", "a2a.server.routes.jsonrpc_dispatcher")
    _CLIENT_ERRORS = ("Failed to validate base JSON-RPC request", "Failed to parse request params")

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name not in self._LOGGERS or not str(record.msg).startswith(self._CLIENT_ERRORS)


class UvicornStartupOnceFilter(logging.Filter):
    """Keeps uvicorn's start-up and shutdown lines once per process: magec runs one uvicorn server
    per port (user, admin, MCP), and each said "Started server process [pid]", "Waiting for
    application startup." … again (magec logs its own line naming every port and the database)."""

    _ONCE = ("Started server process", "Waiting for application startup", "Application startup complete",
             "Shutting down", "Waiting for application shutdown", "Application shutdown complete",
             "Finished server process")

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "uvicorn.error":
            return True
        msg = str(record.msg)
        first = next((m for m in self._ONCE if msg.startswith(m)), None)
        if first is None:
            return True
        if first in self._seen:
            return False
        self._seen.add(first)
        return True


def setup_logging(level: str = "info", fmt: str = "console", stream: TextIO | None = None) -> None:
    """Route every log record through one redacting handler (stderr unless ``stream`` is given)."""
    level_no = {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "warning": logging.WARNING,
        "error": logging.ERROR,
    }.get(level, logging.INFO)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(AdkFailureEchoFilter())
    handler.addFilter(A2aClientErrorFilter())
    handler.addFilter(UvicornStartupOnceFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Third-party libraries that log request URLs (which may carry ?key=) stay at WARNING.
    # (google-adk logs under "google_adk.google.adk.*"; its debug records carry model requests)
    for name in ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "anthropic", "google_genai", "google.adk", "google_adk"):
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
    # The protocol SDKs log what they carry at DEBUG: a2a-sdk every JSON-RPC body and task event,
    # python-telegram-bot every Bot API call and answer, slack_sdk its request and response
    # bodies, the MCP SDK every message to and from a tool server, websockets every frame (the
    # Discord and Slack gateways): users' conversations, copied into the log by log.level: debug.
    for name in ("a2a", "telegram", "slack_sdk", "mcp", "websockets"):
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
    # Database layers log SQL parameters and rows (whole resources, conversation events) at
    # INFO/DEBUG — aiosqlite each call's arguments: only their warnings pass, at every level
    # (the engines also set hide_parameters, so even a warning carries no parameter).
    # SQLAlchemy's pool logs every checkout and return at DEBUG under its class's own name, and
    # magec's pool class lives in magec.store.pool: ~10 lines a second on an idle server.
    for name in ("sqlalchemy", "aiosqlite", "asyncpg", "magec.store.pool.OverloadedQueuePool"):
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
