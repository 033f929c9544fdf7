"""Fake of the Gemini API (``/v1beta/models/...``) as google-genai calls it with an API key."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi import FastAPI, Request

from magec.testing.fake_providers._core import (
    FakeProvider,
    RecordedRequest,
    Reply,
    Route,
    deterministic_vector,
    fake_audio,
    transcript_of,
)

PCM_MIME = "audio/L16;codec=pcm;rate=24000"


def _inline(part: dict[str, Any]) -> dict[str, Any] | None:
    """A part's inline data as ``{"mimeType", "data"}``; proto-JSON accepts either key spelling
    (google-genai itself sends ``inlineData.mime_type``)."""
    blob = part.get("inlineData") or part.get("inline_data")
    if not isinstance(blob, dict):
        return None
    return {"mimeType": blob.get("mimeType") or blob.get("mime_type") or "", "data": blob.get("data", "")}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, dict):
        return [p for p in content.get("parts") or [] if isinstance(p, dict)]
    return []


class GeminiFake(FakeProvider):
    """Gemini wire: ``:generateContent``, ``:streamGenerateContent?alt=sse``, ``:embedContent``,
    ``:batchEmbedContents``, TTS (``responseModalities: [AUDIO]`` → inline ``audio/L16`` PCM), STT
    (a request with inline audio → transcript), ``GET models``. Auth: ``x-goog-api-key`` header or
    ``?key=``. ``api_versions`` are the path versions served (the real API: ``v1beta``)."""

    vendor = "gemini"

    def __init__(
        self, name: str = "gemini-fake", *, api_versions: tuple[str, ...] = ("v1beta",), **kw: Any
    ) -> None:
        self.api_versions = api_versions
        kw.setdefault("models", ("gemini-fake", "text-embedding-fake", "gemini-fake-tts"))
        super().__init__(name, **kw)

    def _add_routes(self, app: FastAPI) -> None:
        for version in self.api_versions:

            @app.post(f"/{version}/models/{{model_action:path}}")
            async def action(model_action: str, request: Request) -> Any:
                model, _, verb = model_action.partition(":")
                if verb in ("embedContent", "batchEmbedContents"):
                    return await self.handle(request, "embeddings", self._embed)
                if verb in ("generateContent", "streamGenerateContent"):
                    return await self.handle(request, self._route_of, self._generate)
                return await self.handle(request, "chat", self._unknown)

            @app.get(f"/{version}/models")
            async def models(request: Request) -> Any:
                return await self.handle(request, "models", self._models)

    def presented_key(self, req: RecordedRequest) -> str | None:
        return req.headers.get("x-goog-api-key") or req.query.get("key")

    @staticmethod
    def _route_of(req: RecordedRequest) -> Route:
        body = req.json or {}
        modalities = (body.get("generationConfig") or {}).get("responseModalities") or []
        if "AUDIO" in [str(m).upper() for m in modalities]:
            return "tts"
        for content in body.get("contents") or []:
            for part in _parts(content):
                blob = _inline(part)
                if blob and blob["mimeType"].startswith("audio/"):
                    return "stt"
        return "chat"

    def is_stream(self, req: RecordedRequest) -> bool:
        return req.path.endswith(":streamGenerateContent")

    def _contents(self, req: RecordedRequest) -> list[dict[str, Any]]:
        return list((req.json or {}).get("contents") or [])

    def last_user_text(self, req: RecordedRequest) -> str:
        for content in reversed(self._contents(req)):
            if content.get("role", "user") == "user":
                texts = [p["text"] for p in _parts(content) if "text" in p]
                if texts:
                    return "".join(texts)
        return ""

    def tool_names(self, req: RecordedRequest) -> list[str]:
        names = []
        for tool in (req.json or {}).get("tools") or []:
            names += [fd.get("name", "") for fd in tool.get("functionDeclarations") or []]
        return names

    def _last_function_response(self, req: RecordedRequest) -> dict[str, Any] | None:
        contents = self._contents(req)
        if not contents:
            return None
        responses = [p["functionResponse"] for p in _parts(contents[-1]) if "functionResponse" in p]
        return responses[-1] if responses else None

    def ends_with_tool_result(self, req: RecordedRequest) -> bool:
        return self._last_function_response(req) is not None

    def wanted_schema(self, req: RecordedRequest) -> dict[str, Any] | None:
        cfg = (req.json or {}).get("generationConfig") or {} if isinstance(req.json, dict) else {}
        if cfg.get("responseMimeType") != "application/json":
            return None
        schema = cfg.get("responseJsonSchema") or cfg.get("responseSchema")
        return schema if isinstance(schema, dict) else {}

    def default_text(self, req: RecordedRequest) -> str:
        fr = self._last_function_response(req)
        if fr is not None:
            return f"{self.name} says: tool result {json.dumps(fr.get('response'))}"
        return super().default_text(req)

    def error_body(self, reply: Reply) -> Any:
        status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        return {
            "error": {
                "code": reply.status,
                "message": reply.error or "fake error",
                "status": reply.error_type
                or status.get(reply.status, "RESOURCE_EXHAUSTED" if reply.status == 429 else "INTERNAL"),
            }
        }

    # ----- producers ---------------------------------------------------------------------------
    def _response(self, parts: list[dict[str, Any]], finish: str | None, reply: Reply) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        prompt, completion = reply.usage
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion,
            },
            "modelVersion": "gemini-fake",
        }

    async def _generate(self, req: RecordedRequest, reply: Reply) -> Any:
        finish = reply.finish_reason or "STOP"
        if req.route == "tts":
            text = self.last_user_text(req)
            audio = reply.audio if reply.audio is not None else fake_audio(text)
            parts: list[dict[str, Any]] = [
                {"inlineData": {"mimeType": PCM_MIME, "data": base64.b64encode(audio).decode()}}
            ]
            return self.json_response(self._response(parts, finish, reply), reply)
        if req.route == "stt" and reply.text is None:
            audio = b""
            for content in self._contents(req):
                for part in _parts(content):
                    blob = _inline(part)
                    if blob is not None:
                        audio = base64.b64decode(blob["data"], altchars=b"-_")  # google-genai sends URL-safe base64
            reply.text = transcript_of(audio)
        calls: list[dict[str, Any]] = [
            {"functionCall": {"name": tc.name, "args": tc.args, **({"id": tc.id} if tc.id else {})}}
            for tc in reply.tool_calls
        ]
        if not self.is_stream(req):
            parts = [{"text": reply.text}] if reply.text else []
            parts += calls
            return self.json_response(self._response(parts, finish, reply), reply)
        chunks = reply.text_chunks()
        events: list[tuple[str | None, str]] = []
        for i, piece in enumerate(chunks):
            last = i == len(chunks) - 1 and not calls
            events.append(
                (None, json.dumps(self._response([{"text": piece}], finish if last else None, reply)))
            )
        if calls or not chunks:
            events.append((None, json.dumps(self._response(calls, finish, reply))))
        return self.sse(events, reply)

    async def _embed(self, req: RecordedRequest, reply: Reply) -> Any:
        body = req.json or {}
        if req.path.endswith(":batchEmbedContents"):
            texts = [
                "".join(p.get("text", "") for p in _parts(r.get("content")))
                for r in body.get("requests") or []
            ]
            vectors = reply.vectors or [deterministic_vector(t, self.embedding_dim) for t in texts]
            return self.json_response({"embeddings": [{"values": v} for v in vectors]}, reply)
        text = "".join(p.get("text", "") for p in _parts(body.get("content")))
        vector = (reply.vectors or [deterministic_vector(text, self.embedding_dim)])[0]
        return self.json_response({"embedding": {"values": vector}}, reply)

    async def _unknown(self, req: RecordedRequest, reply: Reply) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse(
            {"error": {"code": 404, "message": "unknown action", "status": "NOT_FOUND"}}, status_code=404
        )

    async def _models(self, req: RecordedRequest, reply: Reply) -> Any:
        data = [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["embedContent"] if "embed" in m else ["generateContent"],
            }
            for m in self.models
        ]
        return self.json_response({"models": data}, reply)
