"""Pydantic models of every resource, with Magec's camelCase JSON shapes and validation."""

from magec.resources.models import (
    KINDS,
    Agent,
    Backend,
    Client,
    Command,
    Flow,
    FlowStep,
    McpServer,
    MemoryProvider,
    Resource,
    Secret,
    Settings,
)

__all__ = [
    "KINDS",
    "Agent",
    "Backend",
    "Client",
    "Command",
    "Flow",
    "FlowStep",
    "McpServer",
    "MemoryProvider",
    "Resource",
    "Secret",
    "Settings",
]
