"""Typed request bodies of the ADK-shaped run API (``/api/v1/agent``), as ADK's own.

Keys are accepted in camelCase and snake_case (``appName`` / ``app_name``), like ADK's
``RunAgentRequest``; the routes read the JSON themselves (so a bad field is a 400 naming it, in
magec's error shape), and these models give ``/docs`` every request schema. Values inside
``state``, ``stateDelta`` and events are user data: their keys are kept as sent.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class NewMessage(_Body):
    role: str = "user"
    parts: list[dict[str, Any]] = Field(description="ADK/genai parts: text, inlineData, functionResponse, …")


class RunAgentRequest(_Body):
    app_name: str = Field(description="agent or flow name or id")
    user_id: str
    session_id: str | None = Field(None, description="created when absent")
    new_message: NewMessage
    streaming: bool = Field(False, description="token-level partial events on /run_sse")
    state_delta: dict[str, Any] | None = Field(None, description="clients: client:* keys only")


class CreateSessionRequest(_Body):
    session_id: str | None = Field(None, description="the id to create; generated when absent")
    state: dict[str, Any] | None = Field(None, description="initial state (clients: client:* keys only)")
    events: list[dict[str, Any]] | None = Field(
        None, description="events to import (a conversation to restore); no actions, no long-running ids")


class UpdateSessionRequest(_Body):
    state_delta: dict[str, Any] = Field(description="state changes, recorded as one event")


def body_doc(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}
