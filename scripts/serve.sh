#!/usr/bin/env bash
# Install magec into .venv and start it on the embedded default (SQLite under ./data).
# Extra arguments go to `magec serve` (e.g. --config config.yaml, --demo).
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
echo "==> installing magec into $VENV (pip, quiet: a minute or two the first time, seconds after)"
"$PIP" install -q -e .
if [ "${MAGEC_LOCAL:-0}" = "1" ] && [ -x scripts/install-local-models.sh ]; then
  scripts/install-local-models.sh
fi
exec "$VENV/bin/magec" serve "$@"
