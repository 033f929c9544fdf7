"""Fake of the Anthropic Messages API (``/v1/messages``, ``/v1/models``)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request

from magec.testing.fake_providers._core import FakeProvider, RecordedRequest, Reply


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


class AnthropicFake(FakeProvider):
    """Anthropic wire: messages (plain and streamed: text deltas, tool_use with
    ``input_json_delta``, several tool_use blocks), models. Auth: ``x-api-key`` or ``Authorization: Bearer``."""

    vendor = "anthropic"

    def __init__(self, name: str = "anthropic-fake", **kw: Any) -> None:
        kw.setdefault("models", ("claude-fake",))
        super().__init__(name, **kw)

    def _add_routes(self, app: FastAPI) -> None:
        @app.post("/v1/messages")
        async def messages(request: Request) -> Any:
            return await self.handle(request, "chat", self._messages_reply)

        @app.get("/v1/models")
        async def models(request: Request) -> Any:
            return await self.handle(request, "models", self._models)

    def presented_key(self, req: RecordedRequest) -> str | None:
        # anthropic SDK 2.x sends the key as "Authorization: Bearer"; older clients use x-api-key.
        return req.headers.get("x-api-key") or super().presented_key(req)

    def _msgs(self, req: RecordedRequest) -> list[dict[str, Any]]:
        return list((req.json or {}).get("messages") or [])

    def last_user_text(self, req: RecordedRequest) -> str:
        for m in reversed(self._msgs(req)):
            if m.get("role") == "user":
                texts = [b.get("text", "") for b in _blocks(m.get("content")) if b.get("type") == "text"]
                if texts:
                    return "".join(texts)
        return ""

    def tool_names(self, req: RecordedRequest) -> list[str]:
        return [t.get("name", "") for t in (req.json or {}).get("tools") or []]

    def _last_tool_result(self, req: RecordedRequest) -> dict[str, Any] | None:
        msgs = self._msgs(req)
        if not msgs or msgs[-1].get("role") != "user":
            return None
        results = [b for b in _blocks(msgs[-1].get("content")) if b.get("type") == "tool_result"]
        return results[-1] if results else None

    def ends_with_tool_result(self, req: RecordedRequest) -> bool:
        return self._last_tool_result(req) is not None

    def default_text(self, req: RecordedRequest) -> str:
        result = self._last_tool_result(req)
        if result is not None:
            content = result.get("content")
            text = (
                content if isinstance(content, str) else "".join(b.get("text", "") for b in _blocks(content))
            )
            return f"{self.name} says: tool result {text}"
        return super().default_text(req)

    def error_body(self, reply: Reply) -> Any:
        return {
            "type": "error",
            "error": {"type": reply.error_type or "api_error", "message": reply.error or "fake error"},
        }

    async def _messages_reply(self, req: RecordedRequest, reply: Reply) -> Any:
        body = req.json or {}
        model = body.get("model", "claude-fake")
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        for i, tc in enumerate(reply.tool_calls):
            content.append(
                {"type": "tool_use", "id": tc.id or f"toolu_{i + 1:02d}", "name": tc.name, "input": tc.args}
            )
        stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
        prompt, completion = reply.usage
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model}
        if not body.get("stream"):
            payload = {
                **message,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            }
            return self.json_response(payload, reply)

        def ev(kind: str, **data: Any) -> tuple[str, str]:
            return kind, json.dumps({"type": kind, **data})

        start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
        events = [
            ev("message_start", message={**start, "usage": {"input_tokens": prompt, "output_tokens": 0}})
        ]
        index = 0
        if reply.text or reply.chunks:
            events.append(ev("content_block_start", index=index, content_block={"type": "text", "text": ""}))
            for piece in reply.text_chunks():
                events.append(
                    ev("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
                )
            events.append(ev("content_block_stop", index=index))
            index += 1
        for block in content:
            if block["type"] != "tool_use":
                continue
            head = {**block, "input": {}}
            events.append(ev("content_block_start", index=index, content_block=head))
            args = json.dumps(block["input"])
            mid = len(args) // 2
            for piece in (args[:mid], args[mid:]):
                events.append(
                    ev(
                        "content_block_delta",
                        index=index,
                        delta={"type": "input_json_delta", "partial_json": piece},
                    )
                )
            events.append(ev("content_block_stop", index=index))
            index += 1
        events.append(
            ev(
                "message_delta",
                delta={"stop_reason": stop, "stop_sequence": None},
                usage={"output_tokens": completion},
            )
        )
        events.append(ev("message_stop"))
        return self.sse(events, reply)

    async def _models(self, req: RecordedRequest, reply: Reply) -> Any:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        first = self.models[0] if self.models else None
        last = self.models[-1] if self.models else None
        return self.json_response(
            {"data": data, "has_more": False, "first_id": first, "last_id": last}, reply
        )
