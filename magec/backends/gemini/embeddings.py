"""Gemini embeddings: ``embed_content`` with a list (the SDK calls ``:batchEmbedContents``)."""

from __future__ import annotations

from typing import Any

from magec.backends._errors import mapped
from magec.backends.gemini.connection import GeminiConnection, map_error
from magec.errors import MalformedResponseError

BATCH = 100  # the API's per-request limit


class GeminiEmbeddings:
    def __init__(self, connection: GeminiConnection, batch_size: int = BATCH) -> None:
        self.connection = connection
        self.batch_size = batch_size

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        label = self.connection.label
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch: Any = texts[start : start + self.batch_size]
            with mapped(map_error, label):
                resp = await self.connection.client.aio.models.embed_content(model=model, contents=batch)
            vectors = [list(e.values or []) for e in resp.embeddings or []]
            if len(vectors) != len(batch) or any(not v for v in vectors):
                raise MalformedResponseError(
                    f"{label}: asked for {len(batch)} embeddings, got {len(vectors)}", backend=label
                )
            out.extend(vectors)
        return out
