"""Which agent speaks for an app, and with which backend, model, voice and provider options.

Contract of :func:`resolve`:

* ``key`` names an agent or a flow (by id, else by exact name) → ``NotFoundError`` (404) otherwise.
* An agent uses its own ``transcription`` (role ``stt``) or ``tts`` (role ``tts``) settings.
* A flow uses the ``spokesperson`` agent when given (it must be one of the flow's agents, else
  ``ValidationError`` 400 on ``spokesperson``), otherwise the first agent, breadth-first from the
  root, that has the role configured.
* Role not configured (no backend) → ``AgentUnavailableError`` (503) with the exact message
  ``"transcription not configured for this agent"`` / ``"speech not configured for this agent"``;
  the configured backend no longer exists → 503 too.
* The backend's type lacks the role (e.g. ``anthropic``) → ``UnsupportedRoleError`` (400).

Everything the provider needs is taken from the store (server-side injection): the client never
chooses the model, the voice or the provider options.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from magec.backends import registry
from magec.backends.base import BackendSpec, BackendType
from magec.config_view.snapshot import StoreSnapshot
from magec.errors import (
    AgentUnavailableError,
    MagecError,
    NotFoundError,
    UnsupportedRoleError,
    ValidationError,
)
from magec.resources import Agent
from magec.resources.flow import tree_agent_ids as flow_agent_ids  # noqa: F401 - magec.voice names it so
from magec.resources.models import VoiceRef

VoiceRole = Literal["stt", "tts"]

NOT_CONFIGURED: dict[VoiceRole, str] = {
    "stt": "transcription not configured for this agent",
    "tts": "speech not configured for this agent",
}
_LABEL: dict[VoiceRole, str] = {"stt": "speech-to-text", "tts": "text-to-speech"}
_SECTION: dict[VoiceRole, str] = {"stt": "transcription", "tts": "tts"}


@dataclass(frozen=True)
class AppRef:
    """An addressed app: ``kind`` is ``"agent"`` or ``"flow"``."""

    id: str
    kind: Literal["agent", "flow"]


@dataclass(frozen=True)
class VoiceTarget:
    """Everything one voice call needs, resolved from the store."""

    app: AppRef
    agent: Agent
    role: VoiceRole
    spec: BackendSpec
    backend_type: BackendType
    model: str
    voice: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    #: tried in order when this target cannot answer (:mod:`magec.backends.fallback` semantics)
    fallbacks: tuple[VoiceTarget, ...] = ()

    def backend_ids(self) -> list[str]:
        """The backends a call of this target may reach (its own, then its fallbacks'): what
        admission counts it against (:mod:`magec.runtime.admission`)."""
        return [t.spec.id for t in (self, *self.fallbacks)]


def locate(snap: StoreSnapshot, key: str) -> AppRef:
    """The agent or flow called ``key`` (id first, then exact name); ``NotFoundError`` if none."""
    if key in snap.agents:
        return AppRef(key, "agent")
    if key in snap.flows:
        return AppRef(key, "flow")
    for agent in snap.agents.values():
        if agent.name == key:
            return AppRef(agent.id, "agent")
    for flow in snap.flows.values():
        if flow.name == key:
            return AppRef(flow.id, "flow")
    raise NotFoundError(f"agent or flow {key!r} not found")


def voice_ref(agent: Agent, role: VoiceRole) -> VoiceRef:
    return agent.transcription if role == "stt" else agent.tts


def speaking_agent(snap: StoreSnapshot, app: AppRef, role: VoiceRole, spokesperson: str | None) -> Agent:
    """The agent whose voice settings serve ``app`` for ``role`` (see the module contract)."""
    if app.kind == "agent":
        if spokesperson and spokesperson != app.id:
            raise ValidationError(
                f"spokesperson: {spokesperson!r} is not part of agent {app.id!r}", field="spokesperson"
            )
        return snap.agents[app.id]
    members = snap.flows[app.id].agent_ids()
    if spokesperson:
        if spokesperson not in members:
            raise ValidationError(
                f"spokesperson: agent {spokesperson!r} is not part of flow {app.id!r}", field="spokesperson"
            )
        agent = snap.agents.get(spokesperson)
        if agent is None:
            raise AgentUnavailableError(NOT_CONFIGURED[role])
        return agent
    for agent_id in members:
        agent = snap.agents.get(agent_id)
        if agent is not None and voice_ref(agent, role).backend:
            return agent
    raise AgentUnavailableError(NOT_CONFIGURED[role])


def resolve(snap: StoreSnapshot, app: AppRef, role: VoiceRole, spokesperson: str | None = None) -> VoiceTarget:
    """Resolve ``app`` (from :func:`locate`) to a ready :class:`VoiceTarget` for ``role``."""
    agent = speaking_agent(snap, app, role, spokesperson)
    ref = voice_ref(agent, role)
    if not ref.backend:
        raise AgentUnavailableError(NOT_CONFIGURED[role])
    spec = snap.backend_spec(ref.backend)
    if spec is None:
        raise AgentUnavailableError(f"{_SECTION[role]} backend not found for this agent")
    try:
        backend_type = registry.get(spec.type)
    except ImportError as e:
        raise AgentUnavailableError(f"backend type {spec.type!r} is not available on this install: {e}") from e
    if role not in backend_type.declared.roles:
        raise UnsupportedRoleError(
            f"{_SECTION[role]}.backend: {spec.type} backends have no {_LABEL[role]}; "
            "pick a backend that supports it",
            backend=spec.name,
        )
    primary = _target(app, agent, role, spec, backend_type, ref.model, getattr(ref, "voice", ""), ref.config)
    return replace(primary, fallbacks=tuple(_fallbacks(snap, app, agent, role, ref)))


def _target(
    app: AppRef, agent: Agent, role: VoiceRole, spec: BackendSpec, backend_type: BackendType,
    model: str, voice: str, config: dict[str, dict[str, Any]],
) -> VoiceTarget:
    # the model and voice an agent leaves empty are the backend type's defaults (declared there)
    defaults = backend_type.defaults
    options = dict(config.get(spec.type) or {})
    if role == "stt":
        return VoiceTarget(app, agent, role, spec, backend_type, model or defaults.stt_model, options=options)
    return VoiceTarget(app, agent, role, spec, backend_type, model or defaults.tts_model, voice or defaults.tts_voice, options)


def _fallbacks(snap: StoreSnapshot, app: AppRef, agent: Agent, role: VoiceRole, ref: VoiceRef) -> list[VoiceTarget]:
    """The role's fallback targets in order; a fallback that cannot serve (backend gone, type
    without the role or not installed) is skipped: the chain is a best effort behind the primary."""
    out: list[VoiceTarget] = []
    for fb in ref.fallbacks:
        spec = snap.backend_spec(fb.backend) if fb.backend else None
        if spec is None:
            continue
        try:
            backend_type = registry.get(spec.type)
        except (ImportError, MagecError):
            continue
        if role not in backend_type.declared.roles:
            continue
        # provider options are per backend type: the primary's apply when the fallback shares its type
        out.append(_target(app, agent, role, spec, backend_type, fb.model, fb.voice, ref.config))
    return out
