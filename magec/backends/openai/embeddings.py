"""OpenAI ``/embeddings``: texts batched (``BATCH`` per call), vectors returned in input order."""

from __future__ import annotations

from magec.backends._errors import mapped
from magec.backends.openai.connection import OpenAIConnection, map_error
from magec.errors import MalformedResponseError

BATCH = 128


class OpenAIEmbeddings:
    def __init__(self, connection: OpenAIConnection, batch_size: int = BATCH) -> None:
        self.connection = connection
        self.batch_size = batch_size

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        out: list[list[float]] = []
        label = self.connection.label
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            with mapped(map_error, label):
                resp = await self.connection.client.embeddings.create(
                    model=model, input=batch, encoding_format="float"
                )
            data = sorted(resp.data, key=lambda d: d.index)
            if len(data) != len(batch) or any(not isinstance(d.embedding, list) for d in data):
                raise MalformedResponseError(
                    f"{label}: asked for {len(batch)} embeddings, got {len(data)}", backend=label
                )
            out.extend([float(x) for x in d.embedding] for d in data)
        return out
