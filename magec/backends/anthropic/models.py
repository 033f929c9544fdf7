"""Anthropic ``GET /v1/models``."""

from __future__ import annotations

from magec.backends._errors import mapped
from magec.backends.anthropic.connection import AnthropicConnection, map_error
from magec.backends.base import ModelInfo


class AnthropicModels:
    def __init__(self, connection: AnthropicConnection) -> None:
        self.connection = connection

    async def list_models(self) -> list[ModelInfo]:
        with mapped(map_error, self.connection.label):
            page = await self.connection.client.models.list()
            return [ModelInfo(id=m.id, owned_by="anthropic") async for m in page]
