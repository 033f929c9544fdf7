"""A stdio MCP server's stderr, line by line, as records of magec's log.

Why: an MCP server logs to stderr (stdout carries the protocol), and servers commonly log the calls
they get: arguments a client steers the model into writing, and the ``{{secret:KEY}}`` values
magec fills in just before a call (:mod:`magec.agents.secrets`). Handed magec's own stderr, the
process wrote them around magec's log handling: a CR/LF in an argument started a line that read
as one of magec's records, terminal escapes reached whoever tails the log, a filled secret was
written in clear.

Contract: :func:`errlog` gives the file the server process's stderr is opened on (the MCP SDK's
``errlog``): the write end of a pipe, one per MCP server resource id and process, kept for the
life of the process (a server is restarted on the same one). A daemon thread reads each line —
at most :data:`MAX_LINE` bytes of it; the rest of a longer line is the next record — and logs
it at INFO on this module's logger as ``MCP server '<name>': <line>``, so the handlers' redaction
(every secret value) and the console format's escaping apply as to every record. Nothing of it
reaches stderr directly.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger(__name__)

#: the longest line logged as one record (bytes); a longer one is cut into records of this size
MAX_LINE = 8192


@dataclass
class _Sink:
    label: str
    file: TextIO


_sinks: dict[str, _Sink] = {}
_lock = threading.Lock()


def errlog(server_id: str, label: str) -> TextIO:
    """The stderr file for the process of MCP server ``server_id`` (named ``label`` in records)."""
    with _lock:
        sink = _sinks.get(server_id)
        if sink is None:
            read_fd, write_fd = os.pipe()
            sink = _sinks[server_id] = _Sink(label, os.fdopen(write_fd, "w", encoding="utf-8"))
            threading.Thread(target=_pump, args=(read_fd, sink), name=f"mcp-stderr-{label}", daemon=True).start()
        sink.label = label  # a renamed server's next lines carry its new name
        return sink.file


def _pump(read_fd: int, sink: _Sink) -> None:
    with os.fdopen(read_fd, "rb") as stream:
        while line := stream.readline(MAX_LINE):
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                log.info("MCP server '%s': %s", sink.label, text)
