"""The serving loop (magec/loop.py): uvloop by default, Python's own with MAGEC_EVENT_LOOP=asyncio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _loop_module(env: dict[str, str]) -> str:
    code = (
        "import asyncio\n"
        "from magec import loop\n"
        "async def which():\n"
        "    return type(asyncio.get_running_loop()).__module__\n"
        "print(loop.loop_name(), loop.run(which()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize(("wanted", "expected"), [("", "uvloop uvloop"), ("auto", "uvloop uvloop"),
                                                  ("asyncio", "asyncio asyncio.unix_events")])
def test_the_serving_loop_is_the_one_asked_for(wanted: str, expected: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "MAGEC_EVENT_LOOP": wanted}
    assert _loop_module(env) == expected
