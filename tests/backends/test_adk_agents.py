"""Our chat adapters drive a real ADK agent tool loop (Runner + function tool) against the fakes."""

from __future__ import annotations

import pytest
from backend_helpers import spec_for
from google.adk.agents import LlmAgent
from google.adk.agents.run_config import RunConfig, StreamingMode
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types

from magec.backends import registry
from magec.testing.fake_providers import FakeServer

MODELS = {"openai": "fake-chat", "anthropic": "claude-fake", "gemini": "gemini-fake"}


def get_weather(city: str) -> dict[str, str]:
    """Returns the weather for a city."""
    return {"city": city, "weather": "sunny"}


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("streaming", [False, True])
async def test_agent_tool_loop(vendor: str, streaming: bool, request: pytest.FixtureRequest) -> None:
    srv: FakeServer = request.getfixturevalue(f"{vendor}_srv")
    model = registry.get(vendor).chat(spec_for(srv, vendor), MODELS[vendor])
    agent = LlmAgent(name="weather", model=model, instruction="Use tools.", tools=[get_weather])
    sessions = InMemorySessionService()
    runner = Runner(app_name="t", agent=agent, session_service=sessions)
    session = await sessions.create_session(app_name="t", user_id="u")
    text = 'call get_weather {"city": "Tenerife"}'
    mode = StreamingMode.SSE if streaming else StreamingMode.NONE
    events = [
        e
        async for e in runner.run_async(
            user_id="u",
            session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part.from_text(text=text)]),
            run_config=RunConfig(streaming_mode=mode),
        )
    ]
    final = [e for e in events if not e.partial and e.content and e.content.parts and e.content.parts[0].text]
    assert final[-1].content.parts[0].text.startswith(f"{srv.provider.name} says: tool result")
    assert "sunny" in final[-1].content.parts[0].text
    assert len(srv.provider.requests_to("chat")) == 2
