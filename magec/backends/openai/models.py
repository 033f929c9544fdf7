"""OpenAI ``GET /models``.

A 404 on a URL whose path lacks ``/v1`` (Ollama's native ``…:11434/api``, a proxy prefix) names
the URL that would answer (:func:`magec.backends.urls.openai_v1_hint`) in the error itself, so
every place that lists models says it: Test connection, the agent dialog's model suggestions
(``GET /backends/{id}/models``) and the backend's live health.
"""

from __future__ import annotations

from magec.backends._errors import mapped
from magec.backends.base import ModelInfo
from magec.backends.openai.connection import OpenAIConnection, map_error
from magec.backends.urls import openai_v1_hint
from magec.errors import BackendNotFoundError


class OpenAIModels:
    def __init__(self, connection: OpenAIConnection) -> None:
        self.connection = connection

    async def list_models(self) -> list[ModelInfo]:
        try:
            with mapped(map_error, self.connection.label):
                page = await self.connection.client.models.list()
                return [ModelInfo(id=m.id, owned_by=getattr(m, "owned_by", None)) async for m in page]
        except BackendNotFoundError as e:
            meant = openai_v1_hint(self.connection.spec.url)
            if meant is None:
                raise
            raise BackendNotFoundError(f"{e.message} — did you mean {meant}?", status=e.status,
                                       backend=e.backend) from e
