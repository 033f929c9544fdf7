"""Logging set-up: console or JSON lines, every record passed through the secret redactor.

Each record is its own line(s), whatever it quotes: a record's text comes partly from outside (the
session id a client sends, a provider's error text, a bot user's input), and the JSON format
escapes it by nature; the console format escapes control characters (:class:`ConsoleFormatter`),
so no quoted CR/LF starts a line that reads as magec's own record and no escape sequence reaches
the terminal of whoever reads the log.
"""

from __future__ import annotations

import json
import logging
import re
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


#: what a console line never carries raw: C0 controls but TAB (CR/LF would start a line of the
#: quoter's own; ESC begins terminal escape sequences), DEL, C1 controls (0x9b is a one-byte CSI)
#: and Unicode's line and paragraph separators
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def escape_controls(text: str) -> str:
    """``text`` with every control character written as its Python escape (``\\n``, ``\\x1b``)."""
    return _CONTROLS.sub(_escape, text)


class ConsoleFormatter(logging.Formatter):
    """The console format: a record's message is one line, its control characters escaped; a
    traceback follows it indented by two spaces (its own lines, each escaped but for the line
    breaks). So every line at column 0 begins a record of magec's, and a terminal showing the log
    runs no escape sequence that a client, a provider or a bot user put into a value."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        out = self.formatMessage(record)
        if record.exc_info and not record.exc_text:  # not through the redacting handler
            record.exc_text = self.formatException(record.exc_info)
        for extra in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if extra:
                out += "".join("\n  " + escape_controls(line) for line in extra.split("\n"))
        return out


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


class AlembicChatterFilter(logging.Filter):
    """Drops alembic's "Context impl SQLiteImpl." / "Will assume non-transactional DDL." lines:
    printed at every start and twice by ``magec migrate`` (its migration contexts), they told an
    operator about alembic's internals, not about the database. "Running upgrade …" lines (a
    migration actually applied) still pass, on one line: they carry the migration's docstring,
    whose line breaks the log shows escaped ("gains the\\nclient a row") on a first start."""

    _CHATTER = ("Context impl ", "Will assume ")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "alembic.runtime.migration":
            return True
        if str(record.msg).startswith(self._CHATTER):
            return False
        if str(record.msg).startswith("Running "):
            record.msg, record.args = " ".join(record.getMessage().split()), None
        return True


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
    handler.addFilter(AlembicChatterFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else ConsoleFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
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


class CliFormatter(ConsoleFormatter):
    """A CLI command's log line: plain words, not the server's log format (a timestamped console
    line or a JSON object): ``warning: <message>`` for a warning or worse, the message alone for
    the few records a command shows as its own output (``magec migrate``'s "Running upgrade")."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return f"{record.levelname.lower()}: {line}" if record.levelno >= logging.WARNING else line


class _CliFilter(logging.Filter):
    """Warnings and worse, and the records of the loggers a command shows as output."""

    def __init__(self, shown: tuple[str, ...]) -> None:
        super().__init__()
        self.shown = shown

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name in self.shown


def setup_cli_logging(level: str = "info", shown: tuple[str, ...] = (), stream: TextIO | None = None) -> None:
    """Logging for a CLI command (``migrate``, ``import-magec``, ``memory reembed``, …) run by a
    person at a terminal: the server's ``log.format`` (JSON for a log collector) and its INFO
    chatter (the runtime's epoch line) are for ``magec serve``; here only warnings reach the
    terminal, as plain ``warning: …`` lines beside the command's own output, plus the records of
    the loggers named in ``shown``. The same redacting handler as :func:`setup_logging`."""
    setup_logging(level, "console", stream)
    handler = logging.getLogger().handlers[0]
    handler.setFormatter(CliFormatter("%(message)s"))
    handler.addFilter(_CliFilter(shown))
