"""Fake of the OpenAI HTTP API (``/v1/...``), as served by OpenAI, Ollama, vLLM, LiteLLM, etc."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from magec.backends.audio_formats import CONTENT_TYPES
from magec.testing.fake_providers._core import FakeProvider, RecordedRequest, Reply, fake_audio, transcript_of

TTS_CONTENT_TYPES = CONTENT_TYPES  # OpenAI's /audio/speech answers with these


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


class OpenAIFake(FakeProvider):
    """OpenAI wire: chat completions (plain, streamed, tool calls with streamed argument deltas and
    parallel calls, usage chunk), embeddings, audio transcriptions (multipart), audio speech
    (streamed bytes), models. ``prefix`` is the API path prefix (default ``/v1``)."""

    vendor = "openai"

    def __init__(self, name: str = "openai-fake", *, prefix: str = "/v1", **kw: Any) -> None:
        self.prefix = prefix.rstrip("/")
        super().__init__(name, **kw)

    def _add_routes(self, app: FastAPI) -> None:
        p = self.prefix

        @app.post(p + "/chat/completions")
        async def chat(request: Request) -> Any:
            return await self.handle(request, "chat", self._chat)

        @app.post(p + "/embeddings")
        async def embeddings(request: Request) -> Any:
            return await self.handle(request, "embeddings", self._embeddings)

        @app.post(p + "/audio/transcriptions")
        async def stt(request: Request) -> Any:
            return await self.handle(request, "stt", self._stt)

        @app.post(p + "/audio/speech")
        async def tts(request: Request) -> Any:
            return await self.handle(request, "tts", self._tts)

        @app.get(p + "/models")
        async def models(request: Request) -> Any:
            return await self.handle(request, "models", self._models)

    # ----- vendor hooks ------------------------------------------------------------------------
    def _messages(self, req: RecordedRequest) -> list[dict[str, Any]]:
        return list((req.json or {}).get("messages") or [])

    def last_user_text(self, req: RecordedRequest) -> str:
        for m in reversed(self._messages(req)):
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    def tool_names(self, req: RecordedRequest) -> list[str]:
        return [t["function"]["name"] for t in (req.json or {}).get("tools") or [] if "function" in t]

    def ends_with_tool_result(self, req: RecordedRequest) -> bool:
        msgs = self._messages(req)
        return bool(msgs) and msgs[-1].get("role") == "tool"

    def default_text(self, req: RecordedRequest) -> str:
        msgs = self._messages(req)
        if msgs and msgs[-1].get("role") == "tool":
            return f"{self.name} says: tool result {_text_of(msgs[-1].get('content'))}"
        return super().default_text(req)

    def wanted_schema(self, req: RecordedRequest) -> dict[str, Any] | None:
        fmt = (req.json or {}).get("response_format") if isinstance(req.json, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") not in ("json_object", "json_schema"):
            return None
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        return schema if isinstance(schema, dict) else {}

    def error_body(self, reply: Reply) -> Any:
        return {
            "error": {
                "message": reply.error or "fake error",
                "type": reply.error_type or "invalid_request_error",
                "param": None,
                "code": reply.error_type,
            }
        }

    # ----- producers ---------------------------------------------------------------------------
    async def _chat(self, req: RecordedRequest, reply: Reply) -> Any:
        body = req.json or {}
        model = body.get("model", "fake")
        calls: list[dict[str, Any]] = [
            {
                "id": tc.id or f"call_{i + 1}",
                "type": "function",
                "function": {"name": tc.name, "arguments": json.dumps(tc.args)},
            }
            for i, tc in enumerate(reply.tool_calls)
        ]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        prompt, completion = reply.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}
            if calls:
                message["tool_calls"] = calls
            payload = {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
            return self.json_response(payload, reply)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> tuple[None, str]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            return None, json.dumps({**base, "object": "chat.completion.chunk", "choices": [choice]})

        events = [chunk({"role": "assistant", "content": ""})]
        events += [chunk({"content": piece}) for piece in reply.text_chunks()]
        for i, call in enumerate(calls):
            head = {"index": i, "id": call["id"], "type": "function"}
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {**head, "function": {"name": call["function"]["name"], "arguments": ""}}
                        ]
                    }
                )
            )
            args = call["function"]["arguments"]
            mid = len(args) // 2
            for piece in (args[:mid], args[mid:]):
                events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                (None, json.dumps({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
            )
        events.append((None, "[DONE]"))
        return self.sse(events, reply)

    async def _embeddings(self, req: RecordedRequest, reply: Reply) -> Any:
        body = req.json or {}
        inputs = body.get("input")
        texts = inputs if isinstance(inputs, list) else [inputs]
        vectors = reply.vectors or [self.vector(str(t)) for t in texts]
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        payload = {
            "object": "list",
            "model": body.get("model"),
            "data": data,
            "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
        }
        return self.json_response(payload, reply)

    def vector(self, text: str) -> list[float]:
        from magec.testing.fake_providers._core import deterministic_vector

        return deterministic_vector(text, self.embedding_dim)

    async def _stt(self, req: RecordedRequest, reply: Reply) -> Any:
        audio = req.files.get("file", ("", "", b""))[2]
        text = reply.text if reply.text is not None else transcript_of(audio)
        fmt = req.form.get("response_format", "json")
        if fmt == "text":
            return Response(text, media_type="text/plain", headers=reply.headers)
        return self.json_response({"text": text}, reply)

    async def _tts(self, req: RecordedRequest, reply: Reply) -> Any:
        body = req.json or {}
        fmt = body.get("response_format") or "mp3"
        audio = reply.audio if reply.audio is not None else fake_audio(str(body.get("input", "")))
        return self.byte_stream(
            audio, TTS_CONTENT_TYPES.get(fmt, "application/octet-stream"), reply, chunk=16
        )

    async def _models(self, req: RecordedRequest, reply: Reply) -> Any:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": self.name} for m in self.models]
        return self.json_response({"object": "list", "data": data}, reply)
