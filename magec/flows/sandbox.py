"""Code nodes: Starlark scripts run in sandboxed worker processes with time, memory and output limits.

Contract of :func:`run_script`:

* The script sees ``input`` (the node input) and ``state`` (flow state, internal keys hidden) as
  plain JSON values and must assign ``output``; the result is ``output`` as JSON values.
* **Where**: a small pool of worker processes (:mod:`magec.flows._starlark_worker`, at most
  :data:`WORKERS`, started on first use and kept). Each worker lowers its own limits before it
  imports Starlark: address space :data:`MEMORY_BYTES`, file size 0, no child processes; it runs
  with an empty environment in ``/``. A script that exhausts memory aborts its worker, never the
  server (starlark-rust aborts the process on a failed allocation, so in-process evaluation could
  not offer this).
* **No filesystem, no network, no imports**: Starlark has no I/O builtins and ``load()`` has no
  loader. Libraries: :data:`LIBRARIES`, minus ``settings.flows.disabledLibraries``.
* **Time**: ``min(node timeoutMs, settings executionTimeoutMs)`` (each 0 = unset; both unset =
  :data:`DEFAULT_TIMEOUT_MS`), enforced in the worker by starlark-rust's cooperative cancellation
  (polled about every 1,000 instructions) and, for a single long instruction, by the server killing
  the worker :data:`GRACE_S` after the limit. Either way: :class:`~magec.errors.CodeTimeoutError`.
  Waiting is asynchronous, so a runaway script never stalls the event loop.
* **Output**: a JSON encoding over ``min(node maxOutputBytes, settings maxOutputBytes)`` (default
  :data:`DEFAULT_MAX_OUTPUT`) is :class:`~magec.errors.CodeOutputTooLargeError`; a worker that
  died (memory) is :class:`~magec.errors.CodeMemoryError`; anything else the script got wrong is
  :class:`~magec.errors.FlowNodeError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import starlark as sl

from magec.errors import CodeMemoryError, CodeOutputTooLargeError, CodeTimeoutError, FlowNodeError

DEFAULT_TIMEOUT_MS = 5_000
DEFAULT_MAX_OUTPUT = 1_000_000
MEMORY_BYTES = 512 * 1024 * 1024
WORKERS = 4
GRACE_S = 1.0
#: the libraries a script may use (``settings.flows.disabledLibraries`` removes some)
LIBRARIES = ("json", "map", "filter", "struct", "typing", "partial", "print")
_DIALECT = sl.Dialect.extended()
_WORKER = Path(__file__).with_name("_starlark_worker.py")


@dataclass(frozen=True)
class Limits:
    timeout_ms: int
    max_output_bytes: int


def limits(node_timeout_ms: int, node_max_output: int, global_timeout_ms: int, global_max_output: int) -> Limits:
    """The effective limits: the smaller of node and global where both are set (0 = unset)."""

    def pick(node: int, ceiling: int, default: int) -> int:
        values = [v for v in (node, ceiling) if v > 0]
        return min(values) if values else default

    return Limits(pick(node_timeout_ms, global_timeout_ms, DEFAULT_TIMEOUT_MS),
                  pick(node_max_output, global_max_output, DEFAULT_MAX_OUTPUT))


def check_script(script: str, field: str) -> None:
    """Save-time: the script parses (a ValidationError naming ``field`` otherwise)."""
    from magec.errors import ValidationError

    try:
        sl.parse("script.star", script, _DIALECT)
    except sl.StarlarkError as e:
        raise ValidationError(f"{field}: script does not parse: {_first_line(e)}", field=field) from None


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip().startswith("error:")]
    return lines[0].removeprefix("error:").strip() if lines else str(err).splitlines()[0][:200]


class _Worker:
    """One worker process; one request at a time (the pool hands it out)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(_WORKER), str(MEMORY_BYTES),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={}, cwd="/", limit=256 * 1024 * 1024)
        return cls(proc)

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    async def ask(self, request: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
        """The worker's reply, or None when it died or had to be killed (then it is gone)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        try:
            await self.proc.stdin.drain()
            line = await asyncio.wait_for(self.proc.stdout.readline(), wait_s)
        except (TimeoutError, ConnectionError, ValueError):
            line = b""
        if not line:
            self.kill()
            await self.proc.wait()
            return None
        reply: dict[str, Any] = json.loads(line)
        return reply


class _Pool:
    def __init__(self) -> None:
        self.idle: list[_Worker] = []
        self.slots = asyncio.Semaphore(WORKERS)

    async def ask(self, request: dict[str, Any], wait_s: float) -> dict[str, Any] | None:
        async with self.slots:
            worker = self.idle.pop() if self.idle else await _Worker.start()
            try:
                reply = await worker.ask(request, wait_s)
            except BaseException:
                worker.kill()  # cancelled mid-request: its pipe state is unknown
                raise
            if worker.alive and reply is not None:
                self.idle.append(worker)
            return reply


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()


def _pool() -> _Pool:
    # one pool per event loop (asyncio pipes belong to the loop that opened them); a worker whose
    # loop is gone reads EOF on stdin and exits
    loop = asyncio.get_running_loop()
    if loop not in _pools:
        _pools[loop] = _Pool()
    return _pools[loop]


async def run_script(script: str, node_input: Any, state: dict[str, Any], lim: Limits,
                     disabled: list[str] | tuple[str, ...] = ()) -> Any:
    """Run ``script`` under ``lim`` in a worker (see the module contract); the JSON-typed ``output``."""
    request = {"script": script, "input": _to_json(node_input), "state": _to_json(state),
               "timeoutMs": lim.timeout_ms, "maxOutputBytes": lim.max_output_bytes, "disabled": list(disabled)}
    started = asyncio.get_running_loop().time()
    reply = await _pool().ask(request, lim.timeout_ms / 1000 + GRACE_S)
    if reply is None:
        if asyncio.get_running_loop().time() - started >= lim.timeout_ms / 1000:
            raise CodeTimeoutError(f"script ran longer than {lim.timeout_ms} ms")
        raise CodeMemoryError(f"script exceeded the sandbox memory limit ({MEMORY_BYTES // (1024 * 1024)} MiB)")
    if reply.get("ok"):
        return reply.get("output")
    kind, message = reply.get("kind"), str(reply.get("message") or "")
    if kind == "timeout":
        raise CodeTimeoutError(f"script ran longer than {lim.timeout_ms} ms")
    if kind == "too_large":
        raise CodeOutputTooLargeError(f"output is {message} bytes, over the limit of {lim.max_output_bytes}")
    raise FlowNodeError(message or "script failed")


def _to_json(value: Any) -> Any:
    # only plain JSON types cross into the sandbox
    return json.loads(json.dumps(value, default=str))
