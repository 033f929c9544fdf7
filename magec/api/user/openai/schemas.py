"""Documented request bodies of the OpenAI surface (shown by ``/docs``).

The handlers read the JSON by hand (so a wrong field is a 400 naming it in OpenAI's error shape,
and unknown OpenAI fields pass); these models describe what they accept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = Field(
        None, description="text, or parts: text, image_url, input_audio, file")
    tool_calls: list[dict[str, Any]] | None = Field(None, description="assistant: the calls it made")
    tool_call_id: str | None = Field(None, description="tool: the call this answers")


class FunctionTool(_Open):
    type: Literal["function"] = "function"
    function: dict[str, Any] = Field(description="{name, description, parameters (JSON schema)}")


class ChatCompletionRequest(_Open):
    model: str = Field(description="agent or flow id or name")
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    user: str | None = Field(None, description="end user id; sessions are per client and user")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: dict[str, Any] | None = Field(None, description="text, json_object or json_schema")
    tools: list[FunctionTool] | None = Field(None, description="client tools, executed by the client")
    tool_choice: str | dict[str, Any] | None = None
    n: int | None = Field(None, description="only 1")


class ResponsesRequest(_Open):
    model: str = Field(description="agent or flow id or name")
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    store: bool = True
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    text: dict[str, Any] | None = Field(None, description="{format: text | json_object | json_schema}")
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    user: str | None = None


class EmbeddingsRequest(_Open):
    model: str = Field(description="an agent (or flow) name or id: its memory's embedding backend answers")
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, description="accepted when it is the model's own size (else a 400 saying it)")
    user: str | None = None


class SpeechRequest(_Open):
    model: str = Field(description="agent name or id: its voice (tts) answers")
    input: str
    voice: str | None = None
    response_format: str | None = None
    speed: float | None = None
