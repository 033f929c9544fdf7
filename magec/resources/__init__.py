"""Pydantic models of every resource, with Magec's camelCase JSON shapes and validation.

A kind is declared once, on its model (:mod:`magec.resources.models`); :data:`KINDS`, the
reference graph (:mod:`magec.resources.references`) and the save-time rule registry
(:mod:`magec.resources.rules`) are derived from or typed here. Nothing in this package imports
another magec part except :mod:`magec.errors`.
"""

from magec.resources import references
from magec.resources.models import (
    BY_PATH,
    KINDS,
    Agent,
    Backend,
    Client,
    Command,
    Flow,
    FlowStep,
    McpServer,
    MemoryProvider,
    RefSpec,
    Resource,
    Secret,
    Settings,
    plural,
    singular,
)

__all__ = [
    "BY_PATH",
    "KINDS",
    "Agent",
    "Backend",
    "Client",
    "Command",
    "Flow",
    "FlowStep",
    "McpServer",
    "MemoryProvider",
    "RefSpec",
    "Resource",
    "Secret",
    "Settings",
    "plural",
    "references",
    "singular",
]
