"""A torch-free BERT sentence encoder (all-MiniLM-L6-v2 and its kin) in numpy.

:class:`SentenceEncoder` loads a sentence-transformers model directory (``config.json``,
``model.safetensors``, ``tokenizer.json``, optional ``sentence_bert_config.json``) and reproduces
``SentenceTransformer.encode(normalize_embeddings=True)`` for a BERT encoder with mean pooling and
L2 normalisation: float32 vectors of ``hidden_size`` dims (384 for MiniLM-L6), unit length.

GELU uses erf through the Abramowitz–Stegun 7.1.26 approximation (|error| < 1.5e-7), vectorised,
instead of Python's ``math.erf`` per element; the output matches sentence-transformers to ~1e-6.
Instances are read-only after construction; the caller serialises calls (see ``_workers``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


def _erf(x: F32) -> F32:
    # Abramowitz & Stegun 7.1.26
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (s * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: F32) -> F32:
    return (0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: F32, w: F32, b: F32, eps: float) -> F32:
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return ((x - m) / np.sqrt(v + eps) * w + b).astype(np.float32)


class SentenceEncoder:
    """Mean-pooled, L2-normalised BERT sentence embeddings from a model directory."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.model_dir = model_dir
        cfg: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
        weights = load_file(str(model_dir / "model.safetensors"))
        prefix = "" if "embeddings.word_embeddings.weight" in weights else "bert."
        self._w: dict[str, F32] = {
            k[len(prefix) :]: v.astype(np.float32) for k, v in weights.items() if k.startswith(prefix)
        }
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.dimension = int(cfg["hidden_size"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        max_len = int(cfg.get("max_position_embeddings", 512))
        st_cfg = model_dir / "sentence_bert_config.json"
        if st_cfg.exists():
            max_len = min(max_len, int(json.loads(st_cfg.read_text()).get("max_seq_length", max_len)))
        self.max_seq_length = max_len
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.enable_truncation(max_len)
        self._tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def _lin(self, x: F32, name: str) -> F32:
        return x @ self._w[name + ".weight"].T + self._w[name + ".bias"]

    def _ln(self, x: F32, name: str) -> F32:
        return _layer_norm(x, self._w[name + ".weight"], self._w[name + ".bias"], self.eps)

    def _forward(self, texts: Sequence[str]) -> F32:
        enc = self._tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
        b, t = ids.shape
        w = self._w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(t)][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._ln(x, "embeddings.LayerNorm")
        h, dh = self.heads, self.dimension // self.heads
        bias = ((1.0 - mask)[:, None, None, :] * np.float32(-1e9)).astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(dh))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                self._lin(x, p + f"attention.self.{n}").reshape(b, t, h, dh).transpose(0, 2, 1, 3)
                for n in ("query", "key", "value")
            )
            a = q @ k.transpose(0, 1, 3, 2) * scale + bias
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(0, 2, 1, 3).reshape(b, t, h * dh)
            x = self._ln(x + self._lin(c, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            ff = _gelu(self._lin(x, p + "intermediate.dense"))
            x = self._ln(x + self._lin(ff, p + "output.dense"), p + "output.LayerNorm")
        emb = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norm = np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return (emb / norm).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> F32:
        """Embed ``texts`` → array (len(texts), dimension). Batches by length to limit padding."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward([texts[i] for i in idx])
        return out
