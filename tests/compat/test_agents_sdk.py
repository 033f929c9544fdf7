"""The OpenAI Agents SDK with its default settings (the Responses API) against ``magec serve``."""

from __future__ import annotations

import pytest
from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from openai import AsyncOpenAI, NotFoundError
from pydantic import BaseModel

from tests.compat.conftest import Magec


class City(BaseModel):
    city: str
    country: str


@pytest.fixture(autouse=True)
def _client(magec: Magec) -> None:
    set_default_openai_client(AsyncOpenAI(base_url=magec.v1, api_key="none", max_retries=0))
    set_tracing_disabled(True)  # traces would be exported to api.openai.com


async def test_function_tool(magec: Magec) -> None:
    seen: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        seen.append(city)
        return f"windy in {city}"

    agent = Agent(name="assistant", model="Helper", tools=[get_weather], instructions="Use tools.")
    result = await Runner.run(agent, 'call get_weather {"city": "Wellington"}')
    assert seen == ["Wellington"] and result.final_output == "compat says: tool result windy in Wellington"
    assert all(r.path == "/v1/chat/completions" for r in magec.fake.requests)  # magec's backend leg


async def test_structured_output(magec: Magec) -> None:
    agent = Agent(name="assistant", model="Helper", output_type=City)
    result = await Runner.run(agent, '{"city": "Cairo", "country": "Egypt"}')
    assert result.final_output == City(city="Cairo", country="Egypt")


async def test_error(magec: Magec) -> None:
    with pytest.raises(NotFoundError) as nf:
        await Runner.run(Agent(name="a", model="Nope"), "hi")
    assert "does not exist" in str(nf.value)
