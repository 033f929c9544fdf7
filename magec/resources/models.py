"""Resource models. JSON is camelCase (Magec's shapes); Python attributes are snake_case.

Models validate *shape* (types, required fields, enums). Each resource kind is declared once, here,
by ClassVars on its model: ``kind`` (store key), ``path`` (Admin API URL segment), ``singular``
(the name in messages and reference lists), the sensitive fields (``sensitive``, ``secret_urls``,
``bound``), fields the API never returns (``hidden``), whether it runs as an app (``runnable``) and
its outgoing references (``references``, :class:`RefSpec`). Everything else — the store's kind
list, the Admin API routes, the reference graph (:mod:`magec.resources.references`), the snapshot,
the UI's path map (``GET /api/v1/admin/kinds``) — is derived from :data:`KINDS`. Save-time rules
that need other resources or subsystems are registered by their owners (:mod:`magec.resources.rules`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict, ValidationInfo, field_validator, model_validator

from magec.resources.base import (  # noqa: F401 - re-exported: the models' public names
    _OUTPUT_KEY,
    AGENT_OR_FLOW,
    MAX_DESCRIPTION,
    MAX_NAME,
    MAX_PROMPT,
    RefKind,
    RefSpec,
    Resource,
    Toggle,
    _Model,
)
from magec.resources.flow import (  # noqa: F401 - re-exported
    MAX_NODES,
    MAX_SCRIPT,
    NODE_ID,
    NODE_TYPES,
    Flow,
    FlowEdge,
    FlowNode,
    FlowStep,
    LoopExit,
    RouterRule,
)
from magec.resources.skill import Skill  # noqa: F401 - re-exported
from magec.resources.urls import http_url_problem


class FlowSettings(_Model):
    """Global ceilings of graph flows' code nodes (Magec G2 ``settings.flows``); 0 = no ceiling
    (a node's own limit, else magec's built-in default, :mod:`magec.flows.sandbox`)."""

    execution_timeout_ms: int = Field(default=0, ge=0, le=3_600_000)
    max_output_bytes: int = Field(default=0, ge=0, le=100_000_000)
    disabled_libraries: list[str] = Field(default_factory=list)
    #: magec: a router firing more often than this in one run ends the turn (Magec's fixed cap: 1000)
    max_router_activations: int = Field(default=1000, ge=1, le=1000)


#: a whole number of days or turns: never a bool (``true`` would mean 1 day) or a string
Count = Annotated[int, Strict()]


class ConversationSettings(_Model):
    """The conversation audit (``settings.conversations``, beyond Magec; docs/conversations.md):
    ``enabled`` false records nothing; ``retentionDays`` / ``maxTurns`` (0 = keep) bound what is kept."""

    enabled: bool = True
    retention_days: Count = Field(default=0, ge=0, le=36500)
    max_turns: Count = Field(default=0, ge=0, le=1_000_000_000)


class SessionSettings(_Model):
    """Stored conversations (``settings.sessions``, beyond Magec; docs/sessions.md): ``retentionDays``
    deletes sessions in magec's database idle that long (0 = keep; :mod:`magec.memory.session_retention`)."""

    retention_days: Count = Field(default=0, ge=0, le=36500)


class Settings(_Model):
    # Magec G1's settings; ``flows`` and ``temporaryDir`` (G2) are kept by a save that omits them
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"sessionProvider", "longTermProvider"})
    references: ClassVar[tuple[RefSpec, ...]] = (
        RefSpec("sessionProvider", ("memoryProviders",), "membership"),
        RefSpec("longTermProvider", ("memoryProviders",), "membership"),
    )
    session_provider: str = ""
    long_term_provider: str = ""
    flows: FlowSettings = Field(default_factory=FlowSettings)
    conversations: ConversationSettings = Field(default_factory=ConversationSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    #: Magec G2's directory for exported artifacts; kept so an import loses nothing
    temporary_dir: str = ""
    #: what a plain ``DELETE`` of a referenced resource does (no ``?force``): ``refuse`` (409 with
    #: the references) or ``scrub`` (remove the references, then delete — usable from Magec's UI,
    #: which has no "force"); docs/admin-api.md
    delete_referenced: Literal["refuse", "scrub"] = "refuse"


class BackendHealth(_Model):
    """Observed health (``backend_status.health``): ``up``/``degraded``/``down`` from the live
    monitor (:mod:`magec.backends.health`), ``healthy``/``unhealthy`` from a manual test."""

    status: Literal["unknown", "up", "degraded", "down", "healthy", "unhealthy"] = "unknown"
    checked_at: str | None = None
    last_error: str | None = None
    since: str | None = None
    latency_ms: float | None = None


class Backend(Resource):
    kind: ClassVar[str] = "backends"
    path: ClassVar[str] = "backends"
    singular: ClassVar[str] = "backend"
    # Header values carry keys too (Azure ``api-key``, proxy tokens): all of them are write-only.
    sensitive: ClassVar[tuple[str, ...]] = ("apiKey", "headers.*")
    secret_urls: ClassVar[tuple[str, ...]] = ("url",)
    bound: ClassVar[dict[str, tuple[str, ...]]] = {"apiKey": ("type", "url"), "headers.*": ("type", "url")}
    # timeouts, retries, answer cap and ``api`` are magec's: a save from Magec's UI keeps them
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"name", "type", "url", "apiKey", "headers"})
    type: str
    url: str = ""
    api_key: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=60.0, gt=0, le=3600)
    # Optional (absent in Magec's JSON): None = the default of magec.backends.base.BackendSpec.
    connect_timeout: float | None = Field(default=None, gt=0, le=600)
    total_timeout: float | None = Field(default=None, gt=0, le=86400)
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    max_response_bytes: int | None = Field(default=None, ge=1024, le=1024**3)
    api: Literal["completions", "responses"] = "completions"

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("type is required")
        return v.strip()

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        problem = http_url_problem(v) if v else None
        if problem:
            raise ValueError(f"url {problem}")
        return v


#: at most this many fallbacks per role (magec.backends.fallback.MAX_FALLBACKS)
MAX_FALLBACKS = 5


class FallbackRef(_Model):
    """One fallback of a role: another backend (and model) tried when the ones before it cannot
    answer (semantics: :mod:`magec.backends.fallback`). Not in Magec's JSON: absent = none."""

    backend: str = ""
    model: str = ""


class VoiceFallbackRef(FallbackRef):
    voice: str = ""


class BackendRef(_Model):
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"backend", "model", "headers"})
    backend: str = ""
    model: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    fallbacks: list[FallbackRef] = Field(default_factory=list, max_length=MAX_FALLBACKS)


class VoiceRef(_Model):
    # ``config`` (per provider type) and ``fallbacks`` are magec's
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"backend", "model"})
    backend: str = ""
    model: str = ""
    config: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fallbacks: list[VoiceFallbackRef] = Field(default_factory=list, max_length=MAX_FALLBACKS)


class TtsRef(VoiceRef):
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"backend", "model", "voice"})
    #: Magec G1's flat forms of ``config.<type>.*``: ignored when the same body carries ``config``
    legacy: ClassVar[dict[str, str]] = {
        "speed": "config",
        "languageCode": "config",
        "temperature": "config",
        "stylePrompt": "config",
    }
    voice: str = ""

    @model_validator(mode="before")
    @classmethod
    def _legacy_speed(cls, data: Any) -> Any:
        # Magec G1 stored a flat ``speed`` (and flat gemini keys); G2 nests them under config.<type>.
        # A flat key reaching here is the client's word (the merge rule drops it when the body
        # also sent ``config``): it sets the nested value, and 0/""/null clears it (Magec: unset).
        if isinstance(data, dict):
            data = dict(data)
            config = {k: dict(v) if isinstance(v, dict) else v for k, v in (data.get("config") or {}).items()}
            flat = [("speed", "openai")] + [(k, "gemini") for k in ("languageCode", "temperature", "stylePrompt")]
            for key, section in flat:
                if key not in data:
                    continue
                value = data.pop(key)
                if value not in (None, 0, ""):
                    config.setdefault(section, {})[key] = value
                elif isinstance(config.get(section), dict):
                    config[section].pop(key, None)
                    if not config[section]:
                        config.pop(section)
            data["config"] = config
        return data


class RemoteA2a(_Model):
    """A remote A2A agent that answers for this agent instead of its ``llm`` (docs/a2a.md): ``url``
    is the peer's A2A endpoint (its card is read from ``<url>/.well-known/agent-card.json``) or the
    card's own URL; ``token`` (optional, sensitive, bound to ``url``) is sent as a bearer token.
    Admin-configured like a backend URL: any http(s) host, loopback included."""

    url: str = Field(max_length=2048)
    token: str = ""

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        v = v.strip()
        problem = http_url_problem(v)
        if problem:
            raise ValueError(f"must be an absolute http(s) URL: url {problem}")
        return v


class AgentA2a(Toggle):
    """Magec's ``a2a.enabled`` (serve this agent over A2A) plus ours: ``remote`` (answer through a
    remote A2A agent)."""

    remote: RemoteA2a | None = None


class ContextGuard(_Model):
    """``maxTurns`` / ``maxTokens`` 0 = Magec's defaults (magec.agents.context_guard); ``null`` or
    an empty string (an emptied number box) is that blank too, as Go reads ``null`` into 0."""

    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"enabled", "strategy", "maxTurns", "maxTokens"})
    enabled: bool = False
    strategy: Literal["threshold", "sliding_window"] = "threshold"
    max_turns: int = Field(default=0, ge=0)
    max_tokens: int = Field(default=0, ge=0)

    @field_validator("max_turns", "max_tokens", mode="before")
    @classmethod
    def _blank(cls, v: Any) -> Any:
        return 0 if v is None or (isinstance(v, str) and not v.strip()) else v


class Budget(_Model):
    """Optional spend limit of a client or an agent (magec's; docs/costs.md): ``amount`` per
    UTC ``period`` in the price table's currency (``unit: "cost"``) or in tokens (input + output)."""

    amount: float = Field(gt=0, le=1e12)
    period: Literal["day", "month"] = "month"
    unit: Literal["cost", "tokens"] = "cost"


class Agent(Resource):
    kind: ClassVar[str] = "agents"
    path: ClassVar[str] = "agents"
    singular: ClassVar[str] = "agent"
    runnable: ClassVar[bool] = True
    references: ClassVar[tuple[RefSpec, ...]] = (
        RefSpec("llm.backend", ("backends",), "structural"),
        RefSpec("transcription.backend", ("backends",), "membership"),
        RefSpec("tts.backend", ("backends",), "membership"),
        RefSpec("llm.fallbacks[].backend", ("backends",), "membership"),
        RefSpec("transcription.fallbacks[].backend", ("backends",), "membership"),
        RefSpec("tts.fallbacks[].backend", ("backends",), "membership"),
        RefSpec("mcpServers[]", ("mcpServers",), "membership"),
        RefSpec("skills[]", ("skills",), "membership"),
    )
    sensitive: ClassVar[tuple[str, ...]] = ("llm.headers.*", "a2a.remote.token")
    secret_urls: ClassVar[tuple[str, ...]] = ("a2a.remote.url",)
    bound: ClassVar[dict[str, tuple[str, ...]]] = {
        "llm.headers.*": ("llm.backend",), "a2a.remote.token": ("a2a.remote.url",)}
    magec_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"name", "description", "systemPrompt", "outputKey", "llm", "transcription", "tts", "mcpServers",
         "skills", "tags", "contextGuard", "a2a"}
    )
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    system_prompt: str = Field(default="", max_length=MAX_PROMPT)
    output_key: str = ""
    llm: BackendRef = Field(default_factory=BackendRef)
    transcription: VoiceRef = Field(default_factory=VoiceRef)
    tts: TtsRef = Field(default_factory=TtsRef)
    mcp_servers: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    context_guard: ContextGuard = Field(default_factory=ContextGuard)
    budget: Budget | None = None
    a2a: AgentA2a = Field(default_factory=AgentA2a, alias="a2a")
    #: secrets (keys, or ids as Magec's UI stores them) this agent's tool calls may use as
    #: ``{{secret:KEY}}``; ``allowAllSecrets`` = every secret (magec.agents.secrets)
    secrets: list[str] = Field(default_factory=list)
    allow_all_secrets: bool = False
    #: secret key -> the only tools (names as offered to the model) its value is filled into; a
    #: key absent here may be used with any tool (Magec's behaviour). Least privilege: a client
    #: can ask the model to put a placeholder into any tool call (docs/artifacts.md)
    secret_tools: dict[str, list[str]] = Field(default_factory=dict)
    #: an intermediate Magec UI's per-agent ``memory: {session, longTerm}``: kept as imported, not
    #: used (memory providers come from settings, as in Magec's shipped model)
    memory: dict[str, str] = Field(default_factory=dict)

    @field_validator("output_key")
    @classmethod
    def _output_key(cls, v: str) -> str:
        if v and not _OUTPUT_KEY.match(v):
            raise ValueError("outputKey must match ^[A-Za-z_][A-Za-z0-9_]*$")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        return [t.strip().lower() for t in v if t.strip()]

    @field_validator("secret_tools")
    @classmethod
    def _secret_tools(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(v) > 200:
            raise ValueError("at most 200 secrets")
        out: dict[str, list[str]] = {}
        for key, tools in v.items():
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
                raise ValueError(f"{key!r} is not a secret key (capital letters, digits and _)")
            names = list(dict.fromkeys(t.strip() for t in tools if t.strip()))
            if not names:
                raise ValueError(f"{key}: name at least one tool (<MCP server>/<tool>), or leave the secret out")
            if len(names) > 100 or any(len(t) > MAX_NAME for t in names):
                raise ValueError(f"{key}: at most 100 tool names of at most {MAX_NAME} characters")
            out[key] = names
        return out


class MemoryProvider(Resource):
    kind: ClassVar[str] = "memoryProviders"
    path: ClassVar[str] = "memory"
    singular: ClassVar[str] = "memoryProvider"
    references: ClassVar[tuple[RefSpec, ...]] = (
        RefSpec("embedding.backend", ("backends",), "structural"),
        RefSpec("embedding.fallbacks[].backend", ("backends",), "membership"),
    )
    sensitive: ClassVar[tuple[str, ...]] = ("config.connectionString", "embedding.headers.*")
    bound: ClassVar[dict[str, tuple[str, ...]]] = {"embedding.headers.*": ("embedding.backend",)}
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"name", "type", "category", "config", "embedding"})
    type: str
    category: Literal["session", "longterm"]
    config: dict[str, Any] = Field(default_factory=dict)
    embedding: BackendRef = Field(default_factory=BackendRef)


class McpServer(Resource):
    kind: ClassVar[str] = "mcpServers"
    path: ClassVar[str] = "mcps"
    singular: ClassVar[str] = "mcpServer"
    sensitive: ClassVar[tuple[str, ...]] = ("headers.*", "env.*")
    secret_urls: ClassVar[tuple[str, ...]] = ("endpoint",)
    bound: ClassVar[dict[str, tuple[str, ...]]] = {"headers.*": ("endpoint",)}
    # Magec's UI edits neither ``env`` (write-only here anyway) nor ``workDir``: both are kept
    magec_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"name", "type", "endpoint", "headers", "insecure", "command", "args", "systemPrompt"}
    )
    type: Literal["http", "stdio"] = "http"
    # validated even when absent (the required check): a field's own validator, so a 400 names
    # ``endpoint`` / ``command`` and the Admin UI puts it under that field
    endpoint: str = Field(default="", validate_default=True)
    headers: dict[str, str] = Field(default_factory=dict)
    insecure: bool = False
    command: str = Field(default="", validate_default=True)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    work_dir: str = ""
    system_prompt: str = Field(default="", max_length=MAX_PROMPT)

    @field_validator("type", mode="before")
    @classmethod
    def _default_type(cls, v: Any) -> Any:
        return v or "http"

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str, info: ValidationInfo) -> str:
        """Required for http servers, and a URL a client can open: ``localhost:3000/mcp`` was saved
        and failed on every turn of every agent using it."""
        v = v.strip()
        if info.data.get("type", "http") != "http":
            return v
        if not v:
            raise ValueError("is required for http MCP servers")
        problem = http_url_problem(v)
        if problem:
            raise ValueError(f"endpoint {problem}")
        return v

    @field_validator("command")
    @classmethod
    def _command(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("type") == "stdio" and not v.strip():
            raise ValueError("is required for stdio MCP servers")
        return v


class Client(Resource):
    kind: ClassVar[str] = "clients"
    path: ClassVar[str] = "clients"
    singular: ClassVar[str] = "client"
    hidden: ClassVar[tuple[str, ...]] = ("tokenHash",)
    bookkeeping: ClassVar[tuple[str, ...]] = ("tokenHash", "tokenPreview")
    references: ClassVar[tuple[RefSpec, ...]] = (
        RefSpec("allowedAgents[]", AGENT_OR_FLOW, "membership"),
        RefSpec("config.*.defaultAgent", AGENT_OR_FLOW, "membership"),
        RefSpec("config.*.commandId", ("commands",), "structural"),
    )
    # the ``x-format: password`` fields of :mod:`magec.clients.types` (a test pins they agree);
    # a bot token is only ever sent to the API base URL it was saved with
    sensitive: ClassVar[tuple[str, ...]] = (
        "config.telegram.botToken",
        "config.slack.botToken",
        "config.slack.appToken",
        "config.slack.signingSecret",
        "config.discord.botToken",
        "config.webhook.signingSecret",
    )
    # a bot API base behind a proxy may carry credentials (``https://user:pass@host``, ``?key=``):
    # encrypted whole and shown masked, as a backend's url (a token in its path is refused:
    # magec.clients.rules)
    secret_urls: ClassVar[tuple[str, ...]] = (
        "config.telegram.apiBaseUrl", "config.slack.apiBaseUrl", "config.discord.apiBaseUrl",
    )
    bound: ClassVar[dict[str, tuple[str, ...]]] = {
        "config.telegram.botToken": ("config.telegram.apiBaseUrl",),
        "config.slack.botToken": ("config.slack.apiBaseUrl",),
        "config.slack.appToken": ("config.slack.apiBaseUrl",),
        "config.discord.botToken": ("config.discord.apiBaseUrl",),
    }
    magec_fields: ClassVar[frozenset[str] | None] = frozenset(
        {"name", "type", "token", "allowedAgents", "enabled", "config"}
    )
    type: Literal["direct", "telegram", "slack", "discord", "webhook", "cron"] = "direct"
    token: str = ""
    allowed_agents: list[str] = Field(default_factory=list)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    budget: Budget | None = None


class Command(Resource):
    kind: ClassVar[str] = "commands"
    path: ClassVar[str] = "commands"
    singular: ClassVar[str] = "command"
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"name", "description", "prompt"})
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    prompt: str = Field(default="", max_length=MAX_PROMPT)


_SECRET_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Secret(Resource):
    kind: ClassVar[str] = "secrets"
    path: ClassVar[str] = "secrets"
    singular: ClassVar[str] = "secret"
    # redact_for_api turns ``value`` into ``valueSet``; a secret's value is never shown, not even set-ness
    hidden: ClassVar[tuple[str, ...]] = ("value", "valueSet")
    sensitive: ClassVar[tuple[str, ...]] = ("value",)
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"name", "key", "value", "description"})
    key: str = Field(max_length=MAX_NAME)
    value: str = ""
    description: str = Field(default="", max_length=MAX_DESCRIPTION)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str) -> str:
        v = v.strip()
        if not _SECRET_KEY.match(v):
            raise ValueError("key must be UPPER_SNAKE_CASE (e.g. OPENAI_API_KEY)")
        return v


#: every resource kind, by store key, in Admin API route order. A new kind is one model above + one
#: entry here (+ its rules where its owner is wired, + its UI page).
KINDS: dict[str, type[Resource]] = {
    m.kind: m for m in (Backend, MemoryProvider, McpServer, Skill, Agent, Client, Command, Flow, Secret)
}
#: Admin API URL segment -> kind
BY_PATH: dict[str, str] = {m.path: kind for kind, m in KINDS.items()}
_BY_SINGULAR: dict[str, str] = {m.singular: kind for kind, m in KINDS.items()}


def singular(kind: str) -> str:
    """``memoryProviders`` -> ``memoryProvider``; anything else (``settings``) unchanged."""
    model = KINDS.get(kind)
    return model.singular if model is not None else kind


def plural(name: str) -> str:
    """The inverse of :func:`singular`."""
    return _BY_SINGULAR.get(name, name)
