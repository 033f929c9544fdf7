"""The serving loop (magec/loop.py): uvloop by default, Python's own with MAGEC_EVENT_LOOP=asyncio;
long CPU work off the loop with prompt thread switching."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from magec.loop import SWITCH_INTERVAL, off_loop

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


async def test_off_loop_work_runs_in_a_thread_with_prompt_switching_and_restores_it() -> None:
    """While long CPU work runs off the loop the interpreter switches threads every 1 ms (the loop
    gets the GIL back promptly); before and after, CPython's interval stands."""
    before = sys.getswitchinterval()

    def work() -> tuple[str, float]:
        return threading.current_thread().name, sys.getswitchinterval()

    seen = await asyncio.gather(off_loop(work), off_loop(work))
    assert all(interval == SWITCH_INTERVAL and name != threading.current_thread().name for name, interval in seen)
    assert sys.getswitchinterval() == before
    with pytest.raises(ZeroDivisionError):
        await off_loop(lambda: 1 / 0)
    assert sys.getswitchinterval() == before
