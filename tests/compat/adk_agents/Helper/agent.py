"""The agent ``adk api_server`` serves in the parity test: magec's OpenAI chat adapter (a BaseLlm)
talking to the test's loopback fake provider (``MAGEC_PARITY_FAKE_URL``)."""

import os

from google.adk.agents import LlmAgent

from magec.backends import registry
from magec.backends.base import BackendSpec

_spec = BackendSpec(id="parity", name="parity", type="openai", url=os.environ["MAGEC_PARITY_FAKE_URL"])

root_agent = LlmAgent(
    name="Helper",
    description="the parity test's agent",
    model=registry.get("openai").chat(_spec, "fake-chat"),
    instruction="You are Helper.",
)
