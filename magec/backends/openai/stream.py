"""A Chat Completions stream read as plain JSON, a network read at a time.

Why: the SDK's ``AsyncStream[ChatCompletionChunk]`` builds a pydantic chunk model per token and
decodes SSE a line at a time — most of the CPU a relayed token cost once ADK's per-token events
were gone (:mod:`magec.backends.relay`). :class:`ChunkBatches` is the SDK's own stream class,
subclassed as its ``extract_stream_chunk_type`` documents (``class MyStream(Stream[bytes])``), so
the request, headers, retries-off, timeouts and error statuses stay the SDK's; only the body is
read here: each network read becomes one list of the ``data:`` payloads it completed, parsed with
``json.loads``. An ``{"error": …}`` payload raises the SDK's ``APIError`` (as the SDK's stream
does); ``[DONE]`` ends the events, and the rest of the body is still read so the connection can be
reused. :func:`feed` applies one payload to a :class:`~magec.backends._llm.TurnAccumulator`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
from google.adk.models import LlmResponse

from magec.backends._errors import malformed, text_field
from magec.backends._llm import TurnAccumulator
from magec.backends.openai.content import split_content


class ChunkBatches(openai.AsyncStream[list[dict[str, Any]]]):
    """Iterates lists of chunk dicts, one list per network read that completed at least one event."""

    async def __stream__(self) -> AsyncIterator[list[dict[str, Any]]]:  # type: ignore[override]
        response = self.response
        buf = b""
        cr = False  # the previous read ended in "\r": maybe half of a "\r\n" split across reads
        done = False
        async for block in response.aiter_bytes():
            if done:
                continue  # drain after [DONE]: HTTP/1.1 reuses the connection only once the body is read
            if cr:
                block = b"\r" + block
            cr = block.endswith(b"\r")
            if cr:
                block = block[:-1]
            if b"\r" in block:  # SSE lines end in \r\n, \n or \r
                block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            buf += block
            if b"\n\n" not in buf:
                continue
            *events, buf = buf.split(b"\n\n")
            out, done = self._chunks(events)
            if out:
                yield out
        # an event not ended by a blank line when the body ends is dropped, as SSE says (a cut stream)

    def _chunks(self, events: list[bytes]) -> tuple[list[dict[str, Any]], bool]:
        """The chunk dicts of complete SSE events, and whether ``[DONE]`` was among them."""
        out: list[dict[str, Any]] = []
        for raw in events:
            data = _data(raw)
            if data is None:
                continue
            if data.startswith(b"[DONE]"):
                return out, True
            try:  # a JSONDecodeError is mapped (with the backend) as malformed
                obj = json.loads(data)  # plain loads: a decoder with options is built per call (hot path)
            except RecursionError:  # nested too deep: as malformed as no JSON at all
                raise json.JSONDecodeError("nested too deeply", "", 0) from None
            if isinstance(obj, dict) and obj.get("error"):
                err = obj["error"]
                message = err.get("message") if isinstance(err, dict) else None
                raise openai.APIError(
                    message=message if isinstance(message, str) and message else "An error occurred during streaming",
                    request=self.response.request,
                    body=err,
                )
            if isinstance(obj, dict):
                out.append(obj)
        return out, False


def _data(raw: bytes) -> bytes | None:
    """The ``data:`` field of one SSE event (multi-line data joined with newlines); None for none."""
    lines = [line[5:].removeprefix(b" ") for line in raw.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else b"\n".join(lines)


def feed(acc: TurnAccumulator, chunk: dict[str, Any]) -> list[LlmResponse]:
    """One ``chat.completion.chunk`` payload into ``acc``; returns the partial responses to yield
    (none when ``acc`` relays its deltas). A field of the wrong type (``content`` a number, a tool
    call no object, ...) is :class:`~magec.errors.MalformedResponseError`: whatever answers at the
    backend's URL writes these chunks, and a ``TypeError`` would reach the client as its text."""
    out: list[LlmResponse] = []
    acc.model_version = _text(acc, chunk.get("model"), "model") or acc.model_version
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        acc.set_usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens"))
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("index"):
            continue  # n > 1 is never requested; ignore stray candidates
        delta = choice.get("delta")
        if isinstance(delta, dict):
            # OpenAI-compatible reasoning servers (Ollama, vLLM, DeepSeek) stream "reasoning_content".
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            thought = acc.add_thought(_text(acc, reasoning, "delta.reasoning_content"))
            if thought is not None:
                out.append(thought)
            content = delta.get("content")
            if content is not None and not isinstance(content, str):  # typed parts (Mistral's reasoning models)
                content, thinking = split_content(content, acc.backend, "delta.content")
                if (thought := acc.add_thought(thinking)) is not None:
                    out.append(thought)
            text = acc.add_text(content)
            if text is not None:
                out.append(text)
            calls = delta.get("tool_calls") or []
            if not isinstance(calls, list):
                raise malformed(acc.backend, "delta.tool_calls is not a list")
            for tc in calls:
                fn = tc.get("function") if isinstance(tc, dict) else None
                if not isinstance(tc, dict) or not isinstance(fn or {}, dict):
                    raise malformed(acc.backend, "a delta.tool_calls entry or its function is not an object")
                fn = fn or {}
                index = tc.get("index") or 0
                if isinstance(index, bool) or not isinstance(index, int):
                    raise malformed(acc.backend, "delta.tool_calls[].index is not a number")
                acc.add_call(
                    index,
                    id=_text(acc, tc.get("id"), "delta.tool_calls[].id"),
                    name=_text(acc, fn.get("name"), "delta.tool_calls[].function.name"),
                    args_delta=_text(acc, fn.get("arguments"), "delta.tool_calls[].function.arguments"),
                )
        if choice.get("finish_reason"):
            acc.finish_raw = _text(acc, choice["finish_reason"], "finish_reason")
    return out


def _text(acc: TurnAccumulator, value: Any, where: str) -> str | None:
    return text_field(value, acc.backend, where)
