"""LangChain's ``ChatOpenAI`` against ``magec serve``: bind_tools round trip, with_structured_output, errors."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.compat.conftest import Magec


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"sunny in {city}"


class City(BaseModel):
    city: str
    country: str


def chat(m: Magec, model: str = "Helper") -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=m.v1, api_key="none", max_retries=0)  # type: ignore[arg-type]


def test_bind_tools_round_trip(magec: Magec) -> None:
    llm = chat(magec).bind_tools([get_weather])
    messages: list = [HumanMessage('call get_weather {"city": "Oslo"}')]
    ai = llm.invoke(messages)
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_weather" and ai.tool_calls[0]["args"] == {"city": "Oslo"}
    messages += [ai, ToolMessage(get_weather.invoke(ai.tool_calls[0]["args"]), tool_call_id=ai.tool_calls[0]["id"])]
    final = llm.invoke(messages)
    assert final.content == "compat says: tool result sunny in Oslo"


def test_with_structured_output(magec: Magec) -> None:
    structured = chat(magec).with_structured_output(City)
    got = structured.invoke('{"city": "Lima", "country": "Peru"}')
    assert got == City(city="Lima", country="Peru")


def test_error_message(magec: Magec) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        chat(magec, "Nope").invoke("hi")
    assert "The model 'Nope' does not exist" in str(nf.value)


def test_the_legacy_openai_llm_class_is_told_to_use_chat_openai(magec: Magec) -> None:
    """LangChain's ``OpenAI`` LLM class (text completions) against an agent: the error says to use
    chat completions (``ChatOpenAI``), instead of a bare "no route for /v1/completions"."""
    from langchain_openai import OpenAI

    llm = OpenAI(model="Helper", base_url=magec.v1, api_key="none", max_retries=0)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError, match="Did you mean to use v1/chat/completions"):
        llm.invoke("Once upon a time")
