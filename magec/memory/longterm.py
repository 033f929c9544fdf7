"""Long-term memory: the ``LongTermStore`` protocol, ``MemoryEntry``, and search helpers.

Memories are scoped per (app, user): app = the agent id, user = the ADK user id. Nothing crosses
a scope: another agent or another user never sees an entry.

``search`` order (Magec's, made model-safe):

1. **vector** — the query is embedded once per embedding model present in the scope (with the
   current embedder, or ``resolve_embedder(key)`` for rows of an older model) and compared only with
   rows of that model and dimension;
2. rows no embedder can reach (not embedded yet, or their model is gone) are searched by **full
   text** and fused with the vector hits (reciprocal rank), so a re-embed in progress never hides
   memories;
3. nothing found → full text over the whole scope; still nothing → the **most recent** entries.

Each entry in a result carries ``match`` (``vector`` | ``text`` | ``recent``) and ``score``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: The text of health / ConfigError when ``CREATE EXTENSION vector`` fails.
PGVECTOR_MISSING = "pgvector extension is not available in this PostgreSQL"


@dataclass
class MemoryEntry:
    id: str
    app_name: str
    user_id: str
    content: str
    category: str | None = None
    author: str = "agent"
    created_at: float = 0.0
    updated_at: float = 0.0
    embedding_model: str | None = None
    dim: int | None = None
    score: float | None = None
    match: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The text embedded and shown to the model: ``[category] content`` as in Magec."""
        return entry_text(self.content, self.category)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "appName": self.app_name,
            "userId": self.user_id,
            "content": self.content,
            "category": self.category,
            "author": self.author,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "embeddingModel": self.embedding_model,
            "dim": self.dim,
            "score": self.score,
            "match": self.match,
        }


@dataclass(frozen=True)
class Owners:
    """Whose memories the Admin UI browses. A client's users are stored as ``<client id>:<user id>``
    owners, which nobody types: ``client`` alone is every user of that client, ``user`` alone that
    user id in open mode or under any client, both the one owner."""

    client: str | None = None
    user: str | None = None

    def conditions(self, column: Any) -> list[Any]:
        """These owners as conditions on a SQLAlchemy owner column."""
        if self.client and self.user:
            return [column == f"{self.client}:{self.user}"]
        if self.client:
            return [column.startswith(f"{self.client}:", autoescape=True)]
        if self.user:
            return [(column == self.user) | column.endswith(f":{self.user}", autoescape=True)]
        return []


@runtime_checkable
class LongTermStore(Protocol):
    """Per (app, user) memories. Ids are strings. Unknown ids raise ``magec.errors.NotFoundError``."""

    async def start(self) -> None:
        """Create what the store needs (tables, extension); raise ``ConfigError`` if it cannot work."""
        ...

    async def close(self) -> None: ...

    async def save(self, app: str, user: str, content: str, category: str | None = None) -> MemoryEntry: ...

    async def update(self, id: str, content: str, *, app: str | None = None, user: str | None = None) -> MemoryEntry:
        """Replace the content (re-embedded); ``app``/``user`` restrict it to that scope."""
        ...

    async def delete(self, id: str, *, app: str | None = None, user: str | None = None) -> None: ...

    async def get(self, id: str) -> MemoryEntry: ...

    async def search(self, app: str, user: str, query: str, limit: int = 10) -> list[MemoryEntry]: ...

    async def list(
        self,
        app: str | None = None,
        user: str | Owners | None = None,
        limit: int = 50,
        offset: int = 0,
        query: str | None = None,
    ) -> list[MemoryEntry]:
        """Newest first, for the admin UI; ``query`` filters by substring, ``user`` is one owner or
        :class:`Owners`."""
        ...

    async def count(self, app: str | None = None, user: str | Owners | None = None, query: str | None = None) -> int: ...

    async def count_client(self, client: str) -> int:
        """Memories of every user of one client (the owner keys' client part, ``client`` column)."""
        ...

    async def health(self) -> tuple[bool, str]: ...


def entry_text(content: str, category: str | None) -> str:
    return f"[{category}] {content}" if category else content


_STOP = frozenset(
    "the and for are but not you your with this that from have has had was were what when where which "
    "who whom why how all any can will about into over than then them they their there these those "
    "does did doing its it's our ours out off just very also some such only own same too more most "
    "de la el en los las del que por con una un para es al lo como".split()
)


def query_terms(query: str, max_terms: int = 8) -> list[str]:
    """Lower-case search words (≥ 3 chars, no stop words), unique, in order; at most ``max_terms``.

    Linear in the query and done at the ``max_terms``-th word: the query is the model's (a client
    steers it), and looking each word up in every word kept so far held the event loop for seconds
    on a few hundred KB of distinct words."""
    seen: dict[str, None] = {}
    for match in re.finditer(r"\w+", query.lower()):
        word = match.group()
        if len(word) >= 3 and word not in _STOP and word not in seen:
            seen[word] = None
            if len(seen) == max_terms:
                break
    return list(seen)


def fuse(ranked: Sequence[Sequence[str]], limit: int, k: int = 60) -> list[str]:
    """Reciprocal-rank fusion of several ranked id lists."""
    scores: dict[str, float] = {}
    for ids in ranked:
        for rank, id_ in enumerate(ids):
            scores[id_] = scores.get(id_, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])[:limit]
