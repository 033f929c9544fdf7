"""Long-term memory for an agent whose model calls no tools: recalled and saved by magec itself.

A model that cannot call tools (the ``local`` type's SmolLM2; any backend type whose declared
capabilities say ``tools: false``) never calls ``search_memory`` / ``save_to_memory``, so the
memory the offline demo advertises would be unreachable. Such an agent gets one
:class:`AutomaticMemory` instead of the four memory tools — ADK's preload-memory approach
(``google.adk.tools.PreloadMemoryTool``), on magec's own store and scope:

* **Recall.** Before each model call, the memories of this (agent, user) scope most relevant to the
  user's message (the store's search: vectors, full text, then the most recent) are appended to the
  system instruction as what the user said earlier. The model is never offered a tool.
* **Save.** The user's message of a turn is saved as a memory once, on the turn's first model call
  (the request ends with it), when it says something: a statement of at least
  :data:`MIN_WORDS` words — a question ("what is my name?") is no fact — not already stored word for
  word, cut to :data:`~magec.memory.tools.MAX_MEMORY_CHARS`, and within ``limits.maxMemoriesPerUser``
  / ``maxMemoriesPerClient`` (the save tool's checks; a full memory is skipped, logged at debug).
* A store that fails (search or save) never fails the turn: the answer goes on without memory,
  logged at warning.
"""

from __future__ import annotations

import logging
from typing import Any

from google.adk.models import LlmRequest
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.tool_context import ToolContext

from magec.errors import MagecError
from magec.memory.longterm import LongTermStore
from magec.memory.tools import MAX_MEMORY_CHARS, SaveMemoryTool
from magec.redact import redact

log = logging.getLogger(__name__)

#: memories recalled into one request (a small model's context is short: 2,048 tokens for SmolLM2)
RECALLED = 5
#: the fewest words a user's message has to be saved ("ok", "thanks" are no fact)
MIN_WORDS = 3
#: the longest recalled memory put into a request (characters)
RECALL_CHARS = 500


def _text(content: Any) -> str:
    parts = getattr(content, "parts", None) or []
    return " ".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)).strip()


def worth_saving(text: str) -> bool:
    """A statement of :data:`MIN_WORDS` words or more (questions are asked, not told)."""
    return len(text.split()) >= MIN_WORDS and not text.rstrip().endswith("?")


class AutomaticMemory(BaseTool):
    """Recalls and saves long-term memories around each model call (see the module docstring);
    ``save`` is the agent's :class:`SaveMemoryTool` (its scope and limits), never offered to the model."""

    def __init__(self, store: LongTermStore, save: SaveMemoryTool, app_name: str | None = None) -> None:
        super().__init__(name="magec_automatic_memory", description="long-term memory without tool calls")
        self.store = store
        self.save = save
        self.app_name = app_name

    def _get_declaration(self) -> None:
        return None  # not a tool the model sees: it only changes the request

    async def process_llm_request(self, *, tool_context: ToolContext, llm_request: LlmRequest) -> None:
        said = _text(tool_context.user_content)
        if not said:
            return
        app, user = self.app_name or tool_context.session.app_name, tool_context.user_id
        try:
            found = await self.store.search(app, user, said, limit=RECALLED)
        except (MagecError, OSError) as e:
            log.warning("long-term memory unavailable for agent %s: %s", app, redact(str(e)))
            return
        if found:
            lines = "\n".join(f'- "{e.content[:RECALL_CHARS]}"' for e in found)
            llm_request.append_instructions([
                "## What you remember about this user\n"
                "What the user told you in earlier conversations (their own words, most relevant first):\n"
                f"{lines}\n"
                "Answer from these when the user asks about them."
            ])
        first_call = bool(llm_request.contents) and llm_request.contents[-1].role == "user" \
            and _text(llm_request.contents[-1]) == said
        if not first_call or not worth_saving(said) or any(e.content == said[:MAX_MEMORY_CHARS] for e in found):
            return
        try:
            saved = await self.save.call({"content": said[:MAX_MEMORY_CHARS]}, app, user)
        except (MagecError, OSError) as e:
            log.warning("long-term memory could not save for agent %s: %s", app, redact(str(e)))
            return
        if not saved.get("success"):
            log.debug("long-term memory not saved for agent %s: %s", app, saved.get("error"))
