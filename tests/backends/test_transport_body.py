"""What the vendor SDKs are given to send: the JSON body (``_transport.json_body``) and the
absolute endpoint URL (``_transport.endpoint``)."""

from __future__ import annotations

import json
import math

import pytest
from openai._utils._json import openapi_dumps

from magec.backends._transport import endpoint, json_body


def _body(n: int) -> dict[str, object]:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"mensaje {i} — ñandú \"q\" \\ {i}"}
                for i in range(n)]
    return {"model": "m", "messages": messages, "tools": [{"type": "function", "function": {"name": "f",
            "parameters": {"type": "object", "properties": {"messages": {"type": "array"}}}}}],
            "temperature": 0.2, "stream": True}


@pytest.mark.parametrize("n", [0, 3, 64, 65, 2000])
def test_the_body_is_the_json_the_sdk_would_send(n: int) -> None:
    body = _body(n)
    sent = json_body(body)
    assert json.loads(sent) == body
    if n <= 64:  # a short body: byte for byte the SDK's own encoding
        assert sent == openapi_dumps(body)
    else:  # a long one: messages first, encoded one by one, the same compact form
        assert sent.startswith(b'{"messages":[{"role":"user"')
        assert b": " not in sent and "ñandú".encode() in sent


def test_a_body_with_only_messages_and_a_bad_number() -> None:
    only = {"messages": [{"role": "user", "content": str(i)} for i in range(100)]}
    assert json.loads(json_body(only)) == only
    with pytest.raises(ValueError):  # the SDKs refuse NaN too (allow_nan=False)
        json_body({**only, "temperature": math.nan})


@pytest.mark.parametrize(("base", "path", "url"), [
    ("http://h:1/v1/", "chat/completions", "http://h:1/v1/chat/completions"),
    ("http://h:1/v1", "/chat/completions", "http://h:1/v1/chat/completions"),
    ("https://api.anthropic.com", "v1/messages", "https://api.anthropic.com/v1/messages"),
])
def test_endpoint(base: str, path: str, url: str) -> None:
    assert endpoint(base, path) == url
