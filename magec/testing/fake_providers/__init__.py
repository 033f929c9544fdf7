"""Loopback fake AI providers speaking the real wire protocols (OpenAI, Anthropic, Gemini).

Use them to test anything that talks to a backend through the real vendor SDKs, with no internet
and no patching::

    from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply, ToolCall

    with FakeServer(OpenAIFake("alpha", embedding_dim=16)) as srv:
        spec = BackendSpec(id="b1", name="alpha", type="openai", url=srv.url)   # /v1 is appended
        ...                                    # default chat reply: "alpha says: <last user text>"
        srv.script(Reply(tool_calls=[ToolCall("get_weather", {"city": "Tenerife"})]))
        srv.script(Reply.fail(429, "slow down", headers={"retry-after": "7"}), route="embeddings")
        srv.script(Reply(text="partial", cut_after=2))        # stream dropped after 2 events
        assert srv.requests[-1].path == "/v1/chat/completions"
        assert srv.requests[-1].headers["authorization"] == "Bearer sk-test"

Pieces
------
* :class:`OpenAIFake` (``/v1/chat/completions`` incl. SSE and streamed tool-call argument deltas,
  ``/v1/embeddings``, ``/v1/audio/transcriptions`` multipart, ``/v1/audio/speech`` streamed,
  ``/v1/models``), :class:`AnthropicFake` (``/v1/messages`` incl. SSE with ``input_json_delta``,
  ``/v1/models``), :class:`GeminiFake` (``/v1beta/models/{m}:generateContent``,
  ``:streamGenerateContent?alt=sse``, ``:embedContent``, ``:batchEmbedContents``, TTS/STT through
  generateContent, ``GET /v1beta/models``). Constructor: ``(name, *, models=[...],
  embedding_dim=8, api_key=None, responder=None)``; with ``api_key`` set, requests presenting
  another key get the vendor's 401 body.
* Every request is recorded as a :class:`RecordedRequest` (``method, path, headers`` (lower-case),
  ``query, route, json, form, files, body``) in ``provider.requests`` / ``server.requests``.
  ``route`` is one of ``chat, embeddings, stt, tts, models``; ``provider.requests_to(route)``.
* Replies are decided in order by: the script queue (``script(*replies, route=None)``; a ``str``
  is a text reply), the ``responder(req) -> Reply | str | None`` function, then defaults:
  chat echoes ``"<name> says: <last user text>"`` (after a tool result:
  ``"<name> says: tool result <content>"``); a user text like ``call get_weather {"city": "X"}``
  makes the fake call that tool (when offered) with those args; a request for structured output
  (OpenAI ``response_format`` json_object/json_schema, Gemini ``responseMimeType``
  application/json) gets JSON satisfying its schema (:func:`schema_instance`), with values taken
  from a JSON object in the user text when keys match; embeddings are deterministic unit
  vectors of ``embedding_dim``; TTS audio embeds the text (:func:`fake_audio`) and STT reads it
  back (:func:`transcript_of`), so TTS → STT round-trips the words.
* :class:`Reply` fields: ``text, tool_calls, chunks, vectors, audio, status, error, error_type,
  body, headers, delay, chunk_delay, cut_after, malformed, finish_reason, usage, hang_after,
  drip``;
  ``Reply.fail(status, message, headers=...)`` for errors.
* :class:`FakeServer` runs a provider (or any ASGI app) with uvicorn on ``127.0.0.1:<free port>``
  in a daemon thread: ``.url`` (no path), ``.port``, ``.requests``, ``.script()``, ``.clear()``,
  ``.stop()``; a context manager. In pytest, start one per module/session and call ``clear()``
  between tests.
"""

from magec.testing.fake_providers._core import (
    AUDIO_MARKER,
    FakeProvider,
    FakeServer,
    RecordedRequest,
    Reply,
    Responder,
    ToolCall,
    deterministic_vector,
    fake_audio,
    schema_instance,
    transcript_of,
)
from magec.testing.fake_providers.anthropic_wire import AnthropicFake
from magec.testing.fake_providers.gemini_wire import GeminiFake
from magec.testing.fake_providers.openai_wire import OpenAIFake

__all__ = [
    "AUDIO_MARKER",
    "AnthropicFake",
    "FakeProvider",
    "FakeServer",
    "GeminiFake",
    "OpenAIFake",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ToolCall",
    "deterministic_vector",
    "fake_audio",
    "schema_instance",
    "transcript_of",
]
