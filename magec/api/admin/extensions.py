"""Collects the admin routers of optional subsystems; a subsystem not yet importable is skipped."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from magec._optional import import_optional
from magec.context import AppContext

log = logging.getLogger(__name__)

#: modules exposing ``router(ctx) -> APIRouter`` (mounted under /api/v1/admin)
MODULES = [
    "magec.api.admin.backends",
    "magec.api.admin.memory",
    "magec.api.admin.voice",
    "magec.api.admin.playground",
]


def routers(ctx: AppContext) -> list[APIRouter]:
    modules = [import_optional(name) for name in MODULES]
    return [m.router(ctx) for m in modules if m is not None]
