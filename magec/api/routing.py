"""A router that turns away a path outside its prefixes without trying each route.

Contract: ``GatedRouter(prefixes)`` is an ``APIRouter`` whose ``matches`` answers "no match" at
once for a path that starts with none of ``prefixes`` (the path below the app's root path, as
Starlette's routes see it: behind a proxy prefix or a mount too); otherwise it matches as FastAPI does. Every
route included in it must start with one of them (a route outside would be unreachable: the route
tests would show it as a 404). Use it as the outer router of a group, in place of ``APIRouter()``
(wrapping a router in another one adds a level to every request's dispatch and cost more than the
gate saved).

:func:`methods_served` tells a wrong method from an unknown path (405 or 404) for the error handler.

Why: FastAPI matches a request against the app's routers in order and, inside each, against every
route (a regular expression each, with FastAPI's scope bookkeeping around it): the user app's
``/v1/chat/completions`` took 42 µs to match behind the Magec routers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette._utils import get_route_path  # what Starlette's own routes match on
from starlette.routing import Match, Mount
from starlette.types import Scope


class GatedRouter(APIRouter):
    def __init__(self, prefixes: tuple[str, ...], **kw: Any) -> None:
        if not prefixes:
            raise ValueError("GatedRouter: give at least one prefix")
        super().__init__(**kw)
        self._prefixes = prefixes

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # the path below the app's root path (behind a proxy prefix or a mount), as routes see it
        if not get_route_path(scope).startswith(self._prefixes):
            return Match.NONE, {}
        return super().matches(scope)


def methods_elsewhere(request: Request) -> list[str]:
    """The methods (sorted) other routes of the app serve this request's path with. A catch-all GET
    route matches every path in full, and the router takes a full match over a method mismatch: a
    GET on a POST-only route would answer the catch-all's 404. Asked through each route's public
    ``matches`` (FastAPI wraps included routers: their routes are not listed)."""
    methods = []
    for method in ("DELETE", "PATCH", "POST", "PUT"):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return methods


#: the UIs' catch-all GET (Admin UI, Voice UI): it takes every path, so it says nothing of a path
CATCH_ALL = "/{path:path}"


def methods_served(request: Request) -> list[str]:
    """The methods (sorted) the app's own routes serve this request's path with, leaving out the
    UIs' catch-all GET and static mounts, which match any path below them. Empty = no route has
    this path: a request Starlette would answer 405 (the catch-all matched it but for its method)
    is a 404, as on a path no route has at all."""
    methods = []
    for method in ("DELETE", "GET", "PATCH", "POST", "PUT"):
        probe = {**request.scope, "method": method}
        for route in request.app.router.routes:
            if isinstance(route, Mount) or getattr(route, "path", None) == CATCH_ALL:
                continue
            if route.matches(probe)[0] is Match.FULL:
                methods.append(method)
                break
    return methods
