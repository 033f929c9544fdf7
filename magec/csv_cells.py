"""CSV cells a spreadsheet will not run: the one guard of every CSV magec writes (costs report,
conversations export).

Contract of :func:`safe_cell`: a text cell that a spreadsheet would read as a formula (it starts,
after any leading whitespace, with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) gets a
leading ``'``, so Excel / LibreOffice / Sheets show it as text (OWASP "CSV injection"). Other
values pass unchanged. Names, user ids, messages and answers are typed by users and agents, and
an exported file is opened by an admin.
"""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and (value[:1] in _FORMULA_START or value.lstrip()[:1] in _FORMULA_START):
        return "'" + value
    return value
