"""Secret redaction: the last line of defence before any text leaves the process.

A process-wide registry of known secret values (API keys, secret values, the admin password) is
kept here; :func:`redact` replaces every occurrence with ``***`` and also scrubs well-known key
shapes (``?key=...`` query parameters, ``Bearer ...`` headers, ``sk-...`` tokens). Errors, log
records, stored ``lastError`` fields and trace payloads all pass through it.
"""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    (re.compile(r"([?&](?:key|api_key|apikey|access_token)=)[^&\s\"']+", re.I), r"\1***"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]{6,}", re.I), r"\1***"),
    (
        re.compile(
            r"((?:x-api-key|x-goog-api-key|api-key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{6,}", re.I
        ),
        r"\1***",
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***"),
    (re.compile(r"\bmgc_[A-Za-z0-9_-]{8,}"), "mgc_***"),
]

MIN_SECRET_LEN = 4


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it from now on (short values are ignored)."""
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def redact(text: str | None) -> str:
    """Return ``text`` with every known secret and key-shaped token replaced by ``***``."""
    if not text:
        return text or ""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and args) of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record must still be logged
            msg = str(record.msg)
        record.msg = redact(msg)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            del exc
        return True
