"""Deterministic embedding doubles for tests and benches (shipped with the code, like backends/fake).

``KeywordEmbedder(dim, key)`` maps known topic words onto axes (drinks, pets, cities, music, work
modulo ``dim``), so similarity is predictable: "coffee" is close to "tea", far from "dog".
``RandomEmbedder(dim)`` gives stable pseudo-random unit vectors per text (benchmarks).
Both count calls; ``fail`` makes the next calls raise a ``BackendConnectionError``.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from magec.errors import BackendConnectionError

TOPICS = {
    "coffee": 0, "tea": 0, "espresso": 0, "drink": 0, "drinks": 0,
    "dog": 1, "cat": 1, "pet": 1, "pets": 1, "puppy": 1,
    "madrid": 2, "paris": 2, "city": 2, "lives": 2, "live": 2,
    "guitar": 3, "piano": 3, "music": 3, "plays": 3,
    "work": 4, "job": 4, "engineer": 4, "office": 4,
}  # fmt: skip


class KeywordEmbedder:
    def __init__(self, dim: int = 5, key: str = "fake/keywords", fail: bool = False) -> None:
        self.dim = dim
        self._key = key
        self.fail = fail
        self.calls = 0
        self.texts = 0

    @property
    def key(self) -> str:
        return self._key

    @property
    def model(self) -> str:
        return self._key.split("/", 1)[-1]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.fail:
            raise BackendConnectionError("fake embeddings are down", backend="fake")
        self.texts += len(texts)
        out = []
        for text in texts:
            v = [0.01] * self.dim
            for word in re.findall(r"\w+", text.lower()):
                if word in TOPICS:
                    v[TOPICS[word] % self.dim] += 1.0
            out.append(v)
        return out


class RandomEmbedder(KeywordEmbedder):
    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out.append((v / np.linalg.norm(v)).tolist())
        return out
