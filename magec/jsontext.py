"""The one safe ``json.loads``: whatever JSON text comes in, the answer is a value or a
:class:`~magec.errors.ValidationError` naming where the text came from — never a bare exception.

``json.loads`` fails in more ways than ``JSONDecodeError``, and accepts more than JSON:

* ``NaN``, ``Infinity`` and ``-Infinity`` are read as floats. They are not JSON: stored, they come
  back as ``null`` or break the JSON answer that echoes them (Starlette refuses to encode them), so
  they are refused here, before anything runs on them;
* an integer longer than Python's digit limit (4300 by default) raises a plain ``ValueError``
  whose message names interpreter settings (never shown: the message says a number is too long);
* deep nesting raises ``RecursionError``.

Callers: request bodies and JSON held in string fields (:mod:`magec.api.limits`, which then checks
depth and strings), A2A bodies, OpenAI tool-call arguments and response ids, backup archives.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from magec.errors import ValidationError

#: deeper JSON is refused: nothing magec accepts nests beyond a dozen levels, and deep nesting is
#: how a small body turns into a RecursionError (json, pydantic, SQL serialisers all recurse)
MAX_JSON_DEPTH = 64


class _NotJsonConstant(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity`` in the text."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonConstant(name)


def too_deep(where: str) -> ValidationError:
    return ValidationError(f"{where}: JSON is nested deeper than {MAX_JSON_DEPTH} levels", field=where)


def decode(text: str | bytes, where: str, what: str = "", *, loads: Callable[..., Any] = json.loads) -> Any:
    """``loads(text)`` (``json.loads`` or a drop-in such as :func:`magec.api.jsonload.loads`) with
    every failure a 400 naming ``where`` (``what``, when given, says what the text is: "request
    body"). The message never carries an exception's own text beyond a syntax error's position."""
    prefix = f"{where}: {what} is not valid JSON" if what else f"{where}: not valid JSON"
    try:
        return loads(text, parse_constant=_refuse_constant)
    except _NotJsonConstant as e:
        raise ValidationError(f"{prefix}: {e} is not JSON (JSON has no NaN or Infinity)", field=where) from None
    except json.JSONDecodeError as e:
        raise ValidationError(f"{prefix}: {e}", field=where) from None
    except UnicodeDecodeError:
        raise ValidationError(f"{prefix}: not UTF-8 text", field=where) from None
    except ValueError:  # int(): over sys.get_int_max_str_digits()
        raise ValidationError(f"{prefix}: a number has too many digits", field=where) from None
    except RecursionError:
        raise too_deep(where) from None
