#!/usr/bin/env bash
# Install everything the test suite needs (Python packages, Debian redis-server / espeak-ng /
# chromium, the offline models) and run ruff, mypy and pytest. Extra arguments go to pytest.
source "$(dirname "$0")/_env.sh"
cd "$ROOT"
apt_install redis-server redis-server
apt_install espeak-ng espeak-ng
apt_install chromium chromium
echo "==> installing magec with test dependencies"
"$PIP" install -q -e '.[test]'
if command -v npm >/dev/null; then
  echo "==> npm ci (tests/compat/node: the openai Node SDK of the compatibility suite)"
  (cd tests/compat/node && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -x scripts/install-local-models.sh ]; then
  scripts/install-local-models.sh
fi
echo "==> ruff"
"$VENV/bin/ruff" check magec tests bench
echo "==> mypy"
"$VENV/bin/mypy" magec
echo "==> pytest"
mkdir -p test-artifacts
exec "$VENV/bin/pytest" -n "${MAGEC_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder -q --durations=25 "$@"
