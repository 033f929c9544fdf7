"""Prometheus metrics, served at ``/metrics`` on both apps (no auth, like ``/api/v1/health``).

Each app context owns its own registry (tests run several in one process). Exposed:
``magec_http_requests_total{app,method,route,status}``, ``magec_http_request_seconds{app,route}``,
``magec_llm_tokens_total{agent,backend,direction}``, ``magec_turns_total{agent,outcome}`` (turns
that ran, by agent or flow id and how they ended: ``ok``, ``cancelled`` when the client left, or the
failure's error code — ``connection``, ``rate_limit``, ``auth``, …; :class:`TurnCounter`), ``magec_config_epoch``, ``magec_apps{state}``,
``magec_app_builds_total`` (apps constructed by rebuilds; an edit of one agent adds 1, not N),
``magec_runtime_rebuild_seconds``, ``magec_session_events_loaded`` (events parsed from session
storage: a cached session costs none per turn), ``magec_session_events_served`` (events given to
turns: a windowed read gives only the window), ``magec_session_cache_bytes`` (what those kept
between turns weigh, bounded by ``limits.sessionCacheBytes``), ``magec_runs_in_flight`` (turns admitted and
running, :mod:`magec.runtime.admission`), ``magec_usage_rows_read`` and ``magec_usage_recounts``
(the budget counters' reads, :mod:`magec.costs.tally`), ``magec_sessions_pruned`` (:mod:`magec.memory.session_retention`), and the live backend health (:mod:`magec.backends.health`):
``magec_backend_up{backend}`` (1 up or degraded, 0 down), ``magec_backend_check_seconds{backend}``
and ``magec_backend_breaker_open{backend}`` (1 while the circuit breaker refuses calls).
Labels carry ids, never secrets, and never the request: ``route`` is the matched route's template
(``/{path}`` for a catch-all, ``unmatched`` when none matched) and ``method`` a standard method or
``other``, so no client can add series (each one costs memory and scrape time for good).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response
from starlette.routing import Mount


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "magec_http_requests_total",
            "HTTP requests",
            ["app", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "magec_http_request_seconds",
            "HTTP request time to response start",
            ["app", "route"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "magec_llm_tokens_total", "LLM tokens", ["agent", "backend", "direction"], registry=self.registry
        )
        # how turns end: what an alert on provider failures reads (a failed turn streams a 200)
        self.turns = Counter(
            "magec_turns", "Turns run, by agent or flow id and outcome (ok, cancelled, or the failure's error code)",
            ["agent", "outcome"], registry=self.registry,
        )
        self.epoch = Gauge(
            "magec_config_epoch", "Config epoch of the running runtime", registry=self.registry
        )
        self.apps = Gauge("magec_apps", "Agents and flows by state", ["state"], registry=self.registry)
        self.app_builds = Counter(
            "magec_app_builds", "Agents and flows constructed by runtime rebuilds", registry=self.registry
        )
        self.rebuild_seconds = Histogram(
            "magec_runtime_rebuild_seconds",
            "Time to bring the runtime up to a new config epoch",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )

        # session events parsed from storage (magec.memory.event_cache): flat while sessions are
        # served from the cache, whatever their length; a client can watch it grow only with news
        self.session_events_loaded = Gauge(
            "magec_session_events_loaded", "Session events parsed from storage since start", registry=self.registry
        )
        # events handed to turns (a windowed read hands an agent with a sliding-window context
        # guard only its last turns, whatever the session's length)
        self.session_events_served = Gauge(
            "magec_session_events_served", "Session events given to turns since start", registry=self.registry
        )
        self.session_cache_bytes = Gauge(
            "magec_session_cache_bytes", "Stored JSON bytes of the session events kept between turns",
            registry=self.registry,
        )
        # usage rows read by the budget counters (magec.costs.tally): each row once, not the month
        # per refresh; a recount aggregates the month in SQL (at start, on a new day, hourly)
        self.usage_rows_read = Gauge(
            "magec_usage_rows_read", "Usage rows read by the spend counters since start", registry=self.registry
        )
        self.usage_recounts = Gauge(
            "magec_usage_recounts", "Month aggregates of the usage table by the spend counters", registry=self.registry
        )
        self.sessions_pruned = Gauge(
            "magec_sessions_pruned", "Idle sessions deleted by session retention since start (settings.sessions)",
            registry=self.registry,
        )
        self.runs_in_flight = Gauge(
            "magec_runs_in_flight", "Turns running in this process (admission, limits.maxRuns)", registry=self.registry
        )
        self.backend_up = Gauge(
            "magec_backend_up", "1 when the backend is up or degraded, 0 when down", ["backend"], registry=self.registry
        )
        self.backend_check_seconds = Gauge(
            "magec_backend_check_seconds", "Latency of the last health check", ["backend"], registry=self.registry
        )
        self.backend_breaker_open = Gauge(
            "magec_backend_breaker_open", "1 while the backend's circuit breaker is open", ["backend"],
            registry=self.registry,
        )

    #: ``magec serve --workers N``: every worker's samples (magec.workers.metrics)
    exposition: Callable[[], Awaitable[bytes]] | None = None

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class TurnCounter:
    """A turn observer (:mod:`magec.costs.observe`) counting ``magec_turns_total``: one sample per
    turn, on every surface (run API, ``/v1``, bots, webhooks, cron, A2A). Its outcome is the
    code of the turn's error event (every failure ends a turn with one, magec.runtime.run), else
    ``cancelled`` when the client left first, else ``ok``; a turn refused before it ran counts once
    with the refusal's code (:meth:`refused`). Error codes are the fixed set of
    :mod:`magec.errors`, so no client adds series."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> _TurnOutcome:  # noqa: ARG002
        return _TurnOutcome(self.counter, app.id)

    def refused(self, app: Any, code: str) -> None:
        """A turn refused before it ran (a spent budget, a full quota, admission's 429/503): counted
        with the refusal's code as outcome, so an alert on failed turns sees it too."""
        self.counter.labels(app.id, code).inc()


class _TurnOutcome:
    __slots__ = ("agent", "counter", "outcome")

    def __init__(self, counter: Counter, agent: str) -> None:
        self.counter, self.agent, self.outcome = counter, agent, "ok"

    def see(self, event: Any) -> None:
        code = getattr(event, "error_code", None)
        if code:
            self.outcome = str(code)

    def left(self) -> None:
        if self.outcome == "ok":
            self.outcome = "cancelled"

    def finish(self) -> None:
        self.counter.labels(self.agent, self.outcome).inc()


#: methods counted under their own name; any other (a client may send any token) is ``other``
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_templates(routes: Iterable[Any]) -> dict[int, str]:
    """Every route's full template (``/api/v1/agent/run``, ``/v1/models/{model}``, ``/{path}``),
    keyed by the id of the route object routing puts in ``scope["route"]`` (for a mount: of the
    mounted app, its ``scope["endpoint"]``). FastAPI keeps an included router's routes with their
    own short paths and the prefix in the inclusion; its route contexts give the full one."""
    templates: dict[int, str] = {}
    for context in iter_route_contexts(list(routes)):
        template = context.path_format  # converters dropped: {model:path} → {model}
        if not template:
            continue
        templates.setdefault(id(context.original_route), template)
        if isinstance(context.original_route, Mount):
            templates.setdefault(id(context.original_route.app), template)
    return templates


def route_template(scope: dict[str, Any], templates: dict[int, str]) -> str:
    """The matched route's template from ``templates`` (:func:`route_templates`), or
    ``unmatched``: label values come from the route table, never from the request path, so any
    number of distinct paths adds no series and /metrics never shows what anyone requested."""
    route = scope.get("route")
    # FastAPI's router hands a Mount the request without setting scope["route"]; the mount's
    # child scope names the mounted app as the endpoint
    key = route if route is not None else scope.get("endpoint")
    if key is None:
        return "unmatched"
    # a route missing from the table (none today: the tables are built with the apps) still gets
    # its own, bounded, template
    return templates.get(id(key)) or getattr(route, "path_format", None) or "unmatched"


def method_label(scope: dict[str, Any]) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else "other"


def instrument(app: Any, metrics: Metrics, name: str, refresh: Any = None) -> None:
    """Count requests per route template and serve ``/metrics``; ``refresh()`` updates gauges first.

    A plain ASGI middleware (no per-request task or body buffering, so SSE streams pass untouched);
    latency is measured to the start of the response.
    """

    table: list[dict[int, str]] = []

    def templates() -> dict[int, str]:
        if not table:  # at the first request: every route is added by then
            table.append(route_templates(app.routes))
        return table[0]

    class _Middleware:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            start = time.perf_counter()
            status = ["500"]
            started: list[float] = []

            async def send_wrapper(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status[0] = str(message["status"])
                    started.append(time.perf_counter() - start)
                await send(message)

            try:
                await self.inner(scope, receive, send_wrapper)
            finally:
                route = route_template(scope, templates())  # once per request, after routing filled the scope
                if started:
                    metrics.latency.labels(name, route).observe(started[0])
                metrics.requests.labels(name, method_label(scope), route, status[0]).inc()

    app.add_middleware(_Middleware)

    @app.get("/metrics", include_in_schema=False)
    async def _metrics() -> Response:
        if refresh is not None:
            refresh()
        if metrics.exposition is not None:
            return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
        return metrics.render()
