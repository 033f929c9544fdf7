"""The memory tools agents get when long-term memory is active, and their prompt paragraph.

``memory_tools(store, app_name=None)`` returns ADK ``BaseTool`` objects: ``search_memory(query)``,
``save_to_memory(content, category?)``, ``update_memory(id, content)``, ``delete_memory(id)``.
Scope: app = ``app_name`` when given (the runtime passes the agent id, so flow nodes keep their own
agent's memories, as in Magec), else the ADK session's app name; user = the ADK user id. A tool
never reaches another scope: update/delete of an id from elsewhere answers "not found".

Schemas are plain objects of strings (no unions, no nullable booleans), accepted as-is by OpenAI
(strict or not), Anthropic and Gemini. Failures come back as ``{"success": false, "error": …}``
so the model can react, instead of aborting the turn.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.adk.tools.base_tool import BaseTool
from google.adk.tools.tool_context import ToolContext
from google.genai import types

from magec.errors import MagecError
from magec.memory.longterm import LongTermStore, MemoryEntry
from magec.memory.owners import client_of
from magec.redact import redact

MEMORY_INSTRUCTION = """\
## Long-term memory
You have a long-term memory about this user that persists across conversations.
- At the start of every conversation, call `search_memory` with a broad query (for example "user \
preferences, personal details and past topics") before answering, and search again whenever \
earlier context could help.
- Save proactively with `save_to_memory` whenever you learn something worth remembering: \
preferences, personal facts, goals, decisions, ongoing tasks. Save one self-contained fact per \
call and give it a short category (e.g. "preferences", "personal", "work").
- If a saved fact changed, call `update_memory` with its id; if it is wrong or the user asks you \
to forget it, call `delete_memory`.
- Do not tell the user about these tool calls unless they ask."""


def _string(description: str) -> types.Schema:
    return types.Schema(type=types.Type.STRING, description=description)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _memory_json(e: MemoryEntry) -> dict[str, Any]:
    return {"id": e.id, "text": e.text, "author": e.author, "timestamp": _iso(e.updated_at or e.created_at)}


class MemoryTool(BaseTool):
    """One memory tool bound to a store; subclasses define ``parameters`` and ``call``."""

    parameters: dict[str, types.Schema] = {}
    required: list[str] = []

    def __init__(self, store: LongTermStore, name: str, description: str, app_name: str | None = None) -> None:
        super().__init__(name=name, description=description)
        self.store = store
        self.app_name = app_name

    def _get_declaration(self) -> types.FunctionDeclaration:
        return types.FunctionDeclaration(
            name=self.name,
            description=self.description,
            parameters=types.Schema(type=types.Type.OBJECT, properties=dict(self.parameters), required=list(self.required)),
        )

    def scope(self, tool_context: ToolContext) -> tuple[str, str]:
        app = self.app_name or tool_context.session.app_name
        return app, tool_context.user_id

    async def run_async(self, *, args: dict[str, Any], tool_context: ToolContext) -> Any:
        app, user = self.scope(tool_context)
        try:
            return await self.call(args, app, user)
        except MagecError as e:
            return {"success": False, "error": redact(str(e))}

    async def call(self, args: dict[str, Any], app: str, user: str) -> dict[str, Any]:
        raise NotImplementedError


def _arg(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    return "" if value is None else str(value).strip()


class SearchMemoryTool(MemoryTool):
    parameters = {"query": _string("What to look for, in natural language (a broad query works best).")}
    required = ["query"]

    async def call(self, args: dict[str, Any], app: str, user: str) -> dict[str, Any]:
        query = _arg(args, "query")
        if len(query) > MAX_MEMORY_CHARS:
            # no fact is longer; the query goes whole to the embedding model and the word scan
            raise MagecError(f"query: at most {MAX_MEMORY_CHARS} characters; got {len(query)}")
        found = await self.store.search(app, user, query, limit=10)
        return {"memories": [_memory_json(e) for e in found], "count": len(found)}


#: the longest fact a memory tool stores (characters): a memory is one fact, and a client steering
#: the model could otherwise make each save as large as a reply
MAX_MEMORY_CHARS = 4_000
#: a memory's category is a short label (the stores keep at most 255 characters)
MAX_CATEGORY_CHARS = 100


def _content(args: dict[str, Any]) -> str:
    content = _arg(args, "content")
    if len(content) > MAX_MEMORY_CHARS:
        raise MagecError(f"content: at most {MAX_MEMORY_CHARS} characters (one fact); got {len(content)}")
    return content


class SaveMemoryTool(MemoryTool):
    parameters = {
        "content": _string("One self-contained fact to remember about the user."),
        "category": _string("Optional short category, e.g. preferences, personal, work. Empty string for none."),
    }
    required = ["content"]
    #: ``limits.maxMemoriesPerUser``: memories one user may have with one agent (0 = no limit)
    max_per_user = 0
    #: ``limits.maxMemoriesPerClient``: memories all users of one client may have with all agents
    #: (0 = no limit); a client names its users freely, so the per-user cap alone bounds nothing
    max_per_client = 0

    async def call(self, args: dict[str, Any], app: str, user: str) -> dict[str, Any]:
        content = _content(args)
        if self.max_per_user and await self.store.count(app=app, user=user) >= self.max_per_user:
            # said to the model, which can update or forget one instead (and tell the user)
            return {"success": False, "error": f"long-term memory is full for this user ({self.max_per_user} "
                    "memories): update or delete an old one first"}
        client = client_of(user)  # "" in open mode and for the admin's playground: no client to count
        if self.max_per_client and client and await self.store.count_client(client) >= self.max_per_client:
            return {"success": False, "error": f"long-term memory is full for this client ({self.max_per_client} "
                    "memories, limits.maxMemoriesPerClient): update or delete an old one first"}
        category = _arg(args, "category")
        if len(category) > MAX_CATEGORY_CHARS:
            raise MagecError(f"category: at most {MAX_CATEGORY_CHARS} characters; got {len(category)}")
        entry = await self.store.save(app, user, content, category or None)
        return {"success": True, "message": "Saved to memory.", "id": entry.id}


class UpdateMemoryTool(MemoryTool):
    parameters = {
        "id": _string("The id of the memory, as returned by search_memory."),
        "content": _string("The corrected fact that replaces the old one."),
    }
    required = ["id", "content"]

    async def call(self, args: dict[str, Any], app: str, user: str) -> dict[str, Any]:
        await self.store.update(_arg(args, "id"), _content(args), app=app, user=user)
        return {"success": True, "message": "Memory updated."}


class DeleteMemoryTool(MemoryTool):
    parameters = {"id": _string("The id of the memory to forget, as returned by search_memory.")}
    required = ["id"]

    async def call(self, args: dict[str, Any], app: str, user: str) -> dict[str, Any]:
        await self.store.delete(_arg(args, "id"), app=app, user=user)
        return {"success": True, "message": "Memory deleted."}


def memory_tools(store: LongTermStore, app_name: str | None = None, *, max_per_user: int = 0,
                 max_per_client: int = 0) -> list[BaseTool]:
    """The four memory tools for one agent (``app_name`` = its agent id; see module docstring);
    ``max_per_user``: ``limits.maxMemoriesPerUser``, ``max_per_client``: ``limits.maxMemoriesPerClient``."""
    save = SaveMemoryTool(store, "save_to_memory", "Save a fact about the current user to long-term memory.", app_name)
    save.max_per_user, save.max_per_client = max_per_user, max_per_client
    return [
        SearchMemoryTool(
            store,
            "search_memory",
            "Search the long-term memory about the current user. Returns the most relevant memories with their ids.",
            app_name,
        ),
        save,
        UpdateMemoryTool(store, "update_memory", "Replace the content of a saved memory (by id).", app_name),
        DeleteMemoryTool(store, "delete_memory", "Delete a saved memory (by id).", app_name),
    ]
