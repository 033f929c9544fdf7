"""Infrastructure settings: ports, admin password, encryption key, database URL, logging.

Read once at start-up from an optional ``config.yaml`` (Magec's format plus our ``database`` and
``dataDir``) and from ``MAGEC_*`` environment variables (which win), then passed down explicitly —
there are no module-level globals. ``${VAR}`` and ``${VAR:-default}`` are expanded inside the
parsed YAML's string values (:func:`expand_tree`), so a value is never read as YAML syntax: a
password like ``*x&y: #1`` or ``012345`` arrives exactly as set. Config errors never show a
substituted value (they show the ``${VAR}`` it came from).

```yaml
server: {host: 0.0.0.0, port: 8080, adminPort: 8081, adminPassword: ${MAGEC_ADMIN_PASSWORD},
         encryptionKey: ${MAGEC_ENCRYPTION_KEY}, publicURL: https://magec.example.com,
         adminHost: 127.0.0.1, openAccess: local, allowClientFileURIs: false, shutdownGrace: 15, allowedHosts: [], corsOrigins: [], adminOrigins: [],
         trustedProxies: [], metricsToken: ${MAGEC_METRICS_TOKEN}, keepAlive: 120,
         headerTimeout: 60, bodyTimeout: 60, streamPing: 15,
         mcp: {enabled: false, port: 8082, host: 127.0.0.1}}   # the Admin API as MCP tools (docs/admin-mcp.md)
log: {level: info, format: console}        # debug|info|warn|error ; console|json
database: {url: sqlite+aiosqlite:///data/magec.db}
dataDir: ./data
limits: {uploadBytes: 26214400, bodyBytes: 2097152, backupBytes: 524288000, sessionCacheBytes: 67108864,
         maxSessionBytesPerClient: 5368709120, maxSessionBytes: 33554432, maxMemoriesPerUser: 10000,
         maxMemoriesPerClient: 500000, maxImportEvents: 10000, maxMessages: 20000}
artifacts: {maxBytes: 10485760, maxPerSession: 200, maxSessionBytes: 104857600,   # docs/artifacts.md
            maxUserBytes: 1073741824, maxClientBytes: 5368709120, urlTTL: 3600, agentTools: false}
voice:                                     # docs/voice.md
  ui: {enabled: true, dir: ""}             # the Voice UI at / on the user port (dir: serve another build)
  events: {enabled: true, maxConnections: 20, wakewords: [hey_mycroft, okay_nabu, alexa, hey_jarvis],
           wakeword: hey_mycroft, threshold: 0, vadThreshold: 0.5, silenceTimeout: 2000}
```
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from magec.errors import ConfigError

#: ``${VAR}`` or ``${VAR:-default}``: group 1 is the name, group 2 the default (``None`` if absent)
VAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_vars(text: str, *sources: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` with its value in the first of ``sources`` that has it (empty when none
    does) and ``${VAR:-default}`` with ``default`` when that value is unset or empty.

    The one ``${VAR}`` expander: config files use the environment, stored resources their secrets
    and then the environment (the store snapshot)."""

    def sub(m: re.Match[str]) -> str:
        value = ""
        for source in sources:
            found = source.get(m.group(1))
            if found is not None:
                value = found
                break
        if not value and m.group(2) is not None:
            return m.group(2)
        return value

    return VAR_REF.sub(sub, text)


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` (empty if unset) and ``${VAR:-default}`` (default if unset or empty)."""
    return expand_vars(text, os.environ if env is None else env)


def expand_tree(node: Any, env: Mapping[str, str], used: dict[str, str]) -> Any:
    """``node`` (parsed YAML) with ``${VAR}`` / ``${VAR:-default}`` expanded in its string values
    (not its keys). A value that is exactly one reference becomes the variable's text verbatim (a
    string; the settings below convert it as they do any string); ``used`` maps each substituted
    result to the text it came from, for :func:`_hide_values`."""
    if isinstance(node, dict):
        return {k: expand_tree(v, env, used) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_tree(v, env, used) for v in node]
    if isinstance(node, str) and VAR_REF.search(node):
        value = expand_vars(node, env)
        if value:
            used[value] = node
        return value
    return node


def _hide_values(message: str, used: dict[str, str]) -> str:
    """``message`` with every substituted value replaced by the ``${VAR}`` text it came from:
    quoted (as ``{value!r}`` shows it) anywhere, bare when long enough not to hit ordinary words."""
    for value in sorted(used, key=len, reverse=True):
        message = message.replace(repr(value), repr(used[value]))
        if len(value) >= 4:
            message = message.replace(value, used[value])
    return message


def _yaml_error(path: Path, e: yaml.YAMLError) -> ConfigError:
    """A YAML syntax error as a one-line config error: what and where, without the offending line
    (which may hold a literal password)."""
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    what = " ".join(str(part) for part in (getattr(e, "context", None), getattr(e, "problem", None)) if part)
    return ConfigError(f"config file {path} is not valid YAML: {what or type(e).__name__}{where}")


#: wake word models shipped by pymicro-wakeword (ids of its built-in models)
WAKEWORD_MODELS = ("hey_mycroft", "okay_nabu", "alexa", "hey_jarvis")


@dataclass
class RealtimeVoiceConfig:
    """``voice.events``: the realtime voice channel (wake word + VAD), see docs/voice.md."""

    enabled: bool = True
    #: concurrent listening connections; one more is refused with an ``error`` message
    max_connections: int = 20
    #: of those, at most this many per client token (None: half of ``max_connections``, rounded
    #: up), so one client cannot hold the whole channel and lock every other device out
    max_connections_per_client: int | None = None
    #: the wake word models offered to clients (``capabilities.wakewords.models``)
    wakewords: list[str] = field(default_factory=lambda: list(WAKEWORD_MODELS))
    #: the model active on connect
    wakeword: str = "hey_mycroft"
    #: wake word probability cut-off; 0 = each model's own
    threshold: float = 0.0
    #: speech probability above which a 10 ms frame is speech
    vad_threshold: float = 0.5
    #: milliseconds of silence that end speech (``speech_end``)
    silence_timeout_ms: int = 2000


@dataclass
class Config:
    host: str = "0.0.0.0"
    port: int = 8080
    admin_port: int = 8081
    admin_password: str = ""
    encryption_key: str = ""
    public_url: str = ""
    log_level: str = "info"
    log_format: str = "console"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    database_url: str = ""
    upload_limit_bytes: int = 25 * 1024 * 1024
    #: every request body except voice uploads (JSON: resources, runs, chat incl. inline images)
    max_body_bytes: int = 2 * 1024 * 1024
    #: ``limits.bodyBytesInFlight``: request bodies the user app holds at once, all requests together
    #: (:class:`magec.api.limits.BodyBudget`); 0: four times ``uploadBytes``
    body_bytes_in_flight: int = 0
    #: ``limits.backupBytes``: a restore upload (``POST /settings/restore``; Magec's 500 MB)
    backup_limit_bytes: int = 500 * 1024 * 1024
    #: ``limits.sessionCacheBytes``: parsed session events kept between turns, by their stored JSON
    #: (magec.memory.event_cache); 0 keeps none (every turn re-reads its session)
    session_cache_bytes: int = 64 * 1024 * 1024
    #: ``limits.maxRuns`` / ``maxRunsPerClient`` / ``maxRunsPerBackend``: concurrent turns admitted
    #: (0 = no limit; :mod:`magec.runtime.admission`)
    max_runs: int = 1024
    max_runs_per_client: int = 0
    max_runs_per_backend: int = 0
    #: ``limits.maxSessionBytesPerClient``: stored conversations of one client (its sessions'
    #: events) beyond which its turns are refused (413; magec.memory.session_quota); 0 = no limit
    max_session_bytes_per_client: int = 5 * 1024 * 1024 * 1024
    #: ``limits.maxSessionBytes``: stored size of one client session beyond which its turns and
    #: state writes are refused (413; magec.memory.session_quota): every read, turn and PATCH of a
    #: session materialises it whole; 0 = no limit
    max_session_bytes: int = 32 * 1024 * 1024
    #: ``limits.maxMemoriesPerUser``: long-term memories one user may have with one agent; a save
    #: beyond it is refused to the model (magec.memory.tools); 0 = no limit
    max_memories_per_user: int = 10_000
    #: ``limits.maxMemoriesPerClient``: long-term memories all users of one client may have with
    #: all agents (a client names its users freely); a save beyond it is refused to the model; 0 = no limit
    max_memories_per_client: int = 500_000
    #: ``limits.maxImportEvents``: events one request may import into a session (``POST
    #: …/sessions`` with ``events``); beyond it the request is refused (400 ``events``); 0 = no limit
    max_import_events: int = 10_000
    #: ``limits.maxMessages``: messages (input items) one ``/v1/chat/completions`` or
    #: ``/v1/responses`` request may hold; beyond it the request is refused (400 naming
    #: ``messages``/``input``; magec.api.counts); 0 = no limit
    max_messages: int = 20_000
    #: ``database.poolSize`` (connections per process; 0 = sized from ``limits.maxRuns``) and
    #: ``database.poolTimeout`` (seconds a request waits for one, then 503): magec.store.pool
    db_pool_size: int = 0
    db_pool_timeout: float = 10.0
    #: ``server.mcp.*``: the admin MCP server (docs/admin-mcp.md); host "" = like the admin app
    mcp_enabled: bool = False
    mcp_port: int = 8082
    mcp_host: str = ""
    #: where the admin app listens; "" = ``host`` when an admin password is set, else loopback
    admin_host: str = ""
    #: ``server.openAccess``: who may use the user API while no client exists (it needs no token
    #: then): ``local`` (default) — only this machine (a loopback peer); ``network`` — anyone
    open_access: str = "local"
    #: ``server.allowClientFileURIs``: pass files clients name by URI on to Gemini backends, which fetch
    #: them with the install's key; off: refused (400; magec.api.file_uris)
    allow_client_file_uris: bool = False
    #: ``server.shutdownGrace``: seconds a stopping server lets accepted background runs (webhook
    #: runs answered 202) finish before it cancels them and tells their callbacks to send again
    shutdown_grace: int = 15
    #: extra ``Host`` header names accepted on both apps (DNS rebinding defence; ``*`` = any)
    allowed_hosts: list[str] = field(default_factory=list)
    #: browser origins allowed cross-origin on the user app (CORS + state-changing requests)
    cors_origins: list[str] = field(default_factory=list)
    #: browser origins allowed cross-origin on the admin app (default: same-origin only)
    admin_origins: list[str] = field(default_factory=list)
    #: peers (IPs or CIDRs) whose ``X-Forwarded-For`` is believed
    trusted_proxies: list[str] = field(default_factory=list)
    #: when set, ``/metrics`` on both ports needs ``Authorization: Bearer <metricsToken>``
    metrics_token: str = ""
    #: ``server.keepAlive``: seconds an idle keep-alive connection stays open. Longer than the
    #: pooled HTTP clients keep one (httpx and the openai SDKs 5 s, aiohttp 15 s, Go 90 s): a
    #: server that closes first races a client reusing the connection — its request lands on a
    #: closed socket and the client gets a reset (uvicorn's own default, 5 s, equals httpx's)
    keep_alive: int = 120
    #: ``server.headerTimeout`` / ``server.bodyTimeout``: seconds a client has for a request's whole
    #: head, and the longest silence inside its body (the slow-client defence, magec.api.slow_clients)
    header_timeout: int = 60
    body_timeout: int = 60
    #: ``server.streamPing``: seconds of silence after which an event stream sends a ``: ping``
    #: comment (and a silent OpenAI-shaped stream opens with one); below a proxy's idle timeout
    stream_ping: int = 15
    #: seconds between live backend health checks (model listing; ``server.healthInterval``)
    health_interval: float = 30.0
    #: consecutive backend faults that open a backend's circuit breaker (``server.breakerFailures``)
    breaker_failures: int = 5
    #: seconds an open breaker refuses calls before one probe call (``server.breakerCooldown``)
    breaker_cooldown: float = 30.0
    #: ``voice.ui.enabled``: serve the Voice UI at ``/`` on the user port
    voice_ui_enabled: bool = True
    #: ``voice.ui.dir``: serve this folder (a built web app, e.g. Magec's own Voice UI) instead
    voice_ui_dir: str = ""
    #: ``voice.events``: the realtime voice channel
    voice_events: RealtimeVoiceConfig = field(default_factory=RealtimeVoiceConfig)
    #: ``artifacts.*`` (docs/artifacts.md): one version's size, versions and bytes per session,
    #: bytes per user and per client, download URL lifetime (s), and whether every agent gets the
    #: artifact tools
    artifact_max_bytes: int = 10 * 1024 * 1024
    artifact_max_per_session: int = 200
    artifact_max_session_bytes: int = 100 * 1024 * 1024
    artifact_max_user_bytes: int = 1024 * 1024 * 1024
    artifact_max_client_bytes: int = 5 * 1024 * 1024 * 1024
    artifact_url_ttl: float = 3600.0
    artifact_agent_tools: bool = False
    #: ``server.workers`` (``MAGEC_WORKERS``, ``magec serve --workers``): processes serving the
    #: same ports (magec.workers, docs/scaling.md)
    workers: int = 1
    #: set by the worker supervisor in each worker process (0 = the one running per-host jobs)
    worker_index: int = 0

    def resolved_database_url(self) -> str:
        """The database URL; the embedded default is a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'magec.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://localhost:{self.port}"

    def admin_bind_host(self) -> str:
        """The admin app's listen address; refuses a non-loopback one without an admin password.

        Without a password whoever reaches the admin port can start processes (stdio MCP servers),
        so it stays on loopback unless the operator both sets a password and asks for more.
        """
        host = self.admin_host or (self.host if self.admin_password else "127.0.0.1")
        if not self.admin_password and not is_loopback_host(host):
            raise ConfigError(
                f"refusing to expose the Admin API on {host!r} without an admin password: set "
                "server.adminPassword (MAGEC_ADMIN_PASSWORD), or bind it to loopback with "
                "server.adminHost: 127.0.0.1 (MAGEC_ADMIN_HOST)"
            )
        return host

    def mcp_bind_host(self) -> str:
        """The admin MCP server's listen address: the admin app's rule (loopback unless an admin
        password is set; a non-loopback address without a password is refused)."""
        host = self.mcp_host or (self.host if self.admin_password else "127.0.0.1")
        if not self.admin_password and not is_loopback_host(host):
            raise ConfigError(
                f"refusing to expose the admin MCP server on {host!r} without an admin password: set "
                "server.adminPassword (MAGEC_ADMIN_PASSWORD), or bind it to loopback with "
                "server.mcp.host: 127.0.0.1 (MAGEC_MCP_HOST)"
            )
        return host


def http_address(host: str, port: int | str, path: str = "") -> str:
    """``http://host:port`` as a browser takes it: an IPv6 host in brackets (``http://[::]:8080``)."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}{path}"


def listen_address(host: str, port: int | str, path: str = "") -> str:
    """Where a server listening on ``host`` is opened, for the start-up log: a wildcard address
    (``0.0.0.0``, ``::``) is no URL to browse to (browsers block ``0.0.0.0``), so it is given as
    ``http://localhost:PORT (every interface: 0.0.0.0)``."""
    bare = host.strip().strip("[]")
    if bare in ("", "0.0.0.0", "::"):
        return f"{http_address('localhost', port, path)} (every interface: {bare or '0.0.0.0'})"
    return http_address(host, port, path)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (``0.0.0.0``/``::`` are *not* loopback)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _list(value: Any, name: str) -> list[str]:
    """A YAML list or a comma-separated string (the form environment variables take)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    raise ConfigError(f"{name} must be a list of strings (or a comma-separated string), got {value!r}")


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from e


def _float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be a number, got {value!r}") from e


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _voice_ui_dir(raw: Any, env: Mapping[str, str]) -> str:
    """``voice.ui.dir`` (``MAGEC_VOICE_UI_DIR``): a folder with an ``index.html``, or ""."""
    ui = (raw or {}).get("ui") if isinstance(raw, dict) else None
    value = str(env.get("MAGEC_VOICE_UI_DIR") or (ui or {}).get("dir") or "")
    if value and not (Path(value) / "index.html").is_file():
        raise ConfigError(f"voice.ui.dir: {value!r} has no index.html")
    return value


def _voice(raw: Any, env: Mapping[str, str]) -> tuple[bool, RealtimeVoiceConfig]:
    """``voice.ui.enabled`` and ``voice.events`` (YAML, then ``MAGEC_VOICE_*``), validated."""
    voice = raw if isinstance(raw, dict) else {}
    ui = voice.get("ui") or {}
    ev = voice.get("events") or {}
    if not isinstance(ui, dict) or not isinstance(ev, dict):
        raise ConfigError("voice.ui and voice.events must be mappings")
    ui_enabled = _bool(env.get("MAGEC_VOICE_UI_ENABLED") or ui.get("enabled", True), "voice.ui.enabled")
    rt = RealtimeVoiceConfig()
    rt.enabled = _bool(env.get("MAGEC_VOICE_EVENTS_ENABLED") or ev.get("enabled", True), "voice.events.enabled")
    rt.max_connections = _int(
        env.get("MAGEC_VOICE_MAX_CONNECTIONS") or ev.get("maxConnections", rt.max_connections),
        "voice.events.maxConnections",
    )
    per_client = env.get("MAGEC_VOICE_MAX_CONNECTIONS_PER_CLIENT") or ev.get("maxConnectionsPerClient")
    if per_client is not None:
        rt.max_connections_per_client = _int(per_client, "voice.events.maxConnectionsPerClient")
    rt.wakewords = _list(env.get("MAGEC_VOICE_WAKEWORDS") or ev.get("wakewords"), "voice.events.wakewords") or list(
        WAKEWORD_MODELS
    )
    rt.wakeword = str(env.get("MAGEC_VOICE_WAKEWORD") or ev.get("wakeword") or rt.wakewords[0])
    try:
        rt.threshold = float(env.get("MAGEC_VOICE_WAKEWORD_THRESHOLD") or ev.get("threshold", 0.0))
        rt.vad_threshold = float(env.get("MAGEC_VOICE_VAD_THRESHOLD") or ev.get("vadThreshold", rt.vad_threshold))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"voice.events.threshold and vadThreshold must be numbers: {e}") from e
    rt.silence_timeout_ms = _int(
        env.get("MAGEC_VOICE_SILENCE_TIMEOUT") or ev.get("silenceTimeout", rt.silence_timeout_ms),
        "voice.events.silenceTimeout",
    )
    unknown = [w for w in rt.wakewords if w not in WAKEWORD_MODELS]
    if unknown:
        raise ConfigError(
            f"voice.events.wakewords: unknown model(s) {', '.join(unknown)}; available: {', '.join(WAKEWORD_MODELS)}"
        )
    if rt.wakeword not in rt.wakewords:
        raise ConfigError(f"voice.events.wakeword: {rt.wakeword!r} is not one of voice.events.wakewords")
    if not 0 <= rt.threshold < 1 or not 0 < rt.vad_threshold < 1:
        raise ConfigError("voice.events.threshold must be in [0, 1) and vadThreshold in (0, 1)")
    if not 100 <= rt.silence_timeout_ms <= 30000:
        raise ConfigError("voice.events.silenceTimeout must be between 100 and 30000 milliseconds")
    if rt.max_connections < 0:
        raise ConfigError("voice.events.maxConnections must be 0 or more")
    if rt.max_connections_per_client is not None and rt.max_connections_per_client < 1:
        raise ConfigError("voice.events.maxConnectionsPerClient must be 1 or more")
    return ui_enabled, rt


def _artifacts(cfg: Config, raw: Any) -> None:
    if not isinstance(raw, dict):
        raise ConfigError("artifacts: must be a mapping")
    for key, attr in (("maxBytes", "artifact_max_bytes"), ("maxPerSession", "artifact_max_per_session"),
                      ("maxSessionBytes", "artifact_max_session_bytes"), ("maxUserBytes", "artifact_max_user_bytes"),
                      ("maxClientBytes", "artifact_max_client_bytes")):
        if key in raw:
            value = _int(raw[key], f"artifacts.{key}")
            if value < 1:
                raise ConfigError(f"artifacts.{key} must be at least 1")
            setattr(cfg, attr, value)
    if "urlTTL" in raw:
        cfg.artifact_url_ttl = float(_int(raw["urlTTL"], "artifacts.urlTTL"))
        if cfg.artifact_url_ttl < 1:
            raise ConfigError("artifacts.urlTTL must be at least 1 (seconds)")
    if "agentTools" in raw:
        cfg.artifact_agent_tools = _bool(raw["agentTools"], "artifacts.agentTools")


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``path`` (or ``$MAGEC_CONFIG``), then ``MAGEC_*`` env vars.

    A missing explicit path is an error; no path at all means defaults (SQLite under ``./data``).
    """
    env = dict(os.environ) if env is None else env
    path = path or env.get("MAGEC_CONFIG") or None
    raw: dict[str, Any] = {}
    used: dict[str, str] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise _yaml_error(p, e) from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must contain a mapping")
        raw = expand_tree(loaded, env, used)
    try:
        return _settings(raw, env)
    except ConfigError as e:
        raise ConfigError(_hide_values(str(e), used)) from None


def _settings(raw: dict[str, Any], env: Mapping[str, str]) -> Config:
    """The :class:`Config` of the parsed, expanded file ``raw`` and the ``MAGEC_*`` overrides."""
    server = raw.get("server") or {}
    log = raw.get("log") or {}
    database = raw.get("database") or {}
    limits = raw.get("limits") or {}
    cfg = Config()
    cfg.host = str(server.get("host", cfg.host))
    cfg.port = _int(server.get("port", cfg.port), "server.port")
    cfg.admin_port = _int(server.get("adminPort", cfg.admin_port), "server.adminPort")
    cfg.admin_password = str(server.get("adminPassword") or "")
    cfg.encryption_key = str(server.get("encryptionKey") or "")
    cfg.public_url = str(server.get("publicURL") or "")
    cfg.admin_host = str(server.get("adminHost") or "")
    cfg.metrics_token = str(server.get("metricsToken") or "")
    cfg.allowed_hosts = _list(server.get("allowedHosts"), "server.allowedHosts")
    cfg.open_access = str(server.get("openAccess") or cfg.open_access)
    cfg.allow_client_file_uris = _bool(env.get("MAGEC_ALLOW_CLIENT_FILE_URIS") or server.get("allowClientFileURIs", False), "server.allowClientFileURIs")  # fmt: skip
    cfg.shutdown_grace = _int(server.get("shutdownGrace", cfg.shutdown_grace), "server.shutdownGrace")
    cfg.cors_origins = _list(server.get("corsOrigins"), "server.corsOrigins")
    cfg.admin_origins = _list(server.get("adminOrigins"), "server.adminOrigins")
    cfg.trusted_proxies = _list(server.get("trustedProxies"), "server.trustedProxies")
    cfg.health_interval = _float(server.get("healthInterval", cfg.health_interval), "server.healthInterval")
    cfg.breaker_failures = _int(server.get("breakerFailures", cfg.breaker_failures), "server.breakerFailures")
    cfg.breaker_cooldown = _float(server.get("breakerCooldown", cfg.breaker_cooldown), "server.breakerCooldown")
    cfg.workers = _int(server.get("workers", cfg.workers), "server.workers")
    cfg.keep_alive = _int(server.get("keepAlive", cfg.keep_alive), "server.keepAlive")
    cfg.header_timeout = _int(server.get("headerTimeout", cfg.header_timeout), "server.headerTimeout")
    cfg.body_timeout = _int(server.get("bodyTimeout", cfg.body_timeout), "server.bodyTimeout")
    cfg.stream_ping = _int(server.get("streamPing", cfg.stream_ping), "server.streamPing")
    cfg.log_level = str(log.get("level", cfg.log_level))
    cfg.log_format = str(log.get("format", cfg.log_format))
    cfg.database_url = str(database.get("url") or "")
    cfg.db_pool_size = _int(database.get("poolSize", cfg.db_pool_size), "database.poolSize")
    cfg.db_pool_timeout = _float(database.get("poolTimeout", cfg.db_pool_timeout), "database.poolTimeout")
    cfg.data_dir = Path(str(raw.get("dataDir") or cfg.data_dir))
    cfg.voice_ui_enabled, cfg.voice_events = _voice(raw.get("voice"), env)
    cfg.voice_ui_dir = _voice_ui_dir(raw.get("voice"), env)
    if "uploadBytes" in limits:
        cfg.upload_limit_bytes = _int(limits["uploadBytes"], "limits.uploadBytes")
    if "bodyBytes" in limits:
        cfg.max_body_bytes = _int(limits["bodyBytes"], "limits.bodyBytes")
    if "backupBytes" in limits:
        cfg.backup_limit_bytes = _int(limits["backupBytes"], "limits.backupBytes")
    if "bodyBytesInFlight" in limits:
        cfg.body_bytes_in_flight = _int(limits["bodyBytesInFlight"], "limits.bodyBytesInFlight")
    if "sessionCacheBytes" in limits:
        cfg.session_cache_bytes = _int(limits["sessionCacheBytes"], "limits.sessionCacheBytes")
    cfg.max_runs = _int(limits.get("maxRuns", cfg.max_runs), "limits.maxRuns")
    cfg.max_runs_per_client = _int(limits.get("maxRunsPerClient", 0), "limits.maxRunsPerClient")
    cfg.max_runs_per_backend = _int(limits.get("maxRunsPerBackend", 0), "limits.maxRunsPerBackend")
    cfg.max_session_bytes_per_client = _int(
        limits.get("maxSessionBytesPerClient", cfg.max_session_bytes_per_client), "limits.maxSessionBytesPerClient"
    )
    cfg.max_session_bytes = _int(limits.get("maxSessionBytes", cfg.max_session_bytes), "limits.maxSessionBytes")
    cfg.max_memories_per_user = _int(limits.get("maxMemoriesPerUser", cfg.max_memories_per_user),
                                     "limits.maxMemoriesPerUser")
    cfg.max_memories_per_client = _int(limits.get("maxMemoriesPerClient", cfg.max_memories_per_client),
                                       "limits.maxMemoriesPerClient")
    cfg.max_import_events = _int(limits.get("maxImportEvents", cfg.max_import_events), "limits.maxImportEvents")
    cfg.max_messages = _int(limits.get("maxMessages", cfg.max_messages), "limits.maxMessages")
    mcp = server.get("mcp") or {}
    if not isinstance(mcp, dict):
        raise ConfigError("server.mcp must be a mapping")
    cfg.mcp_enabled = _bool(env.get("MAGEC_MCP_ENABLED") or mcp.get("enabled", False), "server.mcp.enabled")
    cfg.mcp_port = _int(env.get("MAGEC_MCP_PORT") or mcp.get("port", cfg.mcp_port), "server.mcp.port")
    cfg.mcp_host = str(env.get("MAGEC_MCP_HOST") or mcp.get("host") or "")
    _artifacts(cfg, raw.get("artifacts") or {})

    overrides = {
        "MAGEC_HOST": ("host", str),
        "MAGEC_PORT": ("port", int),
        "MAGEC_ADMIN_PORT": ("admin_port", int),
        "MAGEC_ADMIN_PASSWORD": ("admin_password", str),
        "MAGEC_ENCRYPTION_KEY": ("encryption_key", str),
        "MAGEC_PUBLIC_URL": ("public_url", str),
        "MAGEC_ADMIN_HOST": ("admin_host", str),
        "MAGEC_METRICS_TOKEN": ("metrics_token", str),
        "MAGEC_LOG_LEVEL": ("log_level", str),
        "MAGEC_LOG_FORMAT": ("log_format", str),
        "MAGEC_DATABASE_URL": ("database_url", str),
        "MAGEC_DATA_DIR": ("data_dir", Path),
        "MAGEC_MAX_BODY_BYTES": ("max_body_bytes", int),
        "MAGEC_BACKUP_MAX_BYTES": ("backup_limit_bytes", int),
        "MAGEC_BODY_BYTES_IN_FLIGHT": ("body_bytes_in_flight", int),
        "MAGEC_SESSION_CACHE_BYTES": ("session_cache_bytes", int),
        "MAGEC_HEALTH_INTERVAL": ("health_interval", float),
        "MAGEC_BREAKER_FAILURES": ("breaker_failures", int),
        "MAGEC_BREAKER_COOLDOWN": ("breaker_cooldown", float),
        "MAGEC_WORKERS": ("workers", int),
        "MAGEC_KEEP_ALIVE": ("keep_alive", int),
        "MAGEC_HEADER_TIMEOUT": ("header_timeout", int),
        "MAGEC_BODY_TIMEOUT": ("body_timeout", int),
        "MAGEC_STREAM_PING": ("stream_ping", int),
        "MAGEC_OPEN_ACCESS": ("open_access", str),
        "MAGEC_SHUTDOWN_GRACE": ("shutdown_grace", int),
    }
    for var, (attr, conv) in overrides.items():
        if env.get(var):
            value = env[var]
            setattr(cfg, attr, _int(value, var) if conv is int else _float(value, var) if conv is float else conv(value))
    lists = {
        "MAGEC_ALLOWED_HOSTS": "allowed_hosts",
        "MAGEC_CORS_ORIGINS": "cors_origins",
        "MAGEC_ADMIN_ORIGINS": "admin_origins",
        "MAGEC_TRUSTED_PROXIES": "trusted_proxies",
    }
    for var, attr in lists.items():
        if env.get(var):
            setattr(cfg, attr, _list(env[var], var))
    for proxy in cfg.trusted_proxies:  # a typo here would silently distrust the real proxy
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"server.trustedProxies: {proxy!r} is not an IP address or CIDR") from None
    if cfg.max_body_bytes < 1024 or cfg.upload_limit_bytes < 1024:
        raise ConfigError("limits.bodyBytes and limits.uploadBytes must be at least 1024")
    if cfg.body_bytes_in_flight and cfg.body_bytes_in_flight < max(cfg.upload_limit_bytes, cfg.max_body_bytes):
        # a body allowed alone must fit: else every such request would be refused
        raise ConfigError(f"limits.bodyBytesInFlight must be 0 or at least limits.uploadBytes and limits.bodyBytes; "
                          f"got {cfg.body_bytes_in_flight}")
    if cfg.session_cache_bytes < 0:
        raise ConfigError(f"limits.sessionCacheBytes must be 0 or more; got {cfg.session_cache_bytes}")
    for name, amount in (("maxMemoriesPerUser", cfg.max_memories_per_user), ("maxMessages", cfg.max_messages),
                         ("maxMemoriesPerClient", cfg.max_memories_per_client), ("maxImportEvents", cfg.max_import_events),
                         ("maxSessionBytes", cfg.max_session_bytes), ("maxSessionBytesPerClient", cfg.max_session_bytes_per_client)):  # fmt: skip
        if amount < 0:
            raise ConfigError(f"limits.{name} must be 0 or more (0 = no limit); got {amount}")
    for name, seconds in (("keepAlive", cfg.keep_alive), ("headerTimeout", cfg.header_timeout),
                          ("bodyTimeout", cfg.body_timeout), ("streamPing", cfg.stream_ping)):  # fmt: skip
        if not 1 <= seconds <= 3600:
            raise ConfigError(f"server.{name} must be between 1 and 3600 seconds; got {seconds}")
    if not 0 <= cfg.shutdown_grace <= 3600:
        raise ConfigError(f"server.shutdownGrace must be between 0 and 3600 seconds; got {cfg.shutdown_grace}")
    if cfg.open_access not in ("local", "network"):
        raise ConfigError(f"server.openAccess must be local or network; got {cfg.open_access!r}")
    if not 1 <= cfg.workers <= 256:
        raise ConfigError(f"server.workers must be between 1 and 256; got {cfg.workers}")
    if cfg.log_level not in {"debug", "info", "warn", "warning", "error"}:
        raise ConfigError(f"log.level must be one of debug, info, warn, error; got {cfg.log_level!r}")
    if cfg.log_format not in {"console", "json"}:
        raise ConfigError(f"log.format must be console or json; got {cfg.log_format!r}")
    return cfg
