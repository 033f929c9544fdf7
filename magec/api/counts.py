"""How many content parts and client tools one turn request may hold.

Why: every part of a request becomes a pydantic object (ADK's ``Content``, a2a-sdk's protobuf
``Part``, a ``FunctionDeclaration``) and is carried through the turn on the event loop, at 10 to
60 µs each. The body limit alone allows ~150,000 one-character parts in 2 MiB: one such request
held the loop — every other client's requests — for 1 s (``/run``, ``/v1``) to 3 s (A2A), and a
client could send them back to back, each refused only after that work (admission comes later).

Contract (:class:`~magec.errors.ValidationError`, 400 naming the field and the limit, before
anything is converted or run; A2A answers it as JSON-RPC invalid params):

* :data:`MAX_PARTS_PER_MESSAGE` content parts in one message: the run API's ``newMessage.parts``,
  A2A's ``params.message.parts``, the ``content`` list of a ``/v1/chat/completions`` message or of
  a ``/v1/responses`` input item. 500 is OpenAI's own limit of images in one request.
* :data:`MAX_PARTS` content parts in one request, every message's together (``/v1`` routes; a
  string ``content`` counts as none): a long history of one-part messages passes, one of many
  many-part messages does not.
* :data:`MAX_TOOLS` client function tools (``tools`` of both ``/v1`` routes): OpenAI's limit.

* ``limits.maxMessages`` messages (or input items) in one ``/v1`` request (default
  :data:`MAX_MESSAGES`; 0 = no limit). A long history is parsed in a worker thread
  (:func:`magec.api.user.openai.messages.split_off_loop`), but what comes after (the session write,
  the turn's history) walks it on the event loop: 60,000 plain messages held the loop ~0.45 s
  after parsing. The scale goal (a 16k-message conversation resent each turn) fits under it.
  The run API and A2A carry one message a request, whose parts are capped above.
"""

from __future__ import annotations

from typing import Any

from magec.errors import ValidationError

#: content parts one message may hold (OpenAI: at most 500 images in one request)
MAX_PARTS_PER_MESSAGE = 500
#: content parts one request may hold, all its messages together
MAX_PARTS = 10_000
#: client function tools one request may declare (OpenAI's limit)
MAX_TOOLS = 128
#: messages one ``/v1`` request may hold (``limits.maxMessages``' default)
MAX_MESSAGES = 20_000


def check_parts(parts: Any, where: str) -> int:
    """The number of entries of ``parts`` (0 for anything but a list); refused past
    :data:`MAX_PARTS_PER_MESSAGE`, naming ``where``."""
    if not isinstance(parts, list):
        return 0
    if len(parts) > MAX_PARTS_PER_MESSAGE:
        raise ValidationError(f"{where}: at most {MAX_PARTS_PER_MESSAGE} content parts in one message; "
                              f"got {len(parts)}", field=where)
    return len(parts)


def check_messages(messages: Any, key: str, max_messages: int = MAX_MESSAGES) -> None:
    """At most ``max_messages`` entries in ``messages`` (a ``/v1`` request's ``messages`` or
    ``input``; ``limits.maxMessages``, 0 = no limit), each one's ``content`` list within
    :data:`MAX_PARTS_PER_MESSAGE`, and all of them within :data:`MAX_PARTS`."""
    if not isinstance(messages, list):
        return
    if max_messages and len(messages) > max_messages:
        raise ValidationError(f"{key}: at most {max_messages} messages in one request (limits.maxMessages); "
                              f"got {len(messages)}", field=key)
    total = 0
    for i, message in enumerate(messages):
        if isinstance(message, dict):
            total += check_parts(message.get("content"), f"{key}[{i}].content")
        if total > MAX_PARTS:
            raise ValidationError(f"{key}: at most {MAX_PARTS} content parts in one request, all messages "
                                  f"together; {key}[0..{i}] hold {total}", field=key)


def check_tools(tools: Any, key: str = "tools") -> None:
    """At most :data:`MAX_TOOLS` entries in ``tools``."""
    if isinstance(tools, list) and len(tools) > MAX_TOOLS:
        raise ValidationError(f"{key}: at most {MAX_TOOLS} tools in one request; got {len(tools)}", field=key)
