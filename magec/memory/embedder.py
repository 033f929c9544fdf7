"""``Embedder``: one embedding model of one backend, as the long-term stores use it.

The stores record ``embedder.key`` (``"<backend_id>/<model>"``) and the vector dimension on every
row, and only ever compare a query vector with rows of the same key and dimension. A store that
finds rows of another key asks ``resolve_embedder(key)`` for that model's embedder (the runtime
splits the key on the first ``/`` into backend id and model name).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from magec.backends import Policy, resilient_call
from magec.backends.base import Embeddings
from magec.errors import MalformedResponseError
from magec.redact import redact

log = logging.getLogger(__name__)


@runtime_checkable
class EmbedderLike(Protocol):
    """What the stores need: a stable model ``key`` and ``embed``."""

    @property
    def key(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


#: Finds the embedder of a model key stored on old rows; ``None`` when it is no longer available.
ResolveEmbedder = Callable[[str], "EmbedderLike | None"]


def model_key(backend_id: str, model: str) -> str:
    return f"{backend_id}/{model}" if backend_id else model


class Embedder:
    """Adapts a backend's :class:`~magec.backends.base.Embeddings` role to one model.

    ``dim`` is learned from the first answer; later answers of another size raise
    :class:`~magec.errors.MalformedResponseError` (the provider changed the model behind the name).
    """

    def __init__(self, embeddings: Embeddings, model: str, backend_id: str = "", policy: Policy | None = None) -> None:
        self.embeddings = embeddings
        self._model = model
        self.backend_id = backend_id
        self.dim: int | None = None
        #: the backend's deadlines and retries (None: one plain call, e.g. test doubles)
        self.policy = policy

    @property
    def model(self) -> str:
        return self._model

    @property
    def key(self) -> str:
        return model_key(self.backend_id, self._model)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self.policy is not None:
            vectors = await resilient_call(self.policy, lambda: self.embeddings.embed(texts, self._model))
        else:
            vectors = await self.embeddings.embed(texts, self._model)
        if len(vectors) != len(texts):
            raise MalformedResponseError(
                f"embedding model {self.key!r} returned {len(vectors)} vectors for {len(texts)} texts",
                backend=self.backend_id or None,
            )
        for v in vectors:
            if self.dim is None:
                self.dim = len(v)
            elif len(v) != self.dim:
                raise MalformedResponseError(
                    f"embedding model {self.key!r} returned dimension {len(v)}, expected {self.dim}",
                    backend=self.backend_id or None,
                )
        return vectors

    def __repr__(self) -> str:
        return f"Embedder({self.key!r}, dim={self.dim})"


class FallbackEmbedder:
    """The primary :class:`Embedder` plus fallbacks (:mod:`magec.backends.fallback` semantics).

    ``key``, ``model`` and :meth:`embed` are the primary's alone: a query vector must come from the
    model that made the rows it is compared with. :meth:`embed_keyed` (used to store new memories)
    answers from the first link that can and names its key, so a memory written while the primary
    is down is stored under the fallback's key (searchable with that model; the re-embed job moves
    it to the primary's model later) instead of being stored without a vector.
    """

    def __init__(self, links: list[Embedder]) -> None:
        assert links
        self.links = links
        self.primary = links[0]

    @property
    def key(self) -> str:
        return self.primary.key

    @property
    def model(self) -> str:
        return self.primary.model

    @property
    def dim(self) -> int | None:
        return self.primary.dim

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self.primary.embed(texts)

    async def embed_keyed(self, texts: list[str]) -> tuple[list[list[float]], str]:
        from magec.backends.fallback import moves_on

        for index, link in enumerate(self.links):
            try:
                return await link.embed(texts), link.key
            except Exception as exc:
                if index == len(self.links) - 1 or not moves_on(exc):
                    raise
                log.warning("embedding with %s failed, using fallback %s: %s",
                            link.key, self.links[index + 1].key, redact(str(exc))[:300])
        raise AssertionError("unreachable: the chain has at least one link")

    def __repr__(self) -> str:
        return f"FallbackEmbedder({[link.key for link in self.links]!r})"
