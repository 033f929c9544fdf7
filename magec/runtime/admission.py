"""Admission: how many turns run at once — per process, per client, per backend — and what a turn
beyond that gets: an immediate, explicit refusal instead of a queue that ends in a pool error.

Contract:

* :meth:`Admission.enter` is called when a turn starts (:func:`magec.runtime.run.run_turn`, so every
  surface: run API, ``/v1``, voice, bots, webhooks, cron, A2A). It returns a :class:`Ticket` that
  the turn releases when it ends or, for an agent's turn, when its answer goes out (a stream's last
  token; :attr:`magec.runtime.run.TurnEvent.final`). It never waits.
* Limits (``limits:`` in ``config.yaml``; 0 = none): ``maxRuns`` turns in this process (default
  1,024) → **503** ``overloaded`` with ``Retry-After: 1``; ``maxRunsPerClient`` turns of one client
  (the session owner's client id; default 0) → **429** ``too_many_requests`` with ``Retry-After: 1``;
  ``maxRunsPerBackend`` turns whose agent (or any agent of the flow) uses one backend (default 0)
  → **503** ``overloaded``. A refused turn never touched a session, a provider or the database.
* The counts are per process (``magec serve --workers``/replicas each admit their own share).
  ``in_flight`` is shown on ``/metrics`` (``magec_runs_in_flight``) so an operator sizes the limits
  from what a machine really carries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from magec.errors import OverloadedError, RateLimitedError
from magec.memory import owners

DEFAULT_MAX_RUNS = 1024
#: what a refused client is told to wait (seconds): slots free up as turns end, usually sooner
RETRY_AFTER = 1


@dataclass
class Limits:
    max_runs: int = DEFAULT_MAX_RUNS
    per_client: int = 0
    per_backend: int = 0


@dataclass
class Ticket:
    admission: Admission
    client: str
    backends: tuple[str, ...]
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.admission._leave(self)

    # the turn-observer probe protocol (magec.runtime.run.run_turn): see each event, finish once
    def see(self, _event: Any) -> None:
        pass

    def finish(self) -> None:
        self.release()


@dataclass
class Admission:
    limits: Limits = field(default_factory=Limits)
    in_flight: int = 0
    _clients: Counter[str] = field(default_factory=Counter)
    _backends: Counter[str] = field(default_factory=Counter)

    def enter(self, client: str, backends: Iterable[str], what: str = "turns") -> Ticket:
        """Admit one turn or raise (see the module contract); never waits. ``what`` names what is
        counted in a refusal (A2A's ``tasks/resubscribe`` streams count as turns: see
        :mod:`magec.api.user.a2a`)."""
        used = tuple(dict.fromkeys(b for b in backends if b))
        self._check(client, used, what)
        self.in_flight += 1
        if client:
            self._clients[client] += 1
        for backend in used:
            self._backends[backend] += 1
        return Ticket(self, client, used)

    def running(self, backend: str) -> int:
        """Turns running now whose agent may call ``backend`` (counted whatever the limits)."""
        return self._backends.get(backend, 0)

    def precheck(self, runtime: Any, app: Any, owner: str) -> None:
        """Raise now what :meth:`begin` would raise, without taking a slot: for a route that must
        answer a refusal with an HTTP status before its stream's headers go out (``/run_sse``)."""
        client, used = self._who(runtime, app, owner)
        self._check(client, tuple(dict.fromkeys(b for b in used if b)))

    def _check(self, client: str, used: tuple[str, ...], what: str = "turns") -> None:
        lim = self.limits
        if lim.max_runs and self.in_flight >= lim.max_runs:
            raise OverloadedError(
                f"the server is running {self.in_flight} {what}, its limit (limits.maxRuns); retry shortly",
                retry_after=RETRY_AFTER,
            )
        if lim.per_client and client and self._clients[client] >= lim.per_client:
            raise RateLimitedError(
                f"this client is running {lim.per_client} {what} at once, its limit (limits.maxRunsPerClient)",
                retry_after=RETRY_AFTER,
            )
        if lim.per_backend:
            for backend in used:
                if self._backends[backend] >= lim.per_backend:
                    raise OverloadedError(
                        f"backend {backend} is serving {lim.per_backend} turns, its limit "
                        "(limits.maxRunsPerBackend); retry shortly",
                        retry_after=RETRY_AFTER,
                    )

    def begin(self, runtime: Any, app: Any, owner: str, _session_id: str, _message: Any) -> Ticket:
        """The turn-observer entry (first of :class:`magec.costs.observe.TurnObservers`): admit
        the turn of ``app`` for the session owner ``owner`` (``<clientId>:<userId>`` for a client)."""
        return self.enter(*self._who(runtime, app, owner))

    @staticmethod
    def _who(runtime: Any, app: Any, owner: str) -> tuple[str, list[str]]:
        """The client id of a session owner (``<clientId>:<userId>``; "" in open mode) and the
        backends the app may call."""
        snap = runtime.snapshot
        return owners.client_id(owner, snap.clients), backends_of(snap, app.kind, app.id)

    def _leave(self, ticket: Ticket) -> None:
        self.in_flight -= 1
        if ticket.client:
            self._count_down(self._clients, ticket.client)
        for backend in ticket.backends:
            self._count_down(self._backends, backend)

    @staticmethod
    def _count_down(counts: Counter[str], key: str) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]


def backends_of(snap: Any, kind: str, app_id: str, _seen: frozenset[str] = frozenset()) -> list[str]:
    """The LLM backends a turn of this agent or flow may call (primary and fallbacks; a flow's
    agents and sub-flows)."""
    if kind == "agent" or app_id in snap.agents:
        agent = snap.agents.get(app_id)
        if agent is None:
            return []
        return [agent.llm.backend, *(f.backend for f in agent.llm.fallbacks)]
    flow = snap.flows.get(app_id)
    if flow is None or app_id in _seen:
        return []
    found = [b for aid in flow.agent_ids() for b in backends_of(snap, "agent", aid)]
    for sub in (n.flow_id for n in flow.nodes if n.flow_id):
        found += backends_of(snap, "flow", sub, _seen | {app_id})
    return found
