"""Gemini ``GET /v1beta/models`` (ids without the ``models/`` prefix)."""

from __future__ import annotations

from magec.backends._errors import mapped
from magec.backends.base import ModelInfo
from magec.backends.gemini.connection import GeminiConnection, map_error


class GeminiModels:
    def __init__(self, connection: GeminiConnection) -> None:
        self.connection = connection

    async def list_models(self) -> list[ModelInfo]:
        with mapped(map_error, self.connection.label):
            pager = await self.connection.client.aio.models.list()
            names = [m.name or "" async for m in pager]
        return [ModelInfo(id=n.removeprefix("models/"), owned_by="google") for n in names if n]
