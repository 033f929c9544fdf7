"""Code nodes: Starlark scripts run in a sandbox with a time and an output limit.

Contract of :func:`run_script`:

* The script sees ``input`` (the node input) and ``state`` (flow state, internal keys hidden) as
  plain JSON-like values and must assign ``output``; the result is ``output`` after conversion
  to JSON types (anything else is a :class:`~magec.errors.FlowNodeError`).
* **No filesystem, no network, no imports**: Starlark (``starlark-pyo3``, starlark-rust) has no
  I/O builtins and ``load()`` has no loader. The libraries offered are ``json``, ``math``-free
  standard builtins plus the ``LibraryExtension`` set in :data:`LIBRARIES`, minus
  ``settings.flows.disabledLibraries``.
* **Time**: ``min(node timeoutMs, settings executionTimeoutMs)`` (each 0 = unset; both unset =
  :data:`DEFAULT_TIMEOUT_MS`). Enforced in-process by starlark-rust's cooperative cancellation
  (``EvalOptions.check_cancelled``, polled about every 1,000 instructions): a runaway loop ends
  with :class:`~magec.errors.CodeTimeoutError`. Evaluation runs on a small dedicated thread pool
  and releases the GIL, so a runaway script never stalls the event loop; the pool size caps how
  many scripts run at once (:data:`WORKERS`).
* **Output**: the JSON encoding of ``output`` over ``min(node maxOutputBytes, settings
  maxOutputBytes)`` (default :data:`DEFAULT_MAX_OUTPUT`) raises
  :class:`~magec.errors.CodeOutputTooLargeError`.
* **Recursion**: the call stack is capped (:data:`MAX_CALLSTACK`).

Known limit (documented in docs/flows.md): a single builtin call that allocates a huge value
(``"x" * 10**9``) is one instruction, so it is not interrupted by the time limit; memory is not
capped in-process.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import starlark as sl

from magec.errors import CodeOutputTooLargeError, CodeTimeoutError, FlowNodeError

DEFAULT_TIMEOUT_MS = 5_000
DEFAULT_MAX_OUTPUT = 1_000_000
MAX_CALLSTACK = 200
WORKERS = 4
#: library name (settings.flows.disabledLibraries) -> starlark-rust extension
LIBRARIES: dict[str, Any] = {
    "json": sl.LibraryExtension.Json,
    "map": sl.LibraryExtension.Map,
    "filter": sl.LibraryExtension.Filter,
    "struct": sl.LibraryExtension.StructType,
    "typing": sl.LibraryExtension.Typing,
    "partial": sl.LibraryExtension.Partial,
    "print": sl.LibraryExtension.Print,
}
_DIALECT = sl.Dialect.extended()
_UNSET = "\x00magec:output-unset"
_POOL = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="magec-starlark")


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


def _globals(disabled: frozenset[str]) -> Any:
    return sl.Globals.extended_by([ext for name, ext in LIBRARIES.items() if name not in disabled])


def _to_starlark(value: Any) -> Any:
    # JSON round trip: only plain JSON types cross into the sandbox (no Python objects)
    return json.loads(json.dumps(value, default=str))


def _evaluate(script: str, node_input: Any, state: dict[str, Any], timeout_ms: int,
              disabled: frozenset[str]) -> Any:
    ast = sl.parse("script.star", script, _DIALECT)
    module = sl.Module()
    module["input"] = _to_starlark(node_input)
    module["state"] = _to_starlark(state)
    module["output"] = _UNSET  # an unset name reads as None in starlark-pyo3: a sentinel tells them apart
    deadline = time.monotonic() + timeout_ms / 1000
    timed_out = False

    def cancelled() -> bool:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline
        return timed_out

    options = sl.EvalOptions(check_cancelled=cancelled, max_callstack_size=MAX_CALLSTACK)
    try:
        sl.eval_with(options, module, ast, _globals(disabled))
    except sl.StarlarkError as e:
        if timed_out:
            raise CodeTimeoutError(f"script ran longer than {timeout_ms} ms") from None
        raise FlowNodeError(f"script failed: {_first_line(e)}") from None
    output = module["output"]
    if output == _UNSET:
        raise FlowNodeError("script must assign output")
    return output


async def run_script(script: str, node_input: Any, state: dict[str, Any], lim: Limits,
                     disabled: list[str] | tuple[str, ...] = ()) -> Any:
    """Run ``script`` under ``lim`` (see the module contract); the JSON-typed ``output``."""
    loop = asyncio.get_running_loop()
    output = await loop.run_in_executor(
        _POOL, _evaluate, script, node_input, state, lim.timeout_ms, frozenset(disabled))
    try:
        encoded = json.dumps(output)
    except (TypeError, ValueError):
        raise FlowNodeError("output must be JSON (string, number, bool, list, dict or None)") from None
    if len(encoded.encode()) > lim.max_output_bytes:
        raise CodeOutputTooLargeError(
            f"output is {len(encoded.encode())} bytes, over the limit of {lim.max_output_bytes}")
    return json.loads(encoded)
