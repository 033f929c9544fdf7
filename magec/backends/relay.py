"""Token relay: a streamed model's text goes to the HTTP edge directly, around ADK's per-chunk events.

Why: ADK turns every partial ``LlmResponse`` into a pydantic ``Event``, runs callbacks and
telemetry on it and passes it up through a dozen async generators — ~0.5 ms of CPU per token,
which capped one core at ~1–2k relayed tokens/s. With a relay, a streamed token costs a list append
and (when the edge is idle) one future wake-up.

Contract:

* An edge that streams one agent's turn runs it through :func:`relaying`. The turn then runs in a
  task of its own with the relay installed (a context variable: the turn's task and any task it
  starts see it; nothing outside does).
* While a relay is installed, a *streaming* model call pushes its text and thought deltas with
  :meth:`Relay.text` instead of yielding partial responses (see ``TurnAccumulator``); its final
  response — the whole text, tool calls, usage — still goes through ADK, so sessions, audit, costs
  and callbacks see exactly what they saw before. Partial events were never stored; the text a
  call relayed (:attr:`Relay.said`) is stored once if the turn is cancelled before its final
  response (a client that hung up: :func:`magec.runtime.run.run_turn` keeps it as interrupted).
* The consumer receives the turn's items in production order, in batches (everything that is ready
  when it looks): ``Token`` for relayed deltas and :class:`~magec.runtime.run.TurnEvent` (any
  object, really) for the turn's events. A batch is never empty; the iteration ends when the turn
  does, and re-raises the turn's exception.
* Tokens only for turns whose every model call speaks for one author (an agent app). Flows keep
  ADK's partial events, which carry the step that spoke: their edges run them with
  ``tokens=False`` (the turn's task, its batches and :meth:`Relay.poke` without a relay installed).
  A turn that is not streamed (any app) relays no token: :func:`magec.runtime.run.answer` runs it
  here for its task and its release alone.
* :func:`note_call` (a ``before_model_callback``) gives the relay the invocation id and one id per
  model call, for edges that dress tokens as ADK partial events.
* Closing the iteration cancels the turn, unless the consumer called :meth:`Relay.release` first
  (it has the turn's answer, :attr:`~magec.runtime.run.TurnEvent.final`): then the turn finishes
  its bookkeeping on its own and :meth:`Relay.rest` waits for that, so the edge can end its
  response first.
* The first relayed delta is handed to a waiting consumer before the turn goes on
  (:meth:`Relay.handoff`): a model that sends many tokens in one read would otherwise have the
  turn run to its end, model call and all, before the first of them is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextvars import ContextVar
from typing import Any, NamedTuple

from magec.redact import redact

log = logging.getLogger(__name__)


class Token(NamedTuple):
    """A relayed delta of model output: ``thought`` parts are reasoning, not the answer."""

    text: str
    thought: bool = False


#: the one item of a batch that :meth:`Relay.poke` produced (nothing happened in the turn)
IDLE = object()


class Relay:
    """The channel between a turn's model calls (producer) and one HTTP edge (consumer)."""

    __slots__ = ("_items", "_waiter", "_done", "_error", "pushed", "said", "invocation_id", "call_id", "_task",
                 "released", "_woke", "_poked")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        #: deltas pushed so far (a fallback must not answer again once any text went out)
        self.pushed = 0
        #: the answer's text relayed by the current model call (not its thoughts): what a client
        #: that hangs up mid-answer has read, kept in its session as interrupted
        #: (:func:`magec.runtime.run.run_turn`); emptied when the next call starts
        self.said: list[str] = []
        self.invocation_id = ""
        self.call_id = ""
        self._task: asyncio.Task[None] | None = None
        #: the consumer has the answer: closing the iteration no longer cancels the turn
        self.released = False
        self._woke = False
        self._poked = False

    def text(self, delta: str, thought: bool = False) -> None:
        self.pushed += 1
        if not thought:
            self.said.append(delta)
        if self.pushed == 1 and self._waiter is not None:
            self._woke = True
        self._put(Token(delta, thought))

    async def handoff(self) -> None:
        """Called by the producer after a network read: when it relayed the turn's first delta to
        a waiting consumer, yield once so the consumer writes it before the turn goes on."""
        if self._woke:
            self._woke = False
            await asyncio.sleep(0)

    def release(self) -> None:
        """The consumer has the turn's answer: let the turn finish instead of cancelling it."""
        self.released = True

    async def rest(self) -> None:
        """Wait for a released turn's end (its bookkeeping; failures are logged, not raised)."""
        if self._task is not None:
            await asyncio.wait({self._task})

    def item(self, value: Any) -> None:
        self._put(value)

    def _put(self, value: Any) -> None:
        self._items.append(value)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def poke(self) -> None:
        """Wake a waiting consumer with nothing produced: its :meth:`batch` is ``[IDLE]`` (an edge
        that waits for the turn's first output decides, on a timer, to open its stream anyway)."""
        self._poked = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def unpoke(self) -> None:
        """Drop a poke not yet consumed: call it where the edge stops expecting one."""
        self._poked = False

    def finish(self, error: BaseException | None = None) -> None:
        self._done, self._error = True, error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def batch(self) -> list[Any]:
        """Everything produced since the last call; waits for at least one item; ``[]`` at the end;
        ``[IDLE]`` when :meth:`poke` woke it with nothing produced."""
        while not self._items and not self._done:
            if self._poked:
                self._poked = False
                return [IDLE]
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        items, self._items = self._items, []
        if not items and self._error is not None:
            raise self._error
        return items


def merged(batch: list[Any]) -> list[Any]:
    """``batch`` with every run of consecutive tokens of one kind (answer or thought) joined into one
    :class:`Token`, in order: what an edge writes as one chunk, delta or partial event."""
    out: list[Any] = []
    run: list[str] = []
    thought = False
    for item in batch:
        if isinstance(item, Token) and (not run or item.thought == thought):
            run.append(item.text)
            thought = item.thought
            continue
        if run:
            out.append(Token("".join(run), thought))
            run = []
        if isinstance(item, Token):
            run.append(item.text)
            thought = item.thought
        else:
            out.append(item)
    if run:
        out.append(Token("".join(run), thought))
    return out


_current: ContextVar[Relay | None] = ContextVar("magec_token_relay", default=None)


def current() -> Relay | None:
    """The relay of the running turn, if its edge relays tokens."""
    return _current.get()


def note_call(callback_context: Any, llm_request: Any) -> None:
    """ADK ``before_model_callback``: tell the relay which invocation and model call speaks next."""
    relay = _current.get()
    if relay is not None:
        relay.invocation_id = getattr(callback_context, "invocation_id", "") or relay.invocation_id
        relay.call_id = str(uuid.uuid4())
        relay.said.clear()
    return None


async def relaying(
    items: AsyncIterator[Any], relay: Relay | None = None, *, tokens: bool = True
) -> AsyncGenerator[list[Any], None]:
    """Run ``items`` (a turn's event iterator) in its own task; yield ordered batches of its events
    and, with ``tokens``, of the tokens its model calls relay (the relay is installed for the turn).
    Closing the iteration cancels the turn."""
    relay = relay or Relay()

    async def pump() -> None:
        if tokens:
            _current.set(relay)  # this task's own context: the edge's context is untouched
        try:
            async with contextlib.aclosing(items):  # type: ignore[type-var]
                async for value in items:
                    relay.item(value)
                    if getattr(value, "final", False) is True:
                        # the turn's answer: its consumer runs (and sends it) before the turn's
                        # bookkeeping does, instead of after it
                        await asyncio.sleep(0)
        except BaseException as e:
            relay.finish(e)
            raise
        relay.finish()

    task = relay._task = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            batch = await relay.batch()
            if not batch:
                break
            yield batch
    finally:
        if relay.released and not task.done():
            task.add_done_callback(after_answer)  # the turn ends on its own; relay.rest() waits for it
        else:
            if not task.done():
                task.cancel()
            # wait for the turn's own cleanup; its outcome was delivered through the relay. A
            # cancellation of *this* task while waiting propagates (asyncio.wait does not swallow it).
            await asyncio.wait({task})
            if not task.cancelled():
                task.exception()  # retrieved: never "exception was never retrieved"


def after_answer(task: asyncio.Task[None]) -> None:
    """Done callback of a turn's task left to finish after its answer: its failure is logged (the
    client has its answer; nobody awaits the task to hear of it)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a turn failed after its answer: %s", redact(repr(task.exception())))
