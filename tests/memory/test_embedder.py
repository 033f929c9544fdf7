"""``Embedder`` adapts a backend's embeddings role to one model and guards its dimension."""

from __future__ import annotations

import pytest

from magec.errors import MalformedResponseError
from magec.memory import Embedder


class Role:
    def __init__(self) -> None:
        self.dims = [3]

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        return [[float(len(t))] * self.dims[0] for t in texts]


async def test_embedder_key_dim_and_guard() -> None:
    role = Role()
    e = Embedder(role, "text-embedding-3-small", backend_id="openai-main")
    assert e.key == "openai-main/text-embedding-3-small" and e.model == "text-embedding-3-small"
    assert await e.embed([]) == [] and e.dim is None
    assert await e.embed(["ab"]) == [[2.0, 2.0, 2.0]] and e.dim == 3
    role.dims[0] = 4
    with pytest.raises(MalformedResponseError):
        await e.embed(["x"])
    assert Embedder(role, "m").key == "m"
