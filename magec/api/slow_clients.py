"""Deadlines for what a client owes the server: the slow-client (slowloris) defence.

uvicorn waits for a request as long as its client likes: a connection that sends nothing, or a
request head one byte a minute, or a body that stops halfway, holds a socket, a file descriptor and
(for a body) a handler for ever — a few thousand of them and the server stops accepting. nginx's
answer, kept here: ``client_header_timeout`` and ``client_body_timeout``.

:func:`protocol` makes uvicorn's HTTP protocol class (``uvicorn.Config(http=…)``) with two
deadlines, both ``server.*`` settings:

* **head** (``headerTimeout``, 60 s): a request's whole head (request line and headers) must arrive
  within this many seconds of the connection opening, or of the first byte of the next request on a
  kept-alive connection (the idle time between requests is ``keepAlive``'s). A partial head past it
  is answered ``408`` (``request_timeout``) and the connection closed; a connection that sent
  nothing is just closed. Bytes that keep trickling in do not extend it: it is a total.
* **body** (``bodyTimeout``, 60 s): while a request's body is incomplete, the client may not be
  silent longer than this (a gap between two reads, as nginx counts it): the connection is closed
  and the handler, waiting for the body, sees a client that went away. A gap the server made itself
  (reading paused while the handler is slow to take the body) does not count.

Nothing else changes: a response, however long, streams on its own time; a WebSocket upgrade leaves
both deadlines behind; pipelined requests wait as uvicorn makes them wait.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from magec.errors import RequestTimeoutError

log = logging.getLogger("magec.http")


def _timeout_response(seconds: float) -> bytes:
    """The 408 in the one error body of both apps (``{"error", "code"}``), closing the connection."""
    err = RequestTimeoutError(f"the request head did not arrive within {seconds:g} s (server.headerTimeout)")
    body = json.dumps({"error": err.message, "code": err.code}).encode()
    head = f"HTTP/1.1 {err.status_code} Request Timeout\r\ncontent-type: application/json\r\n"
    return head.encode() + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body


class _Deadlines(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    header_timeout: float = 60.0
    body_timeout: float = 60.0

    _timer: asyncio.TimerHandle | None = None
    #: bytes of the pending request head seen (0: nothing yet, the client owes even its first byte)
    _head_bytes = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_late)

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            self._disarm()  # closed (a 400), or upgraded to a WebSocket: not ours any more
            return
        cycle = self.cycle
        if cycle is not before and cycle is not None:
            # a new request's head is complete (a pipelined one queues: uvicorn paused reading)
            self._head_bytes = 0
            if cycle.more_body and not cycle.response_complete:
                self._arm(self.body_timeout, self._body_late)
            else:
                self._disarm()
        elif cycle is None or cycle.response_complete:
            # bytes of a head still incomplete: the deadline runs from the first of them
            if self._head_bytes == 0 and self._timer is None:
                self._arm(self.header_timeout, self._head_late)
            self._head_bytes += len(data)
        elif cycle.more_body:
            self._arm(self.body_timeout, self._body_late)  # body bytes: the allowed gap starts again
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        self._disarm()  # idle until the next request: the keep-alive timer's
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float, fire: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, fire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_late(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self.transport.write(_timeout_response(self.header_timeout))
        log.debug("closing a connection from %s: no whole request head in %s s", self.client, self.header_timeout)
        self.transport.close()

    def _body_late(self) -> None:
        self._timer = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body or cycle.response_complete:
            return
        if self.flow.read_paused:  # the server stopped reading (the handler is slow), not the client
            self._arm(self.body_timeout, self._body_late)
            return
        log.debug("closing a connection from %s: request body silent for %s s", self.client, self.body_timeout)
        self.transport.close()


def protocol(header_timeout: float, body_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with these deadlines (seconds)."""
    return type(
        "DeadlineHttpProtocol", (_Deadlines,), {"header_timeout": header_timeout, "body_timeout": body_timeout}
    )
