"""What the local backend has installed: :class:`LocalModels` implements ``ModelListing``.

Lists, without loading anything: every chat GGUF found (bundled ``smollm2`` plus each ``*.gguf`` in the
backend's models directory, its URL), the embedding model, the Whisper model and the piper voice.
``owned_by`` says which role a model serves (``llm``, ``embeddings``, ``stt``, ``tts``), since one
local backend serves all four. A missing optional package just leaves its models out.
"""

from __future__ import annotations

from magec.backends.base import BackendSpec, ModelInfo
from magec.backends.local import _assets


def installed(spec: BackendSpec) -> list[ModelInfo]:
    """The installed local models, by role (synchronous; only looks at files)."""
    out = [ModelInfo(name, "llm") for name in _assets.installed_ggufs(spec.url)]
    if _assets.minilm_dir() is not None:
        out.append(ModelInfo(_assets.DEFAULT_EMBEDDINGS, "embeddings"))
    if _assets.whisper_dir() is not None:
        out.append(ModelInfo(_assets.DEFAULT_STT, "stt"))
    if _assets.joe_voice() is not None:
        out.append(ModelInfo(_assets.DEFAULT_VOICE, "tts"))
    return out


class LocalModels:
    """Model listing for a local backend."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec

    async def list_models(self) -> list[ModelInfo]:
        return installed(self.spec)
