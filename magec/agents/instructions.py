"""Agent instructions: default persona, extra paragraphs, ``{{agent.output:KEY}}`` templates.

The instruction is an ADK *instruction provider* (a function of the read-only context), so template
values are read from session state at request time. Single curly braces are left alone on purpose
(ADK's own ``{var}`` templating is bypassed because a provider is used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

DEFAULT_PERSONA = (
    "You are Magec, a helpful AI assistant. Be concise and accurate. Respond in the user's language."
)
FLOW_STATE_INSTRUCTION = (
    "You are one step of a multi-agent flow. Use set_state(key, value) to share results with the other "
    "agents of the flow and get_state(key) to read what they shared."
)
_TEMPLATE = re.compile(r"\{\{\s*agent\.output:([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render(template: str, state: Any) -> str:
    """Replace ``{{agent.output:KEY}}`` with ``state[KEY]`` (empty string when missing)."""

    def sub(m: re.Match[str]) -> str:
        value = state.get(m.group(1)) if hasattr(state, "get") else None
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, default=str)

    return _TEMPLATE.sub(sub, template)


def compose(system_prompt: str, paragraphs: list[str]) -> str:
    parts = [system_prompt.strip() or DEFAULT_PERSONA, *[p.strip() for p in paragraphs if p and p.strip()]]
    return "\n\n".join(parts)


def provider(text: str) -> Callable[[Any], str]:
    """An ADK instruction provider rendering ``text`` against the session state."""

    def instruction(ctx: Any) -> str:
        return render(text, ctx.state)

    return instruction
