"""Memory tools through a real ADK Runner: scoping from the tool context, results, schemas."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.backends._schema import declaration_parameters
from magec.memory.fakes import KeywordEmbedder
from magec.memory.sql_longterm import SqlLongTermStore
from magec.memory.tools import MEMORY_INSTRUCTION, memory_tools


class ToolCallingLlm(BaseLlm):
    """User text ``CALL <tool> <json args>`` → that function call; a tool result → its JSON as text."""

    model: str = "scripted"

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False) -> AsyncGenerator[LlmResponse, None]:
        last = llm_request.contents[-1]
        part = last.parts[0] if last.parts else None
        if part is not None and part.function_response is not None:
            text = json.dumps(part.function_response.response)
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=text)]))
            return
        _, name, raw = (part.text or "").split(" ", 2) if part else ("", "", "{}")
        call = types.FunctionCall(id="call-1", name=name, args=json.loads(raw))
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(function_call=call)]))


async def _call(runner: Runner, user: str, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    session = await runner.session_service.create_session(app_name=runner.app_name, user_id=user)
    msg = types.Content(role="user", parts=[types.Part(text=f"CALL {tool} {json.dumps(args)}")])
    final = None
    async for event in runner.run_async(user_id=user, session_id=session.id, new_message=msg):
        if event.content and event.content.parts and event.content.parts[0].text:
            final = event.content.parts[0].text
    assert final is not None
    return dict(json.loads(final))


def _runner(store: SqlLongTermStore, app_name: str, agent_id: str | None = None) -> Runner:
    agent = LlmAgent(
        name="memory_agent",
        model=ToolCallingLlm(),
        instruction="Test.\n\n" + MEMORY_INSTRUCTION,
        tools=list(memory_tools(store, app_name=agent_id)),
    )
    return Runner(app_name=app_name, agent=agent, session_service=InMemorySessionService())


async def test_tools_through_a_runner(sqlite_engine: AsyncEngine) -> None:
    store = SqlLongTermStore(sqlite_engine, KeywordEmbedder())
    runner = _runner(store, app_name="agent-1")
    saved = await _call(runner, "alice", "save_to_memory", {"content": "Drinks espresso", "category": "preferences"})
    assert saved["success"] is True and saved["id"]
    await _call(runner, "alice", "save_to_memory", {"content": "Has a dog"})
    found = await _call(runner, "alice", "search_memory", {"query": "coffee"})
    assert found["count"] == 2 and found["memories"][0]["text"] == "[preferences] Drinks espresso"
    assert found["memories"][0]["author"] == "agent" and found["memories"][0]["timestamp"].endswith("+00:00")
    # scoped by ADK user id and by app name
    assert (await _call(runner, "bob", "search_memory", {"query": "coffee"}))["count"] == 0
    assert (await store.list(app="agent-1", user="alice"))[0].content == "Has a dog"
    # bob cannot touch alice's memory, alice can
    denied = await _call(runner, "bob", "delete_memory", {"id": saved["id"]})
    assert denied["success"] is False and "not found" in denied["error"]
    assert (await _call(runner, "alice", "update_memory", {"id": saved["id"], "content": "Drinks tea"}))["success"]
    assert (await store.get(saved["id"])).content == "Drinks tea"
    assert (await _call(runner, "alice", "delete_memory", {"id": saved["id"]}))["success"]
    assert await store.count(app="agent-1", user="alice") == 1
    empty = await _call(runner, "alice", "save_to_memory", {"content": "  "})
    assert empty["success"] is False


async def test_bound_agent_id_overrides_the_app_name(sqlite_engine: AsyncEngine) -> None:
    """In a flow the ADK app is the flow; memories stay with the node's agent id."""
    store = SqlLongTermStore(sqlite_engine, KeywordEmbedder())
    runner = _runner(store, app_name="flow-1", agent_id="agent-7")
    await _call(runner, "u", "save_to_memory", {"content": "Plays piano", "category": ""})
    [entry] = await store.list()
    assert entry.app_name == "agent-7" and entry.category is None


def test_schemas_are_portable(sqlite_engine: AsyncEngine) -> None:
    tools = memory_tools(SqlLongTermStore(sqlite_engine, None))
    assert [t.name for t in tools] == ["search_memory", "save_to_memory", "update_memory", "delete_memory"]
    for tool in tools:
        decl = tool._get_declaration()
        assert decl is not None
        schema = declaration_parameters(decl)
        assert schema["type"] == "object" and schema["required"]
        for prop in schema["properties"].values():
            assert prop["type"] == "string" and set(prop) <= {"type", "description"}
        assert "anyOf" not in json.dumps(schema) and "boolean" not in json.dumps(schema)
    assert "search_memory" in MEMORY_INSTRUCTION and "save_to_memory" in MEMORY_INSTRUCTION
