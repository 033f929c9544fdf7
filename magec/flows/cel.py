"""CEL expressions over flow state (loop exit conditions): compile-time checks and evaluation."""

from __future__ import annotations

from typing import Any

import celpy
from celpy import celtypes

from magec.errors import ValidationError

_ENV = celpy.Environment()


def check_expression(expr: str, field: str) -> None:
    """400 unless ``expr`` compiles and evaluates to a boolean over an empty/sample state."""
    if not expr.strip():
        raise ValidationError(
            f"{field}: an expression is required when the exit mode is expression", field=field
        )
    try:
        ast = _ENV.compile(expr)
    except Exception as e:  # noqa: BLE001 - celpy raises its own parse error types
        raise ValidationError(
            f"{field}: CEL expression does not compile: {str(e).splitlines()[0]}", field=field
        ) from None
    # cel-python has no static type checker: probe with an empty state; a non-boolean result
    # on a probe that succeeds is rejected. Errors from missing keys are fine (has() guards).
    try:
        result = _ENV.program(ast).evaluate({"state": celtypes.MapType({})})
    except Exception:  # noqa: BLE001
        return
    if isinstance(result, Exception):
        return
    if not isinstance(result, celtypes.BoolType):
        raise ValidationError(
            f"{field}: CEL expression must be boolean, got {type(result).__name__}", field=field
        )


def evaluate(expr: str, state: dict[str, Any]) -> bool:
    """Evaluate ``expr`` with ``state`` bound; errors (e.g. missing keys) count as False."""
    program = _ENV.program(_ENV.compile(expr))
    try:
        result = program.evaluate({"state": celpy.json_to_cel(state)})
    except Exception:  # noqa: BLE001
        return False
    return bool(result) if isinstance(result, celtypes.BoolType) else False
