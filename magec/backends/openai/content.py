"""A message ``content`` of an OpenAI-shaped answer: a string, absent, or a list of typed parts.

OpenAI answers a string. Mistral's reasoning models (Magistral), reached through the ``openai``
type, answer a list instead — ``[{"type": "thinking", "thinking": [{"type": "text", "text": …}]},
{"type": "text", "text": …}]``, whole or as stream deltas: its text parts are the answer, its
thinking parts the model's thoughts, other parts (references, images) carry no text. Anything else
is a malformed answer naming where it stood.
"""

from __future__ import annotations

from typing import Any

from magec.backends._errors import malformed


def split_content(value: Any, backend: str | None, where: str) -> tuple[str | None, str | None]:
    """(text, thought) of a content ``value`` (see the module contract)."""
    if value is None or isinstance(value, str):
        return value, None
    if not isinstance(value, list):
        raise malformed(backend, f"{where} is not a string")
    texts: list[str] = []
    thoughts: list[str] = []
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise malformed(backend, f"{where}[{i}] is not an object")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise malformed(backend, f"{where}[{i}].text is not a string")
            texts.append(text)
        elif kind == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, str):
                thoughts.append(inner)
            elif isinstance(inner, list):
                thoughts.extend(p["text"] for p in inner if isinstance(p, dict) and isinstance(p.get("text"), str))
            else:
                raise malformed(backend, f"{where}[{i}].thinking is not a string or a list")
    return ("".join(texts) or None), ("".join(thoughts) or None)
