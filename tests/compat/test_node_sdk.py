"""The openai Node SDK's ``runTools()`` loop against ``magec serve`` (tests/compat/node).

The package is pinned in ``tests/compat/node/package-lock.json``; ``scripts/test.sh`` runs
``npm ci`` there. Without ``node_modules`` (no npm step run) the test is skipped, saying why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import Magec

NODE_DIR = Path(__file__).parent / "node"


def run_tools(m: Magec, model: str, prompt: str) -> dict[str, object]:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("node or tests/compat/node/node_modules missing: run `npm ci` in tests/compat/node")
    out = subprocess.run(["node", str(NODE_DIR / "run_tools.mjs"), m.v1, model, prompt], capture_output=True,
                         text=True, timeout=120, cwd=NODE_DIR)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_run_tools(magec: Magec) -> None:
    got = run_tools(magec, "Helper", 'call get_weather {"city": "Madrid"}')
    assert got == {"content": "compat says: tool result sunny in Madrid", "calls": ["Madrid"]}


def test_error(magec: Magec) -> None:
    got = run_tools(magec, "Nope", "hi")
    assert got["calls"] == [] and got["error"] == {
        "status": 404, "code": "model_not_found",
        "message": "404 The model 'Nope' does not exist or you do not have access to it."}
