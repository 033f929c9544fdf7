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
# Temporary files (each test's SQLite database and server data directory) in memory when there is
# a tmpfs with room: a test commits and fsyncs often, and on this machine's disk an fsync takes
# ~2.5 ms. pytest keeps only its last three runs' directories. MAGEC_TEST_TMPDIR picks another.
if [ -n "${MAGEC_TEST_TMPDIR:-}" ]; then
  export TMPDIR="$MAGEC_TEST_TMPDIR"
elif [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt 4194304 ]; then
  export TMPDIR=/dev/shm
fi
# Bytecode caches (__pycache__, ignored by git) even where the environment turns them off
# (PYTHONDONTWRITEBYTECODE=1): without them each pytest worker compiles and assertion-rewrites every
# test module again (17 s of CPU per worker to collect instead of 11 s here), and each of the
# suite's hundreds of `python -m magec` subprocesses compiles magec's source again.
unset PYTHONDONTWRITEBYTECODE
# Three workers on two cores: much of a test's time is a subprocess starting or a browser
# rendering, and a third worker fills those gaps (here, with the same tests: 19.4 min with two
# workers and 17.6 with three; 13.4 with three once servers started and stopped faster)
# Every test's time goes to test-artifacts/junit.xml: the longest files, summed from it, are the
# _SLOWEST_FIRST order in tests/conftest.py (they start first, so no worker idles at the end)
PYTEST=("$VENV/bin/pytest" -n "${MAGEC_TEST_WORKERS:-3}" --dist loadfile --no-loadscope-reorder -q --durations=25
        --junitxml=test-artifacts/junit.xml)
for arg in "$@"; do
  if [[ "$arg" == -m* ]]; then exec "${PYTEST[@]}" "$@"; fi  # the caller picks the tests
done
# The load tests (marker "alone": a thousand concurrent streams on one server) assert that nothing
# fails; they run after the rest, on their own, as a benchmark would: beside another worker's
# tests on a two-core machine they measured the machine, not magec.
set +e
"${PYTEST[@]}" -m "not alone" "$@"
first=$?
echo "==> pytest: the load tests, alone on the machine (-m alone)"
# what else the machine runs now (a process the suite left behind would share the CPU with them)
uptime
ps -eo pcpu,rss,etime,args --sort=-pcpu 2>/dev/null | head -6 | cut -c1-160
"$VENV/bin/pytest" -q --durations=5 --junitxml=test-artifacts/junit-alone.xml -m alone "$@"
second=$?
set -e
# 5: no test selected in that phase (a run narrowed to some files)
if [ "$first" -eq 5 ] && [ "$second" -eq 5 ]; then exit 5; fi
for status in "$first" "$second"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
done
exit 0
