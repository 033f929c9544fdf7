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
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_secrets: set[str] = set()

#: query parameter names that carry credentials (``?key=``, ``&sig=``, ``access_token=``…); the
#: store encrypts URLs holding one of these (:mod:`magec.store.sensitive`) and logs never show them
CREDENTIAL_PARAM = (
    r"(?:[\w.-]*(?:token|secret|passw|api[-_]?key|access[-_]?key|credential)[\w.-]*"
    r"|key|sig|signature|auth|pwd|pass|apikey)"
)

#: HTTP auth scheme words that precede a credential in an ``Authorization`` header
_SCHEME = r"(?:Bearer|Basic|Token|Digest|Bot)"
#: how far into a value a "..." makes it a documentation placeholder (``mgc_...``, ``sk-proj...``)
_PLACEHOLDER = 32

#: (pattern, replacement, guard): ``guard(text, folded)`` is a necessary condition of a match
#: (a literal every match contains), so a text without it skips that scan. The scans cost
#: 10-60 µs per KB each and the audit redacts every turn's texts; the guards cost ~1 µs. ``folded``
#: is the text case-folded for the ``re.I`` patterns (see :func:`_fold`).
_PATTERNS: list[tuple[re.Pattern[str], str, Callable[[str, str], bool]]] = [
    (re.compile(rf"([?&;]{CREDENTIAL_PARAM}=)[^&#\s\"']+", re.I), r"\1***", lambda t, f: "=" in t),
    # URL userinfo (``https://user:pass@host``): the password part. The scheme starts where a run
    # of scheme characters starts, not at any word boundary inside one: with ``\b``, every letter
    # of ``a.a.a.…a://`` began a match that scanned to the end of the run (quadratic: a 40 KB
    # message a client sent froze the server for 25 s, as the audit redacts every turn's text)
    (
        re.compile(r"((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/:@?#\"']*:)[^\s/@?#\"']+(@)", re.I),
        r"\1***\2",
        lambda t, f: "://" in t and "@" in t,
    ),
    # Basic too: httpx turns URL userinfo into ``Basic base64(user:pass)``, which providers echo
    # (a value with "..." in it is a documentation placeholder like ``mgc_...``, never a real token).
    # The placeholder check looks at most _PLACEHOLDER characters ahead: unbounded, it scanned the
    # rest of the word from every place a match could start (quadratic; see the header pattern)
    (
        re.compile(rf"((?:Bearer|Basic)\s+)(?![A-Za-z0-9._~+/=-]{{0,{_PLACEHOLDER}}}\.\.\.)[A-Za-z0-9._~+/=-]{{6,}}", re.I),
        r"\1***",
        lambda t, f: "bearer" in f or "basic" in f,
    ),
    # a header value, after an optional auth scheme: the scheme word itself ("Bearer") and a
    # ``<placeholder>`` are not credentials (help texts read "send Authorization: Bearer <password>").
    # The "..." check is bounded: ``api-key:api-key:…api-key:...`` (150 KB a client sent, which the
    # audit redacts) had it scan to the end of the text from each ``api-key``, holding the event
    # loop 5 s; a "..." further in than a placeholder's is a credential's and is hidden
    (
        re.compile(
            r"((?:x-api-key|x-goog-api-key|api-key|authorization)[\"']?\s*[:=]\s*[\"']?"
            rf"(?:{_SCHEME}\s+)?)(?!{_SCHEME}\b)(?!<)(?![^\s\"',}}]{{0,{_PLACEHOLDER}}}\.\.\.)[^\s\"',}}]{{6,}}",
            re.I,
        ),
        r"\1***",
        lambda t, f: "api-key" in f or "authorization" in f,
    ),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-***", lambda t, f: "sk-" in t),
    (re.compile(r"\bmgc_[A-Za-z0-9_-]{8,}"), "mgc_***", lambda t, f: "mgc_" in t),
]


def _fold(text: str) -> str:
    """``text`` case-folded so that a word ``re.I`` matches is a substring: ``re.I`` also equates
    ``ı`` (dotless) and ``İ`` (which folds to ``i`` + U+0307) with ``i``, which casefold does not."""
    return text.casefold().replace("ı", "i").replace("i\u0307", "i")


#: Known secrets shorter than this are replaced only where they stand alone (not inside a longer
#: alphanumeric run): a 3-character key is still hidden in ``key: abc`` or ``"abc"``, while an
#: operator's 1-character header value does not turn every digit of every log line into ``***``.
SHORT_SECRET_LEN = 8
_short_re: re.Pattern[str] | None = None
_long: list[str] | None = None


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it from now on.

    There is no minimum length: a value known to be a secret is always hidden. Only empty or
    whitespace-only values are ignored (redacting those would mangle every text)."""
    global _short_re, _long
    if value and value.strip():
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                if len(value) < SHORT_SECRET_LEN:
                    _short_re = None
                else:
                    _long = None


#: a UTF-16 surrogate code point: in a Python ``str`` it is always a lone one (JSON decoding joins
#: a pair into one character), which no UTF-8 encoder accepts
_SURROGATE = re.compile("[\ud800-\udfff]")


def no_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD.

    Why: JSON can spell one (``"\\ud800"``) and Python decodes it into a ``str`` that cannot be
    encoded: a provider's answer, an error message or a log line holding one broke the response,
    the stream or the database write that carried it. It is no character, so it becomes the
    replacement character, as a UTF-8 decoder makes of broken bytes. ASCII text (the usual case)
    is returned after one C-speed check."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def no_surrogates_in(value: Any) -> Any:
    """:func:`no_surrogates` through a JSON-like value (strings, and dict keys and list items at
    any depth); other values unchanged. The value is rebuilt only where it holds a string."""
    if isinstance(value, str):
        return no_surrogates(value)
    if isinstance(value, dict):
        return {no_surrogates(k) if isinstance(k, str) else k: no_surrogates_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_surrogates_in(v) for v in value]
    return value


def redact(text: str | None) -> str:
    """Return ``text`` with every known secret and key-shaped token replaced by ``***`` (and lone
    surrogates by U+FFFD: whatever is redacted is about to be encoded, see :func:`no_surrogates`)."""
    if not text:
        return text or ""
    text = no_surrogates(text)
    with _lock:
        known = _known_long()
        short = _short_pattern()
    for value in known:
        if value in text:
            text = text.replace(value, "***")
    if short is not None:
        text = short.sub("***", text)
    folded = _fold(text)
    for pattern, repl, guard in _PATTERNS:
        if guard(text, folded):
            text = pattern.sub(repl, text)
            folded = _fold(text)
    return text


def _known_long() -> list[str]:
    """The known secrets of :data:`SHORT_SECRET_LEN` or more, longest first (call with _lock)."""
    global _long
    if _long is None:
        _long = sorted((v for v in _secrets if len(v) >= SHORT_SECRET_LEN), key=len, reverse=True)
    return _long


def _short_pattern() -> re.Pattern[str] | None:
    """One alternation of the short secrets, each bounded by non-alphanumerics (call with _lock)."""
    global _short_re
    if _short_re is None:
        short = sorted((v for v in _secrets if len(v) < SHORT_SECRET_LEN), key=len, reverse=True)
        if not short:
            return None
        alts = "|".join(re.escape(v) for v in short)
        _short_re = re.compile(rf"(?<![A-Za-z0-9])(?:{alts})(?![A-Za-z0-9])")
    return _short_re


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message (and args) of every record.

    An exception is rendered here, redacted, and the live one dropped (``exc_info = None``), so no
    formatter can print its unredacted text: ``exc_text`` holds the redacted traceback (what the
    console format prints) and ``exc_error`` the redacted ``Type: message`` line (the JSON
    format's ``error`` field, see :class:`magec.logs.JsonFormatter`)."""

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
            record.exc_error = redact(f"{type(exc).__name__}: {exc}")
            record.exc_info = None
            del exc
        return True
