"""Collects the admin routers of optional subsystems; a subsystem not yet importable is skipped."""

from __future__ import annotations

import importlib
import logging

from fastapi import APIRouter

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
    out = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):
                continue
            raise
        out.append(module.router(ctx))
    return out
