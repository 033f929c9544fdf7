"""Commands: a saved prompt that webhooks and cron clients send to their agents.

One command may serve both: a webhook's request body fills the prompt's ``{{body…}}``
placeholders, and a scheduled run, which has no body, leaves them empty rather than sending the
model literal braces (:func:`render_command`).
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*body((?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")


def render_command(prompt: str, body: Any) -> str:
    """The command's prompt with ``body`` (a webhook's request body; ``None`` for a scheduled run)
    available: ``{{body}}`` is the whole body as JSON, ``{{body.a.b}}`` one value in it (strings as
    they are, anything else as JSON); a missing value, or no body at all, is empty. A prompt with
    no placeholder gets a non-empty body appended after a blank line as ``Request body:`` + JSON."""
    if not _PLACEHOLDER.search(prompt):
        if body in (None, {}, [], ""):
            return prompt
        return f"{prompt}\n\nRequest body:\n{json.dumps(body, ensure_ascii=False, indent=2)}"

    def value(match: re.Match[str]) -> str:
        node: Any = body
        for key in [k for k in match.group(1).split(".") if k]:
            if isinstance(node, dict):
                node = node.get(key)
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                node = None
            if node is None:
                return ""
        if node is None:  # {{body}} of a run without a body
            return ""
        if isinstance(node, str):
            return node
        return json.dumps(node, ensure_ascii=False)

    return _PLACEHOLDER.sub(value, prompt)
