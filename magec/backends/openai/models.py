"""OpenAI ``GET /models``."""

from __future__ import annotations

from magec.backends._errors import mapped
from magec.backends.base import ModelInfo
from magec.backends.openai.connection import OpenAIConnection, map_error


class OpenAIModels:
    def __init__(self, connection: OpenAIConnection) -> None:
        self.connection = connection

    async def list_models(self) -> list[ModelInfo]:
        with mapped(map_error, self.connection.label):
            page = await self.connection.client.models.list()
            return [ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None)) async for m in page]
