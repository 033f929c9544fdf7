# Shared set-up for scripts/serve.sh and scripts/test.sh: a project venv with magec installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MAGEC_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip
fi
PIP="$VENV/bin/pip"
export PIP VENV ROOT

apt_install() {
  # apt_install <command-to-check> <debian-package>...: install Debian packages when missing.
  local check="$1"; shift
  if ! command -v "$check" >/dev/null 2>&1; then
    local SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
    echo "==> installing Debian packages: $*"
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  fi
}
