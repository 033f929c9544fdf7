"""Test a backend connection ("test connection" in the admin UI, ``magec backends test``).

``await test_backend(spec)`` lists models (cheap). ``full=True`` also runs, for each model given:
a 1-token chat (``model``), a one-tool round trip non-streamed and streamed (``model``), one
embedding (``embedding_model``, records the dimension), TTS of one word (``tts_model``) and STT of
that audio (``stt_model``; a short silent WAV when TTS was not probed). A model left empty or
``"auto"`` in a full probe is picked from the *listed* models (:func:`pick_models`: never a name
the provider did not list; none fitting = that role is not tested).

The report says only what was measured: a role not attempted has ``ok: null`` and
``tested: false`` with the reason (``"not tested: …"``), whatever the type declares; ``measured``
lists the roles that worked. ``ok`` is true when the model listing and every attempted *required*
role succeeded: tool calling is optional (``optional: true``), so its failure is a ``warnings``
entry, not a failed connection.

Every step is bounded by ``timeout`` (default ``min(spec.timeout, 30)``): the connection is built
with that timeout and each step is also wrapped in ``asyncio.wait_for``, so a dead or black-holed
URL fails in time instead of hanging. Errors are reported, never raised; texts are redacted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from google.adk.models import LlmRequest
from google.genai import types

from magec.backends import registry
from magec.backends._wav import pcm_to_wav
from magec.backends.base import BackendSpec, BackendType, Capabilities
from magec.errors import MagecError, UnsupportedRoleError
from magec.redact import redact

PROBE_TOOL = "magec_probe_echo"
PROBE_ROLES = ("models", "llm", "tools", "embeddings", "tts", "stt")


#: roles whose failure is a warning, not a failed connection
OPTIONAL_ROLES = ("tools",)
NOT_TESTED = "not tested"

# What a listed model id says about its role (for "auto"): anything else is a chat model.
_ROLE_PATTERNS = {
    "embeddings": re.compile(r"embed", re.I),
    "tts": re.compile(r"(^|[-_/.])tts([-_/.]|$)|text-to-speech|speech-\d", re.I),
    "stt": re.compile(r"whisper|(^|[-_/.])stt([-_/.]|$)|transcri", re.I),
}
_NOT_CHAT = re.compile(r"embed|(^|[-_/.])(tts|stt)([-_/.]|$)|whisper|transcri|speech|moderation|dall-e|image|rerank", re.I)


def pick_models(listed: list[str]) -> dict[str, str]:
    """The model each role would use in a full probe with ``"auto"``: the first *listed* id that
    fits the role (``""`` when none does; the role is then not tested)."""
    chat = next((m for m in listed if not _NOT_CHAT.search(m)), "")
    out = {"llm": chat}
    for role, pattern in _ROLE_PATTERNS.items():
        out[role] = next((m for m in listed if pattern.search(m)), "")
    return out


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass
class RoleResult:
    ok: bool | None = None
    latency_ms: float | None = None
    detail: str = NOT_TESTED
    #: the model the role was tested with (None when not tested or not model-specific)
    model: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "latencyMs": self.latency_ms, "detail": self.detail,
                "tested": self.ok is not None, "model": self.model}


@dataclass
class ProbeReport:
    """Outcome of :func:`test_backend`. ``ok`` is true when every attempted role succeeded."""

    ok: bool = False
    roles: dict[str, RoleResult] = field(default_factory=lambda: {r: RoleResult() for r in PROBE_ROLES})
    capabilities: Capabilities = field(default_factory=Capabilities)
    models: list[str] = field(default_factory=list)
    error: str | None = None
    #: optional checks that failed (tool calling) while the connection works
    warnings: list[str] = field(default_factory=list)
    #: the roles the type declares (what it *may* serve; not a measurement)
    type_roles: list[str] = field(default_factory=list)
    full: bool = False

    @property
    def measured(self) -> list[str]:
        """Serving roles (llm, embeddings, tts, stt) that were tested and worked."""
        return [r for r in ("llm", "embeddings", "tts", "stt") if self.roles[r].ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "roles": {
                name: {**result.to_json(), **({"optional": True} if name in OPTIONAL_ROLES else {})}
                for name, result in self.roles.items()
            },
            "measured": self.measured,
            "failed": [name for name, r in self.roles.items() if r.ok is False],
            "warnings": list(self.warnings),
            "capabilities": self.capabilities.to_json(),
            "typeRoles": list(self.type_roles),
            "models": list(self.models),
            "error": self.error,
            "full": self.full,
        }


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, MagecError):
        return redact(str(exc))
    return redact(f"{type(exc).__name__}: {exc}")


async def _close(obj: Any) -> None:
    conn = getattr(obj, "connection", None)
    closer = getattr(conn, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


class _Prober:
    def __init__(self, bt: BackendType, spec: BackendSpec, timeout: float, report: ProbeReport) -> None:
        self.bt, self.spec, self.timeout, self.report = bt, spec, timeout, report

    async def step(self, role: str, fn: Callable[[], Awaitable[str]]) -> bool:
        result = self.report.roles[role]
        start = time.perf_counter()
        try:
            # in this task (not wait_for's own): a probe cancelled before it started leaves no
            # never-awaited coroutine behind
            async with asyncio.timeout(self.timeout + 1):
                result.detail = await fn()
            result.ok = True
        except UnsupportedRoleError as e:
            result.ok, result.detail = None, _describe(e)
        except Exception as e:  # noqa: BLE001 - the report carries every failure
            result.ok, result.detail = False, _describe(e)
            if role in OPTIONAL_ROLES:
                self.report.warnings.append(f"{role}: {result.detail}")
            else:
                self.report.error = self.report.error or f"{role}: {result.detail}"
        result.latency_ms = round((time.perf_counter() - start) * 1000, 1)
        return bool(result.ok)

    async def models(self) -> str:
        listing = self.bt.models(self.spec)
        try:
            found = await listing.list_models()
        finally:
            await _close(listing)
        self.report.models = [m.id for m in found]
        return _plural(len(found), "model") + " listed"

    async def llm(self, model: str) -> str:
        chat = self.bt.chat(self.spec, model)
        request = LlmRequest(
            model=model,
            contents=[
                types.Content(role="user", parts=[types.Part.from_text(text="Reply with one word: pong")])
            ],
            config=types.GenerateContentConfig(max_output_tokens=1),
        )
        try:
            final = [r async for r in chat.generate_content_async(request, stream=False)][-1]
        finally:
            await _close(chat)
        text = "".join(p.text or "" for p in (final.content.parts if final.content else []) or [])
        return f"replied {text[:40]!r}"

    async def tools(self, model: str, stream: bool) -> str:
        chat = self.bt.chat(self.spec, model)
        decl = types.FunctionDeclaration(
            name=PROBE_TOOL,
            description="Echo a text back. Used to test tool calling.",
            parameters_json_schema={
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
        )
        tools: list[Any] = [types.Tool(function_declarations=[decl])]
        ask = types.Content(
            role="user",
            parts=[
                types.Part.from_text(
                    text=f'Call the tool {PROBE_TOOL} with {{"text": "ping"}}. Do not answer in text.'
                )
            ],
        )
        forced = types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        )
        try:
            first = LlmRequest(
                model=model,
                contents=[ask],
                config=types.GenerateContentConfig(tools=tools, tool_config=forced),
            )
            final = [r async for r in chat.generate_content_async(first, stream=stream)][-1]
            calls = [
                p.function_call
                for p in (final.content.parts if final.content else []) or []
                if p.function_call
            ]
            if not calls or calls[0].name != PROBE_TOOL:
                raise MagecError(f"the model did not call {PROBE_TOOL}")
            call = calls[0]
            answer = types.Part(
                function_response=types.FunctionResponse(
                    id=call.id, name=call.name, response={"result": "pong"}
                )
            )
            second = LlmRequest(
                model=model,
                contents=[
                    ask,
                    types.Content(role="model", parts=[types.Part(function_call=call)]),
                    types.Content(role="user", parts=[answer]),
                ],
                config=types.GenerateContentConfig(tools=tools),
            )
            [r async for r in chat.generate_content_async(second, stream=stream)]
        finally:
            await _close(chat)
        return "tool round trip ok"

    async def tools_both(self, model: str) -> str:
        caps = self.report.capabilities
        await self.tools(model, stream=False)
        caps.tools = True
        try:
            await asyncio.wait_for(self.tools(model, stream=True), timeout=self.timeout + 1)
        except Exception as e:  # noqa: BLE001 - streamed tool calls are a capability, not a failure
            caps.streaming_tools = False
            return f"tool round trip ok; streamed tool calls failed: {_describe(e)}"
        caps.streaming_tools = True
        return "tool round trip ok (plain and streamed)"

    async def embeddings(self, model: str) -> str:
        emb = self.bt.embeddings(self.spec)
        try:
            vectors = await emb.embed(["magec probe"], model)
        finally:
            await _close(emb)
        self.report.capabilities.embedding_dimension = len(vectors[0])
        return f"dimension {len(vectors[0])}"

    async def tts(self, model: str, voice: str, sink: list[tuple[bytes, str]]) -> str:
        tts = self.bt.tts(self.spec)
        try:
            result = await tts.synthesize("hello", model, voice)
            audio = b"".join([chunk async for chunk in result.chunks])
        finally:
            await _close(tts)
        sink.append((audio, result.content_type))
        return f"{len(audio)} bytes of {result.content_type}"

    async def stt(self, model: str, audio: bytes, mime: str) -> str:
        stt = self.bt.stt(self.spec)
        try:
            text = await stt.transcribe(audio, mime, model)
        finally:
            await _close(stt)
        return f"heard {text[:60]!r}"


async def test_backend(
    spec: BackendSpec,
    *,
    full: bool = False,
    model: str | None = None,
    embedding_model: str | None = None,
    tts_model: str | None = None,
    tts_voice: str | None = None,
    stt_model: str | None = None,
    timeout: float | None = None,
) -> ProbeReport:
    """Probe ``spec`` and return a :class:`ProbeReport` (never raises for provider failures)."""
    report = ProbeReport()
    try:
        bt = registry.get(spec.type)
    except MagecError as e:
        report.error = _describe(e)
        return report
    limit = timeout if timeout is not None else min(spec.timeout, 30.0)
    # one attempt per step: a test shows the provider as it is, and answers within its limit
    spec = dataclasses.replace(spec, timeout=limit, total_timeout=limit, max_attempts=1)
    declared = bt.declared
    report.capabilities = dataclasses.replace(
        declared, roles=list(declared.roles), voices=list(declared.voices)
    )
    p = _Prober(bt, spec, limit, report)
    skipped = f"{NOT_TESTED}: not supported by type {bt.name}"
    report.full = full
    report.type_roles = list(declared.roles)
    if not full:
        for role in ("llm", "tools", "embeddings", "tts", "stt"):
            report.roles[role].detail = f"{NOT_TESTED} (quick test: model list only)"

    listed = await p.step("models", p.models)
    report.capabilities.models = list(report.models)
    if full:
        auto = pick_models(report.models)
        requires_model = registry.defaults(spec.type).requires_model

        def choose(role: str, given: str | None) -> str | None:
            """The model to test ``role`` with; None (with the reason set) when there is none."""
            if given and given != "auto":
                return given
            if auto.get(role):
                return auto[role]
            if role == "llm" and not requires_model:
                return ""  # the type has a built-in default chat model
            why = "no model listed for it" if listed else "the model list failed"
            report.roles[role].detail = f"{NOT_TESTED}: {why}; enter a model to test it"
            return None

        chat_model = choose("llm", model) if "llm" in declared.roles else None
        if "llm" not in declared.roles:
            report.roles["llm"].detail = report.roles["tools"].detail = skipped
        elif chat_model is not None:
            report.roles["llm"].model = report.roles["tools"].model = chat_model or None
            if await p.step("llm", lambda: p.llm(chat_model)):
                await p.step("tools", lambda: p.tools_both(chat_model))
            else:
                report.roles["tools"].detail = f"{NOT_TESTED}: chat failed"
        else:
            report.roles["tools"].detail = f"{NOT_TESTED}: no chat model"
        emb = choose("embeddings", embedding_model) if "embeddings" in declared.roles else None
        if "embeddings" not in declared.roles:
            report.roles["embeddings"].detail = skipped
        elif emb is not None:
            report.roles["embeddings"].model = emb
            await p.step("embeddings", lambda: p.embeddings(emb))
        audio: list[tuple[bytes, str]] = []
        tts = choose("tts", tts_model) if "tts" in declared.roles else None
        if "tts" not in declared.roles:
            report.roles["tts"].detail = skipped
        elif tts is not None:
            voice = tts_voice or (declared.voices[0] if declared.voices else "alloy")
            report.roles["tts"].model = tts
            await p.step("tts", lambda: p.tts(tts, voice, audio))
        stt = choose("stt", stt_model) if "stt" in declared.roles else None
        if "stt" not in declared.roles:
            report.roles["stt"].detail = skipped
        elif stt is not None:
            sample, mime = audio[0] if audio else (pcm_to_wav(b"\0\0" * 8000, rate=16000), "audio/wav")
            report.roles["stt"].model = stt
            await p.step("stt", lambda: p.stt(stt, sample, mime))

    required = [r for name, r in report.roles.items() if r.ok is not None and name not in OPTIONAL_ROLES]
    report.ok = bool(required) and all(r.ok for r in required)
    # Refine declared capabilities: a role that was tested and failed is not offered.
    failed = {name for name, r in report.roles.items() if r.ok is False}
    report.capabilities.roles = [r for r in declared.roles if r not in failed]
    if report.roles["tools"].ok is False:
        report.capabilities.tools = report.capabilities.streaming_tools = False
    return report


test_backend.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name
