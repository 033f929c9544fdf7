"""Text parts and contents built without pydantic validation (magec/backends/prebuilt.py)
are the objects pydantic builds: equal, same fields set, same dumps, same copies, same
serialisation through the request a provider gets — for any text (Hypothesis)."""

from __future__ import annotations

import copy

from google.genai import types
from hypothesis import given, settings
from hypothesis import strategies as st

from magec.api.user.openai.messages import split
from magec.backends import prebuilt

texts = st.text(max_size=200)


def _same(fast: types.Part | types.Content, slow: types.Part | types.Content) -> None:
    assert fast == slow and slow == fast
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_dump(mode="json", exclude_none=True, by_alias=True) == slow.model_dump(
        mode="json", exclude_none=True, by_alias=True)
    assert fast.model_dump_json(exclude_none=True) == slow.model_dump_json(exclude_none=True)
    assert copy.deepcopy(fast) == slow and fast.model_copy() == slow
    assert type(fast).model_validate(fast.model_dump()) == slow


@settings(max_examples=200, deadline=None)
@given(texts)
def test_a_text_part_is_the_validated_one(text: str) -> None:
    _same(prebuilt.text_part(text), types.Part(text=text))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["user", "model"]), st.lists(texts, max_size=4))
def test_a_content_is_the_validated_one(role: str, pieces: list[str]) -> None:
    fast = prebuilt.content(role, [prebuilt.text_part(t) for t in pieces])
    _same(fast, types.Content(role=role, parts=[types.Part(text=t) for t in pieces]))
    # and it stays a normal model afterwards: assignment, as ADK's processors do
    fast.parts = [*(fast.parts or []), types.Part(text="more")]
    assert fast.parts[-1].text == "more"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), min_size=1, max_size=8), texts)
def test_a_mapped_history_equals_the_validated_mapping(history: list[tuple[str, str]], last: str) -> None:
    messages = [{"role": r, "content": t} for r, t in history] + [{"role": "user", "content": last or "x"}]
    turn = split(messages)
    expected = []
    body = [m for m in messages[: len(messages) - 1]]
    # the trailing run of user messages is the new message; the rest is history
    while body and body[-1]["role"] == "user":
        body.pop()
    for m in body:
        if m["role"] == "assistant":
            expected.append(types.Content(role="model", parts=[types.Part(text=m["content"])] if m["content"] else []))
        else:
            expected.append(types.Content(role="user", parts=[types.Part(text=m["content"])]))
    assert turn.history == expected
    assert [c.model_dump(exclude_none=True) for c in turn.history] == [c.model_dump(exclude_none=True) for c in expected]


@settings(max_examples=100, deadline=None)
@given(st.lists(texts, max_size=3), texts)
def test_a_model_answer_with_thoughts_and_calls_is_the_validated_one(pieces: list[str], thought: str) -> None:
    """What a backend's TurnAccumulator builds: a thought part, text parts and a function call."""
    call = types.Part(function_call=types.FunctionCall(id="c1", name="lookup", args={"q": thought}))
    mixed = [types.Part(text=thought, thought=True), *[prebuilt.text_part(t) for t in pieces], call]
    fast = prebuilt.content("model", mixed)
    slow = types.Content(role="model", parts=[types.Part(text=thought, thought=True),
                                              *[types.Part.from_text(text=t) for t in pieces], call])
    _same(fast, slow)
