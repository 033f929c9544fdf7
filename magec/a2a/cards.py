"""Agent cards: what ``GET /api/v1/a2a/{id}/.well-known/agent-card.json`` answers.

One card per app (agent or flow) whose ``a2a.enabled`` is true, built per request from the running
configuration (so a toggle is visible on the next request). The card carries both shapes a2a-sdk
understands: A2A 1.0's ``supportedInterfaces`` and 0.3's ``url`` / ``preferredTransport`` /
``protocolVersion`` / ``security`` (Magec's card), via a2a-sdk's own serialiser.

``url`` is ``server.publicURL`` when set, else the base URL of the request that asked for the card,
plus ``/api/v1/a2a/{id}``. Skills: one for the agent itself (id = agent id, its description), and
for a flow one per distinct agent step. System prompts are never put on a card: cards are public
(discovery, as in Magec) and a prompt is configuration, not a description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from magec.agents.apps import App
from magec.config_view.snapshot import StoreSnapshot

if TYPE_CHECKING:
    from a2a.types import a2a_pb2 as pb

# a2a-sdk is imported where a card is made, not here: the routes import this module in every
# process, and the SDK loads only in a rebuild that needs it (magec.a2a says when)

PREFIX = "/api/v1/a2a"
CARD_VERSION = "1.0.0"
SCHEME = "bearer"


def a2a_enabled(snap: StoreSnapshot, app_id: str) -> bool:
    """Whether the agent or flow ``app_id`` is served over A2A in this snapshot."""
    res: Any = snap.agents.get(app_id) or snap.flows.get(app_id)
    return bool(res is not None and res.a2a.enabled)


def endpoint(base_url: str, app_id: str) -> str:
    return f"{base_url.rstrip('/')}{PREFIX}/{app_id}"


def _skills(app: App, snap: StoreSnapshot) -> list[pb.AgentSkill]:
    from a2a.types import a2a_pb2 as pb

    agent = snap.agents.get(app.id)
    tags = list(agent.tags) if agent is not None and agent.tags else [app.kind]
    skills = [pb.AgentSkill(id=app.id, name=app.name or app.id,
                            description=app.description or app.name or app.id, tags=tags)]
    if app.kind == "flow":
        seen: set[str] = set()
        for agent_id, name, _ in app.authors.values():
            step = snap.agents.get(agent_id)
            if agent_id in seen or step is None:
                continue
            seen.add(agent_id)
            skills.append(pb.AgentSkill(id=agent_id, name=name or agent_id,
                                        description=step.description or name or agent_id,
                                        tags=list(step.tags) or ["agent"]))
    return skills


def card(app: App, snap: StoreSnapshot, base_url: str) -> pb.AgentCard:
    """The card of one app (the caller checked ``a2a_enabled``)."""
    from a2a.types import a2a_pb2 as pb

    url = endpoint(base_url, app.id)
    return pb.AgentCard(
        name=app.name or app.id,
        description=app.description or app.name or app.id,
        version=CARD_VERSION,
        supported_interfaces=[
            pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            pb.AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=pb.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=_skills(app, snap),
        security_schemes={SCHEME: pb.SecurityScheme(http_auth_security_scheme=pb.HTTPAuthSecurityScheme(
            scheme="bearer", description="Magec client token (mgc_...)"))},
        security_requirements=[pb.SecurityRequirement(schemes={SCHEME: pb.StringList()})],
    )


def card_json(app: App, snap: StoreSnapshot, base_url: str) -> dict[str, Any]:
    from a2a.server.request_handlers.response_helpers import agent_card_to_dict

    return agent_card_to_dict(card(app, snap, base_url))


def generic_card() -> pb.AgentCard:
    """The card a2a-sdk's request handler is constructed with: it only reads its capabilities
    (streaming yes, push notifications no), which are the same for every magec app."""
    from a2a.types import a2a_pb2 as pb

    return pb.AgentCard(
        name="magec", description="magec A2A endpoint", version=CARD_VERSION,
        supported_interfaces=[pb.AgentInterface(url="http://localhost" + PREFIX, protocol_binding="JSONRPC",
                                                protocol_version="1.0")],
        capabilities=pb.AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"], default_output_modes=["text/plain"],
        skills=[pb.AgentSkill(id="magec", name="magec", description="magec agents and flows", tags=["magec"])],
    )
