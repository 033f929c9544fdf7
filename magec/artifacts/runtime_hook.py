"""The artifact service as the runtime and the APIs see it: one :class:`Artifacts` per process.

The composition root (:mod:`magec.server`) opens it (:meth:`Artifacts.open`: the service on the
store's engine, the signing key from the database) and passes it as a build hook: on every rebuild
``deps.artifact_service`` is set, so every runner (agents and flows) gets it, and — when
``artifacts.agentTools`` is on — every agent gets the artifact tools and their instruction
paragraph. The user and admin routes find it in ``ctx.extras["artifacts"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from magec.agents.apps import BuildDeps
from magec.artifacts import tools
from magec.artifacts.service import Limits, SqlArtifactService
from magec.artifacts.signing import DEFAULT_TTL, Signer, load_signer
from magec.config_view.snapshot import StoreSnapshot
from magec.resources import Agent
from magec.store.crypto import Cipher


@dataclass
class Artifacts:
    service: SqlArtifactService
    signer: Signer
    #: lifetime of a download URL, seconds (``artifacts.urlTTL``)
    ttl: float = DEFAULT_TTL
    #: base of URLs minted by the agents' ``get_artifact_url`` (``server.publicURL`` or the local default)
    public_url: str = ""
    #: give every agent the artifact tools (``artifacts.agentTools``)
    agent_tools: bool = False

    @classmethod
    async def open(
        cls, engine: AsyncEngine, cipher: Cipher, limits: Limits, *, ttl: float = DEFAULT_TTL,
        public_url: str = "", agent_tools: bool = False, clients: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Artifacts:
        service = SqlArtifactService(engine, limits, clients)
        return cls(service, await load_signer(engine, cipher), ttl, public_url, agent_tools)

    def __post_init__(self) -> None:
        signer = self.signer
        self._tools = tools.artifact_tools(tools.url_tool(lambda: signer, self.public_url, self.ttl))

    def toolset(self, agent: Agent, snap: StoreSnapshot) -> tuple[list[Any], list[str]]:  # noqa: ARG002
        return list(self._tools), [tools.PARAGRAPH]

    def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:  # a BuildHook
        deps.artifact_service = self.service
        if self.agent_tools:
            deps.toolsets.append(self.toolset)
            deps.build_key.append("artifacts:tools")
