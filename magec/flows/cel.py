"""CEL expressions over flow state (loop exit conditions): compile-time checks and evaluation.

cel-python (its Lark grammar: ~0.2 s to import and build on a slow host) loads with the first
expression checked or evaluated: a process whose flows use none (most, and every test server
started without flows) never pays for it.
"""

from __future__ import annotations

import functools
from typing import Any

from magec.errors import ValidationError


@functools.cache
def _cel() -> tuple[Any, Any, Any]:
    """(the ``celpy`` module, ``celpy.celtypes``, the one shared ``celpy.Environment``)."""
    import celpy
    from celpy import celtypes

    return celpy, celtypes, celpy.Environment()


def check_expression(expr: str, field: str) -> None:
    """400 unless ``expr`` compiles and evaluates to a boolean over an empty/sample state."""
    if not expr.strip():
        raise ValidationError(
            f"{field}: an expression is required when the exit mode is expression", field=field
        )
    # cel-python has no static type checker: probed with an empty state, a non-boolean result is
    # rejected; errors from missing keys are fine (has() guards)
    check_compiles(expr, field, boolean=True, probe={"state": {}})


def evaluate(expr: str, state: dict[str, Any]) -> bool:
    """Evaluate ``expr`` with ``state`` bound; errors (e.g. missing keys) count as False."""
    celpy, celtypes, env = _cel()
    program = env.program(env.compile(expr))
    try:
        result = program.evaluate({"state": celpy.json_to_cel(state)})
    except Exception:  # noqa: BLE001
        return False
    return bool(result) if isinstance(result, celtypes.BoolType) else False


def _activation(values: dict[str, Any]) -> dict[str, Any]:
    celpy = _cel()[0]
    return {k: celpy.json_to_cel(v) for k, v in values.items()}


def check_compiles(expr: str, field: str, *, boolean: bool = False, probe: dict[str, Any] | None = None) -> None:
    """400 naming ``field`` unless ``expr`` compiles; ``boolean``: a probe evaluation (``probe``
    bound, e.g. an empty state) must not yield a non-boolean (errors such as missing keys pass)."""
    if not expr.strip():
        raise ValidationError(f"{field}: an expression is required", field=field)
    _, celtypes, env = _cel()
    try:
        ast = env.compile(expr)
    except Exception as e:  # noqa: BLE001 - celpy raises its own parse error types
        raise ValidationError(
            f"{field}: CEL expression does not compile: {str(e).splitlines()[0]}", field=field
        ) from None
    if not boolean:
        return
    try:
        result = env.program(ast).evaluate(_activation(probe or {}))
    except Exception:  # noqa: BLE001
        return
    if not isinstance(result, Exception) and not isinstance(result, celtypes.BoolType):
        raise ValidationError(
            f"{field}: CEL expression must be boolean, got {type(result).__name__}", field=field
        )


def to_python(value: Any) -> Any:
    """A CEL value as plain JSON types (maps with string keys, lists, scalars, None)."""
    celtypes = _cel()[1]
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, celtypes.ListType):
        return [to_python(v) for v in value]
    if isinstance(value, celtypes.MapType):
        return {str(to_python(k)): to_python(v) for k, v in value.items()}
    if value is None or isinstance(value, celtypes.NullType):
        return None
    return str(value)


def evaluate_value(expr: str, values: dict[str, Any]) -> Any:
    """Evaluate ``expr`` with ``values`` bound; the result as JSON types. Raises ValueError with a
    readable reason on an evaluation error (missing key, bad types)."""
    env = _cel()[2]
    program = env.program(env.compile(expr))
    try:
        result = program.evaluate(_activation(values))
    except Exception as e:  # noqa: BLE001
        raise ValueError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    if isinstance(result, Exception):
        raise ValueError(str(result).splitlines()[0] if str(result) else type(result).__name__)
    return to_python(result)


def evaluate_rule(expr: str, values: dict[str, Any]) -> bool:
    """A router rule: true only for a boolean true (errors, e.g. missing keys, count as false)."""
    try:
        return evaluate_value(expr, values) is True
    except ValueError:
        return False
