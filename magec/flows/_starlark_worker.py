"""A Starlark evaluation worker process (started by :mod:`magec.flows.sandbox`; standalone: it
imports nothing from magec, so it runs as ``python -I <this file> <memory bytes>``).

Before anything else it lowers its own limits, hard and soft, so nothing it runs can raise them:
address space (the memory cap: a script that allocates past it makes *this* process abort, never
the server), file size 0 (no file writes), no new processes. Then it answers one JSON request per
stdin line with one JSON response line on stdout and exits on EOF.

Request: ``{"script", "input", "state", "timeoutMs", "maxOutputBytes", "disabled": [...]}``.
Response: ``{"ok": true, "output": ...}`` or ``{"ok": false, "kind": "timeout" | "too_large" |
"unset" | "error", "message": ...}``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any


def _limit(which: int, value: int) -> None:
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):  # a platform without that limit: keep the others
        pass


def _lower_limits(memory: int) -> None:
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_CORE, 0)


_UNSET = "\x00magec:output-unset"


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip().startswith("error:")]
    return lines[0].removeprefix("error:").strip() if lines else (str(err).splitlines() or [type(err).__name__])[0][:200]


def main() -> None:
    _lower_limits(int(sys.argv[1]))
    import starlark as sl

    libraries = {
        "json": sl.LibraryExtension.Json, "map": sl.LibraryExtension.Map, "filter": sl.LibraryExtension.Filter,
        "struct": sl.LibraryExtension.StructType, "typing": sl.LibraryExtension.Typing,
        "partial": sl.LibraryExtension.Partial, "print": sl.LibraryExtension.Print,
    }
    dialect = sl.Dialect.extended()

    def evaluate(req: dict[str, Any]) -> dict[str, Any]:
        try:
            ast = sl.parse("script.star", req["script"], dialect)
        except sl.StarlarkError as e:
            return {"ok": False, "kind": "error", "message": f"script does not parse: {_first_line(e)}"}
        module = sl.Module()
        module["input"] = req.get("input")
        module["state"] = req.get("state") or {}
        module["output"] = _UNSET
        deadline = time.monotonic() + req["timeoutMs"] / 1000
        timed_out = False

        def cancelled() -> bool:
            nonlocal timed_out
            timed_out = time.monotonic() > deadline
            return timed_out

        disabled = set(req.get("disabled") or ())
        globals_ = sl.Globals.extended_by([ext for name, ext in libraries.items() if name not in disabled])
        try:
            sl.eval_with(sl.EvalOptions(check_cancelled=cancelled, max_callstack_size=200), module, ast, globals_)
        except sl.StarlarkError as e:
            if timed_out:
                return {"ok": False, "kind": "timeout", "message": ""}
            return {"ok": False, "kind": "error", "message": f"script failed: {_first_line(e)}"}
        output = module["output"]
        if output == _UNSET:
            return {"ok": False, "kind": "unset", "message": "script must assign output"}
        try:
            encoded = json.dumps(output)
        except (TypeError, ValueError):
            return {"ok": False, "kind": "error", "message": "output must be JSON (string, number, bool, list, dict or None)"}
        if len(encoded.encode()) > req["maxOutputBytes"]:
            return {"ok": False, "kind": "too_large", "message": str(len(encoded.encode()))}
        return {"ok": True, "output": output}

    for line in sys.stdin:
        try:
            reply = evaluate(json.loads(line))
        except MemoryError:
            reply = {"ok": False, "kind": "error", "message": "script ran out of memory"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
