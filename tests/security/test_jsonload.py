"""Large bodies are parsed in steps (:mod:`magec.api.jsonload`) with exactly ``json.loads``'s answers.

Generated documents (any JSON value, any spacing), the same documents corrupted one character at a
time, and the awkward corners (NaN, big numbers, duplicate keys, deep nesting, trailing data) must
give the same value or the same error — message and position — as the standard parser.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from magec.api import jsonload

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


def _outcome(parse: Any, text: str) -> tuple[str, str]:
    try:
        return ("value", repr(parse(text)))
    except json.JSONDecodeError as e:
        return ("error", f"{e.msg} @ {e.pos}")
    except RecursionError:
        return ("error", "recursion")


@given(_values, st.sampled_from([None, 0, 2]), st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]))
@settings(max_examples=300, deadline=None)
def test_same_value_for_any_document(value: Any, indent: int | None, seps: tuple[str, str]) -> None:
    text = json.dumps(value, indent=indent, separators=seps)
    assert _outcome(jsonload.loads, text) == _outcome(json.loads, text)


@given(_values, st.data())
@settings(max_examples=200, deadline=None)
@example({"a": [1, 2]}, None)
def test_same_error_for_a_corrupted_document(value: Any, data: Any) -> None:
    text = json.dumps({"messages": [value, {"k": value}]})
    if data is not None:
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["drop", "insert"]))
        if how == "drop" and at < len(text):
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + data.draw(st.sampled_from(list('{}[],:" x0-.e\\'))) + text[at:]
    assert _outcome(jsonload.loads, text) == _outcome(json.loads, text)


def test_corners() -> None:
    for text in [
        "",
        " ",
        "{",
        "[",
        "]",
        "{}",
        "[]",
        " [ ] ",
        '{"a":1,"a":2}',
        '{"a":NaN,"b":[Infinity,-Infinity]}',
        "[1,]",
        '{"a":1,}',
        '{"a" 1}',
        "{1:2}",
        "[1 2]",
        '{"a":[1]} x',
        "1e400",
        str(10**400),
        '"\\ud800"',
        '{"x":"\x00"}',
        "[" * 100_000 + "]" * 100_000,
        '{"m":' + "[" * 100_000 + "]" * 100_000 + "}",
    ]:
        assert _outcome(jsonload.loads, text) == _outcome(json.loads, text), text[:40]


def test_a_long_history_is_parsed_one_message_per_call() -> None:
    """The shape the module exists for: a chat body's messages are parsed by one C call each."""
    calls: list[int] = []
    scanner = json.scanner.make_scanner

    def counting(decoder: Any) -> Any:
        c_scan = scanner(decoder)

        def scan(s: str, idx: int) -> Any:
            calls.append(idx)
            return c_scan(s, idx)

        return scan

    body = {"model": "m", "messages": [{"role": "user", "content": f"m{i}"} for i in range(1000)]}
    text = json.dumps(body)
    json.scanner.make_scanner = counting
    try:
        assert jsonload.loads(text) == body
    finally:
        json.scanner.make_scanner = scanner
    assert len(calls) == 1 + 1000  # "m", then one per message
