"""``json.loads`` for large bodies, in steps short enough to let the event loop run between them.

A large body is parsed in a worker thread (:func:`magec.api.errors.json_body`), but a thread only
hands the GIL back between bytecodes: ``json.loads`` is one C call, and a 16k-message chat history
(765 KB) holds the GIL for 12-14 ms in it, stalling every other request that long (issue "Scale",
goal 2: no stall over 20 ms). :func:`loads` walks the outer :data:`SHALLOW` levels of containers
with the standard library's own pure-Python object and array parsers (``json.decoder.JSONObject``
/ ``JSONArray``) and leaves every value below them, and every scalar, to the C scanner: each C call
is then one message, and the interpreter can switch threads between them.

Contract: for every input, :func:`loads` returns what ``json.loads`` returns and raises what it
raises, with the same ``parse_constant`` hook (the same ``JSONDecodeError`` message and position, ``RecursionError`` for deep nesting):
both are CPython's own parsers, wired the way ``json.scanner.py_make_scanner`` wires them
(``tests/security/test_jsonload.py`` holds the two equal on generated and corrupted documents).
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
from collections.abc import Callable
from typing import Any

#: container levels walked in Python: the body object and the containers in it (a chat body: its
#: ``messages`` array); everything deeper is one C call per value
SHALLOW = 2
# the standard library's parser pieces (public names of json.decoder / json.scanner that the
# type stubs leave out)
_PY: Any = json.decoder
_SCANNER: Any = json.scanner


def _decoder(parse_constant: Callable[[str], Any] | None) -> json.JSONDecoder:
    decoder: Any = json.JSONDecoder(parse_constant=parse_constant)
    c_scan = _SCANNER.make_scanner(decoder)
    strict, memo = decoder.strict, decoder.memo
    depth = 0

    def scan_once(s: str, idx: int) -> tuple[Any, int]:
        nonlocal depth
        try:
            nextchar = s[idx]
        except IndexError:
            raise StopIteration(idx) from None
        if depth >= SHALLOW or nextchar not in "{[":
            return c_scan(s, idx)  # type: ignore[no-any-return]
        depth += 1
        try:
            if nextchar == "{":
                return _PY.JSONObject((s, idx + 1), strict, scan_once, None, None, memo)  # type: ignore[no-any-return]
            return _PY.JSONArray((s, idx + 1), scan_once)  # type: ignore[no-any-return]
        finally:
            depth -= 1

    decoder.scan_once = scan_once
    return decoder  # type: ignore[no-any-return]


def loads(text: str, *, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """``json.loads(text, parse_constant=parse_constant)`` (see the module docstring). Thread-safe:
    a decoder per call."""
    return _decoder(parse_constant).decode(text)
