"""Infrastructure settings: ports, admin password, encryption key, database URL, logging.

Read once at start-up from an optional ``config.yaml`` (Magec's format plus our ``database`` and
``dataDir``) and from ``MAGEC_*`` environment variables (which win), then passed down explicitly —
there are no module-level globals. ``${VAR}`` and ``${VAR:-default}`` are expanded in the YAML text.

```yaml
server: {host: 0.0.0.0, port: 8080, adminPort: 8081, adminPassword: ${MAGEC_ADMIN_PASSWORD},
         encryptionKey: ${MAGEC_ENCRYPTION_KEY}, publicURL: https://magec.example.com}
log: {level: info, format: console}        # debug|info|warn|error ; console|json
database: {url: sqlite+aiosqlite:///data/magec.db}
dataDir: ./data
limits: {uploadBytes: 26214400}
```
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from magec.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replace ``${VAR}`` (empty if unset) and ``${VAR:-default}`` (default if unset or empty)."""
    source = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        value = source.get(m.group(1), "")
        if not value and m.group(2) is not None:
            return m.group(2)
        return value

    return _VAR.sub(sub, text)


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
    rebuild_debounce_ms: int = 10

    def resolved_database_url(self) -> str:
        """The database URL; the embedded default is a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'magec.db').resolve()}"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://localhost:{self.port}"


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from e


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``path`` (or ``$MAGEC_CONFIG``), then ``MAGEC_*`` env vars.

    A missing explicit path is an error; no path at all means defaults (SQLite under ``./data``).
    """
    env = dict(os.environ) if env is None else env
    path = path or env.get("MAGEC_CONFIG") or None
    raw: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(expand_env(p.read_text(), env)) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {p} is not valid YAML: {e}") from e
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must contain a mapping")
        raw = loaded
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
    cfg.log_level = str(log.get("level", cfg.log_level))
    cfg.log_format = str(log.get("format", cfg.log_format))
    cfg.database_url = str(database.get("url") or "")
    cfg.data_dir = Path(str(raw.get("dataDir") or cfg.data_dir))
    if "uploadBytes" in limits:
        cfg.upload_limit_bytes = _int(limits["uploadBytes"], "limits.uploadBytes")

    overrides = {
        "MAGEC_HOST": ("host", str),
        "MAGEC_PORT": ("port", int),
        "MAGEC_ADMIN_PORT": ("admin_port", int),
        "MAGEC_ADMIN_PASSWORD": ("admin_password", str),
        "MAGEC_ENCRYPTION_KEY": ("encryption_key", str),
        "MAGEC_PUBLIC_URL": ("public_url", str),
        "MAGEC_LOG_LEVEL": ("log_level", str),
        "MAGEC_LOG_FORMAT": ("log_format", str),
        "MAGEC_DATABASE_URL": ("database_url", str),
        "MAGEC_DATA_DIR": ("data_dir", Path),
    }
    for var, (attr, conv) in overrides.items():
        if env.get(var):
            value = env[var]
            setattr(cfg, attr, _int(value, var) if conv is int else conv(value))
    if cfg.log_level not in {"debug", "info", "warn", "warning", "error"}:
        raise ConfigError(f"log.level must be one of debug, info, warn, error; got {cfg.log_level!r}")
    if cfg.log_format not in {"console", "json"}:
        raise ConfigError(f"log.format must be console or json; got {cfg.log_format!r}")
    return cfg
