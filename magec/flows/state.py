"""Flow state: the ``set_state`` / ``get_state`` / ``exit_loop`` tools of agents inside a flow.

Contracts
---------
* ``set_state(key, value)`` → ``{"success": bool, "key": str, "message": str}``; ``key`` must match
  ``^[A-Za-z_][A-Za-z0-9_]*$`` (otherwise ``success`` is false and nothing is written); ``value``
  is any JSON value. Stored in ADK session state as ``flow:<key>``, so it lives exactly as long as
  the session (every later turn sees it; resetting/deleting the session resets it).
* ``get_state(key)`` → ``{"found": true, "value": ...}`` or ``{"found": false}``.
* ``exit_loop()`` asks the loop it is bound to (the nearest enclosing loop whose exit mode is
  "agent decides") to stop at the end of the current iteration. The request is an invocation-scoped
  ``temp:`` state key, so it never leaks into a later turn.
* :func:`flow_state` is the map CEL expressions see as ``state`` (the ``flow:`` prefix stripped).

The ``value`` schema is an explicit ``anyOf`` union of JSON types (string, number, integer,
boolean, array, object) instead of ``{}``/``true``: Ollama's templates reject boolean schemas,
OpenAI rejects arrays without ``items``, and Gemini's schema subset keeps ``anyOf``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from google.adk.tools.base_tool import BaseTool
from google.adk.tools.tool_context import ToolContext
from google.genai import types

PREFIX = "flow:"
EXIT_PREFIX = "temp:magec_exit_loop:"
KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_SCALARS: list[dict[str, Any]] = [
    {"type": "string"},
    {"type": "number"},
    {"type": "integer"},
    {"type": "boolean"},
]
VALUE_SCHEMA: dict[str, Any] = {
    "description": "Any JSON value: string, number, integer, boolean, array or object.",
    "anyOf": [
        *_SCALARS,
        {"type": "array", "items": {"anyOf": [*_SCALARS, {"type": "object", "properties": {}}]}},
        {"type": "object", "properties": {}},
    ],
}
KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "State key: letters, digits and underscores, not starting with a digit.",
    "pattern": KEY_PATTERN.pattern,
}

FLOW_EXIT_INSTRUCTION = (
    "You are inside a loop. When the loop's goal has been reached, call exit_loop(); the loop then "
    "stops after the current iteration."
)


def state_key(key: str) -> str:
    return PREFIX + key


def exit_key(loop_name: str) -> str:
    """The invocation-scoped key ``exit_loop`` sets for the loop node named ``loop_name``."""
    return EXIT_PREFIX + loop_name


def flow_state(state: Mapping[str, Any] | Any) -> dict[str, Any]:
    """Everything written with ``set_state`` in this session, keys without the ``flow:`` prefix."""
    items = state.to_dict().items() if hasattr(state, "to_dict") else dict(state).items()
    return {k[len(PREFIX):]: v for k, v in items if isinstance(k, str) and k.startswith(PREFIX)}


def _declaration(name: str, description: str, properties: dict[str, Any],
                 required: list[str]) -> types.FunctionDeclaration:
    return types.FunctionDeclaration(
        name=name,
        description=description,
        parameters_json_schema={"type": "object", "properties": properties, "required": required},
    )


class SetStateTool(BaseTool):
    def __init__(self) -> None:
        super().__init__(
            name="set_state",
            description="Share a value with the other agents of this flow (kept for the whole conversation).",
        )

    def _get_declaration(self) -> types.FunctionDeclaration:
        return _declaration(self.name, self.description, {"key": KEY_SCHEMA, "value": VALUE_SCHEMA},
                            ["key", "value"])

    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> dict[str, Any]:
        key = args.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            return {"success": False, "key": str(key),
                    "message": "invalid key: use letters, digits and underscores, not starting with a digit"}
        if "value" not in args:
            return {"success": False, "key": key, "message": "value is required"}
        tool_context.state[state_key(key)] = args["value"]
        return {"success": True, "key": key, "message": f"state {key!r} saved"}


class GetStateTool(BaseTool):
    def __init__(self) -> None:
        super().__init__(name="get_state", description="Read a value shared with set_state in this flow.")

    def _get_declaration(self) -> types.FunctionDeclaration:
        return _declaration(self.name, self.description, {"key": KEY_SCHEMA}, ["key"])

    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> dict[str, Any]:
        key = args.get("key")
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            return {"found": False}
        full = state_key(key)
        if full not in tool_context.state:
            return {"found": False}
        return {"found": True, "value": tool_context.state.get(full)}


class ExitLoopTool(BaseTool):
    """``exit_loop`` bound to one loop node (by its flow-unique name)."""

    def __init__(self, loop_name: str) -> None:
        super().__init__(name="exit_loop",
                         description="Stop the loop you are in after the current iteration (call when done).")
        self.loop_name = loop_name

    def _get_declaration(self) -> types.FunctionDeclaration:
        return _declaration(self.name, self.description, {}, [])

    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> dict[str, Any]:
        tool_context.state[exit_key(self.loop_name)] = True
        return {"success": True, "message": "the loop stops after the current iteration"}


def flow_tools(exit_loop_of: str | None) -> list[BaseTool]:
    """Tools for one agent appearance: state tools always, ``exit_loop`` when bound to a loop."""
    tools: list[BaseTool] = [SetStateTool(), GetStateTool()]
    if exit_loop_of is not None:
        tools.append(ExitLoopTool(exit_loop_of))
    return tools
