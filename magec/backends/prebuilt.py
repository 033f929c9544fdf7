"""Text parts and contents built without re-validating what the mapping already checked.

Why: a long stateless history is mostly plain text messages, and building each through pydantic
(``types.Part(text=…)`` then ``types.Content(…)``) was most of its per-message cost (issue "Scale",
goal 2); a backend's answer (:class:`magec.backends._llm.TurnAccumulator`) builds its text part
and content here too, skipping google-genai's validator that walks every field (~8 µs an object).
Callers pass checked values (the OpenAI mapping in :mod:`magec.api.user.openai.messages`, the
accumulator's own ``str`` text: a ``str`` text, a role of ``"user"``/``"model"``, a list of
``types.Part``), so these build the same objects the way
pydantic's own ``model_construct`` does — every field at its default, the given ones set — in one
step instead of a Python loop over the fields.

Contract: ``text_part(t) == types.Part(text=t)`` and ``content(r, ps) == types.Content(role=r,
parts=ps)`` for a ``str`` ``t``, a role string and a list of parts: equal, with the same
``model_fields_set`` and the same dumps (``tests/runtime/test_prebuilt_contents.py``). Anything
else (media, calls, tool answers) goes through pydantic as before.
"""

from __future__ import annotations

from typing import Any

from google.genai import types
from pydantic import BaseModel


def _defaults(cls: type[BaseModel]) -> dict[str, Any]:
    if cls.__private_attributes__ or cls.model_config.get("extra") == "allow":
        raise TypeError(f"{cls.__name__}: private attributes or extra fields need pydantic's own construction")
    return {name: f.get_default(call_default_factory=True) for name, f in cls.model_fields.items()}


_PART = _defaults(types.Part)
_CONTENT = _defaults(types.Content)
_new = object.__new__
_set = object.__setattr__


def _built(cls: type[BaseModel], defaults: dict[str, Any], values: dict[str, Any]) -> Any:
    obj = _new(cls)
    data = defaults.copy()
    data.update(values)
    _set(obj, "__dict__", data)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def text_part(text: str) -> types.Part:
    """``types.Part(text=text)``; ``text`` must be a ``str``."""
    return _built(types.Part, _PART, {"text": text})  # type: ignore[no-any-return]


def content(role: str, parts: list[types.Part]) -> types.Content:
    """``types.Content(role=role, parts=parts)`` for parts that are already ``types.Part``."""
    return _built(types.Content, _CONTENT, {"role": role, "parts": parts})  # type: ignore[no-any-return]
