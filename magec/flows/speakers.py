"""Flow agents see each other by name: ``[Researcher] said:``, not ``[a_<uuid>_1] said:``.

ADK shows an agent what the *other* agents of its flow said as user-role context: a first part
opening with ``For context:``, then parts opening with the author in brackets (``[author] said:``,
``[author] called tool …``, ``[author] tool … returned result:``, ``[author] thought:``). The
author is the ADK agent's name, which for magec is a name derived from the agent's id (ADK names must be identifiers; Magec uses the bare id
likewise), so a Critic told to weigh the Researcher against the Helper could not tell which was
which.

Contract: :func:`speakers` returns a synchronous before-model callback that rewrites that opening
``[author]`` of each text part of the request's ``user`` contents to the agent's name from the
flow's author map (ADK name → (agent id, agent name, response agent?)), filled as the flow is
compiled. Only the opening bracket of a part is touched, and only when it names an agent of the
flow, in such an account: the quoted text after it (ADK fences it) and anything the user wrote are
left as they are. The session's events are never changed (a rewritten part is a new one): this is the request only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

#: how ADK opens its account of what another agent did (its conformance tests key on it too)
CONTEXT = "For context:"


def speakers(authors: Mapping[str, tuple[str, str, bool]]) -> Callable[[Any, Any], None]:
    def name_speakers(callback_context: Any, llm_request: Any) -> None:  # noqa: ARG001 - ADK's signature
        for content in llm_request.contents or ():
            parts = content.parts or []
            if content.role != "user" or not parts or not (parts[0].text or "").startswith(CONTEXT):
                continue  # not ADK's account of another agent's turn (a user's own words, say)
            for i, part in enumerate(parts):
                text = part.text
                if not text or text[0] != "[":
                    continue
                end = text.find("] ", 1)
                known = authors.get(text[1:end]) if end > 0 else None
                if known is not None:  # a new part: the old one may be a stored event's own
                    parts[i] = part.model_copy(update={"text": f"[{known[1]}{text[end:]}"})
        return None

    return name_speakers
