"""``GET /v1/responses/{id}/input_items``: the input items of a stored response (OpenAI's shape).

Contract:

* What a response was asked: the items of its request's ``input`` (not ``instructions``, not the
  history a ``previous_response_id`` brought), as OpenAI lists them — a string input is one user
  ``message`` with an ``input_text`` part, a message's string content becomes one part, every item
  gets an ``id`` (``msg_…``, ``fc_…``, ``fco_…`` unless the client gave one) and ``status:
  "completed"``. :func:`as_items` makes them when the response is created; they are stored beside
  the response in its session's state, so they live and die with it (``DELETE`` forgets both).
* The answer is a list page: ``{"object": "list", "data", "first_id", "last_id", "has_more"}``;
  ``order`` (``desc``, OpenAI's default, or ``asc``), ``limit`` (1–100, default 20) and ``after``
  (an item id of the previous page; unknown = 400 naming ``after``). Bad values are a 400 naming
  the parameter. Owner-private like ``GET /v1/responses/{id}``: another client's id is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from magec.errors import ValidationError

_ID_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs",
              "item_reference": "ref"}


def _content(content: Any, role: Any) -> Any:
    """A message's content as parts (a string is one text part, of the role's kind)."""
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": kind, "text": content}
        if kind == "output_text":
            part["annotations"] = []
        return [part]
    return content


def as_items(raw: Any) -> list[dict[str, Any]]:
    """A request's ``input`` (already validated by the create route) as OpenAI input items."""
    if isinstance(raw, str):
        raw = [{"type": "message", "role": "user", "content": raw}]
    items: list[dict[str, Any]] = []
    for given in raw if isinstance(raw, list) else []:
        if not isinstance(given, dict):
            continue
        item = dict(given)
        kind = item.setdefault("type", "message")
        if kind == "message":
            item["content"] = _content(item.get("content"), item.get("role"))
        if not isinstance(item.get("id"), str) or not item["id"]:
            item["id"] = f"{_ID_PREFIX.get(str(kind), 'item')}_{uuid.uuid4().hex}"
        item.setdefault("status", "completed")
        items.append(item)
    return items


def _limit(value: str | None) -> int:
    if value is None:
        return 20
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ValidationError(f"limit: must be an integer from 1 to 100, got {value!r}", field="limit")
    return limit


def page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of ``items`` for the query parameters ``order``, ``limit`` and ``after``."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ValidationError(f"order: must be 'asc' or 'desc', got {order!r}", field="order")
    limit = _limit(query.get("limit"))
    ordered = items if order == "asc" else items[::-1]
    start = 0
    after = query.get("after")
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise ValidationError(f"after: no input item with id {after!r} in this response", field="after")
        start = ids.index(after) + 1
    data = ordered[start:start + limit]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + limit < len(ordered),
    }
