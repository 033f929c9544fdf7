"""Fallback chains: an ordered list of (backend, model) tried one after another (vendor-neutral).

Semantics (the same for every role: chat, embeddings, speech-to-text, text-to-speech; documented
in docs/resilience.md):

* **Which errors move to the next link** (:func:`moves_on`): everything that says *this backend*
  cannot answer now — connection errors, timeouts, 5xx, 429 (after the link's own retries), an open
  circuit breaker (refused at once, so a backend known to be down costs nothing), a malformed
  answer — and what says this backend is misconfigured for the call: auth (401/403) and an unknown
  model (404). A caller's error (400 bad request, content filtered, an invalid input) does not move
  on: another backend would refuse it too, and the user should see why.
* **Fail over at once.** A link with another link after it makes a single attempt (its backend's
  ``maxAttempts`` applies to the last link only): retrying a backend that just failed would only
  delay the answer, so a dead primary costs one connect deadline (nothing while its breaker is open).
* **Before the first byte only.** A link that already yielded output (a streamed chunk reached the
  client) is never replaced: its failure ends the turn with its own error, so nothing is shown
  twice. Non-streamed calls yield nothing until the answer is complete, so they always fall back.
* **Which one answered**: a response from a fallback carries ``custom_metadata["magec"]["fallback"]
  = {"index", "backend", "backendName", "model"}`` (``index`` 1 = first fallback); it reaches the
  run API's events (``customMetadata``) and the usage record (the fallback's backend and model).
* When every link fails, the last link's error is raised (its type and code are what the client
  sees); each failure that moved on is logged once at warning level.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from google.adk.models import BaseLlm, LlmCapabilities, LlmRequest, LlmResponse
from pydantic import PrivateAttr

from magec.backends import relay
from magec.backends.breaker import is_backend_fault
from magec.errors import BackendAuthError, BackendNotFoundError, BackendUnavailableError
from magec.redact import redact

log = logging.getLogger(__name__)

#: at most this many fallbacks per role (the API refuses more)
MAX_FALLBACKS = 5


def moves_on(exc: BaseException) -> bool:
    """True when a failure of one link should be answered by the next link (see the contract)."""
    if isinstance(exc, BackendUnavailableError | BackendAuthError | BackendNotFoundError):
        return True
    return is_backend_fault(exc)


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a chain: what to call and how to name it in events, usage and logs."""

    backend_id: str
    backend_name: str
    model: str

    def describe(self, index: int) -> dict[str, Any]:
        return {"index": index, "backend": self.backend_id, "backendName": self.backend_name, "model": self.model}


def answered_by(response: Any) -> dict[str, Any] | None:
    """The fallback that produced ``response`` (an ADK ``LlmResponse`` / ``Event``), or None for the primary."""
    meta = getattr(response, "custom_metadata", None) or {}
    info = meta.get("magec") if isinstance(meta, dict) else None
    return info.get("fallback") if isinstance(info, dict) else None


class FallbackLlm(BaseLlm):
    """A chat model that answers from the first link that can (see the module contract).

    ``links[0]`` is the primary; every link's model is already behind its backend's breaker.
    ``model``, ``capabilities`` and ``connection`` are the primary's."""

    _models: list[BaseLlm] = PrivateAttr()
    _links: list[Link] = PrivateAttr()
    _label: str = PrivateAttr()

    def __init__(self, models: list[BaseLlm], links: list[Link], label: str = "") -> None:
        assert models and len(models) == len(links)
        super().__init__(model=models[0].model)
        self._models = models
        self._links = links
        self._label = label

    @property
    def links(self) -> list[Link]:
        return list(self._links)

    @property
    def connection(self) -> Any:
        return getattr(self._models[0], "connection", None)

    @property
    def capabilities(self) -> LlmCapabilities:
        return self._models[0].capabilities

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        last = len(self._models) - 1
        for index, (model, link) in enumerate(zip(self._models, self._links, strict=True)):
            request = llm_request
            if index:
                # the request carries the primary's model name; each link asks for its own
                request = llm_request.model_copy(update={"model": link.model or model.model})
            produced = False
            sink = relay.current()
            relayed = sink.pushed if sink is not None else 0
            try:
                async for response in model.generate_content_async(request, stream=stream):
                    produced = True
                    if index:
                        meta = dict(response.custom_metadata or {})
                        meta["magec"] = {**(meta.get("magec") or {}), "fallback": link.describe(index)}
                        response.custom_metadata = meta
                    yield response
                return
            except Exception as exc:
                # text already relayed to the client counts as produced: no second answer after it
                produced = produced or (sink is not None and sink.pushed != relayed)
                if produced or index == last or not moves_on(exc):
                    raise
                nxt = self._links[index + 1]
                log.warning(
                    "%s: %s (%s) failed, answering from fallback %s (%s): %s",
                    self._label or "agent",
                    link.backend_name,
                    link.model or "default model",
                    nxt.backend_name,
                    nxt.model or "default model",
                    redact(str(exc))[:300],
                )
