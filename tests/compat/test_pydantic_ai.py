"""pydantic-ai against ``magec serve``: an agent with a tool, NativeOutput, errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from tests.compat.conftest import Magec


class City(BaseModel):
    city: str
    country: str


def model(m: Magec, name: str = "Helper") -> OpenAIChatModel:
    return OpenAIChatModel(name, provider=OpenAIProvider(base_url=m.v1, api_key="none"))


def test_tool(magec: Magec) -> None:
    agent = Agent(model(magec))
    seen: list[str] = []

    @agent.tool_plain
    def get_weather(city: str) -> str:
        """The weather of a city."""
        seen.append(city)
        return f"rain in {city}"

    result = agent.run_sync('call get_weather {"city": "Bergen"}')
    assert seen == ["Bergen"] and result.output == "compat says: tool result rain in Bergen"


def test_native_output(magec: Magec) -> None:
    agent = Agent(model(magec), output_type=NativeOutput(City))
    result = agent.run_sync('{"city": "Quito", "country": "Ecuador"}')
    assert result.output == City(city="Quito", country="Ecuador")
    assert magec.fake.requests[-1].json["response_format"]["type"] == "json_schema"


def test_error(magec: Magec) -> None:
    with pytest.raises(ModelHTTPError) as err:
        Agent(model(magec, "Nope")).run_sync("hi")
    assert err.value.status_code == 404 and "does not exist" in str(err.value.body)
