"""What ``magec import-magec`` did with every item: the import report, Magec's secret encryption, and
the check that no field of an imported item was dropped.

* :class:`ImportReport` — one :class:`ReportItem` per item of Magec's ``store.json`` (kind, id, name,
  ``imported`` / ``reenter`` / ``skipped`` and why), plus the fields of imported items that magec did
  not keep (``dropped``; expected empty) and top-level sections it does not know.
* :func:`decrypt_magec` — Magec encrypts secret values at rest (``enc:v1:``) with
  ``server.encryptionKey`` of its config: PBKDF2-HMAC-SHA256 (salt ``magec-secrets-v1``, 100,000
  rounds, 32 bytes) → AES-256-GCM, nonce prepended, base64. With that key the value is read and
  re-encrypted under magec's key; without it (or with a wrong one) the secret is imported without a
  value and reported ``reenter``.
* :func:`stdio_servers` and :func:`trust_notes` — what an imported store can *do* on this server,
  said plainly (``trusted`` in the report): each stdio MCP server's command line (it runs when an
  agent uses the server), and each client's Magec token and platform credentials (they keep
  working here). A ``store.json`` from elsewhere is code and credentials, not just settings.
* :func:`dropped_fields` — every non-empty field path of the Magec item that the stored record does
  not have (lists of objects by index), minus Magec's legacy forms magec stores elsewhere
  (:data:`MOVED`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from magec.resources import singular

MAGEC_PREFIX = "enc:v1:"
_SALT = b"magec-secrets-v1"
_ROUNDS = 100_000
_NONCE = 12

#: Magec field path (as flattened by :func:`_paths`) -> where magec keeps it instead
MOVED: dict[str, dict[str, str]] = {
    "clients": {"token": "tokenHash (the same token keeps working; stored hashed)"},
    "agents": {
        "tts.speed": "tts.config.openai.speed",
        "tts.languageCode": "tts.config.gemini.languageCode",
        "tts.temperature": "tts.config.gemini.temperature",
        "tts.stylePrompt": "tts.config.gemini.stylePrompt",
    },
    "flows": {"nodes[].defaultRoute": "the router's edge label 'otherwise'"},
}


@dataclass
class ReportItem:
    kind: str
    id: str
    name: str
    status: str  # imported | reenter | skipped
    detail: str = ""


@dataclass
class ImportReport:
    items: list[ReportItem] = field(default_factory=list)
    #: "<kind> <id>: <field path>" of imported items' fields magec did not keep (expected: none)
    dropped: list[str] = field(default_factory=list)
    #: top-level sections of store.json that no importer reads
    unknown_sections: list[str] = field(default_factory=list)
    #: what the imported items can do here: commands they run, credentials that keep working
    trusted: list[str] = field(default_factory=list)

    def add(self, kind: str, item: Any, status: str, detail: str = "") -> None:
        rid = str(item.get("id", "")) if isinstance(item, dict) else ""
        name = str(item.get("name") or item.get("key") or rid) if isinstance(item, dict) else repr(item)[:40]
        self.items.append(ReportItem(kind, rid, name, status, detail))

    @property
    def skipped(self) -> list[ReportItem]:
        return [i for i in self.items if i.status == "skipped"]

    @property
    def reenter(self) -> list[ReportItem]:
        return [i for i in self.items if i.status == "reenter"]

    def lines(self) -> list[str]:
        """The report as text lines (the CLI prints them)."""
        label = {"imported": "imported", "reenter": "REENTER", "skipped": "NOT IMPORTED"}
        out = [f"{i.kind:16} {label.get(i.status, i.status):12} {i.name} ({i.id}){' — ' + i.detail if i.detail else ''}"
               for i in self.items]
        out += [f"dropped field: {d}" for d in self.dropped]
        if self.trusted:
            out.append("what this import lets others do here (check each one):")
            out += [f"  {t}" for t in self.trusted]
        out += [f"unknown section not imported: {s}" for s in self.unknown_sections]
        out.append(
            f"{sum(i.status != 'skipped' for i in self.items)} imported "
            f"({len(self.reenter)} with a value to re-enter), {len(self.skipped)} not imported, "
            f"{len(self.dropped)} fields dropped"
        )
        return out


def decrypt_magec(value: str, key: str) -> str | None:
    """The clear text of Magec's ``enc:v1:`` value under ``key``, or None if it cannot be read."""
    if not value.startswith(MAGEC_PREFIX):
        return value
    if not key:
        return None
    try:
        data = base64.b64decode(value[len(MAGEC_PREFIX) :], validate=True)
    except ValueError:
        return None
    if len(data) <= _NONCE:
        return None
    derived = hashlib.pbkdf2_hmac("sha256", key.encode(), _SALT, _ROUNDS, 32)
    try:
        return AESGCM(derived).decrypt(data[:_NONCE], data[_NONCE:], None).decode()
    except (InvalidTag, UnicodeDecodeError):
        return None


def encrypt_magec(value: str, key: str, nonce: bytes) -> str:
    """Magec's encryption (for tests that build a Magec store with encrypted secrets)."""
    derived = hashlib.pbkdf2_hmac("sha256", key.encode(), _SALT, _ROUNDS, 32)
    return MAGEC_PREFIX + base64.b64encode(nonce + AESGCM(derived).encrypt(nonce, value.encode(), None)).decode()


def _empty(value: Any) -> bool:
    return value in (None, "", 0, False) or value == [] or value == {}


def _paths(data: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a JSON value: ``a.b``, lists of objects as ``a[i].b`` (other lists are leaves)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_paths(v, f"{prefix}{k}."))
        if not data and prefix:
            out[prefix[:-1]] = data
    elif isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(_paths(v, f"{prefix[:-1]}[{i}]."))
    elif prefix:
        out[prefix[:-1]] = data
    return out


def _generic(path: str) -> str:
    import re

    return re.sub(r"\[\d+\]", "[]", path)


def dropped_fields(kind: str, item: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """Non-empty field paths of Magec's ``item`` that ``stored`` lacks (moved legacy forms excepted).

    A path is kept when the stored record has it or something under it (``config`` maps encrypted
    or reshaped keep their keys)."""
    have = set(_paths(stored))
    prefixes = {p.rsplit(".", i)[0] for p in have for i in range(p.count(".") + 1)}
    moved = MOVED.get(kind, {})
    lost = []
    for path, value in _paths(item).items():
        if _empty(value) or path in have or path in prefixes or _generic(path) in moved:
            continue
        lost.append(path)
    return lost


#: credential fields of a client's config, by the path the Admin API names them
CLIENT_CREDENTIALS = ("telegram.botToken", "slack.botToken", "slack.appToken", "slack.signingSecret",
                      "discord.botToken", "webhook.signingSecret")


def printable(text: str) -> str:
    """``text`` with control characters written as escapes: a hostile file's command or name must
    not move the operator's cursor or recolour the terminal that shows the report."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def is_stdio(item: Any) -> bool:
    """Whether a Magec MCP server item runs a local command (type ``stdio``, or no type with a
    command and no endpoint: how Magec's older records say it)."""
    if not isinstance(item, dict):
        return False
    kind = item.get("type") or ("stdio" if item.get("command") and not item.get("endpoint") else "http")
    return kind == "stdio"


def command_line(item: dict[str, Any]) -> str:
    """A stdio MCP server's command line as a shell would run it, its working directory and the
    names (never the values) of the environment it sets."""
    args = item.get("args")
    line = shlex.join([str(item.get("command") or ""), *(str(a) for a in (args if isinstance(args, list) else []))])
    if item.get("workDir"):
        line += f"  (in {item['workDir']})"
    env = item.get("env")
    if isinstance(env, dict) and env:
        line += f"  (env: {', '.join(sorted(str(k) for k in env))})"
    return printable(line)


def stdio_servers(data: dict[str, Any]) -> list[str]:
    """``<name> (<id>): <command line>`` of every stdio MCP server in a Magec ``store.json``."""
    items = data.get("mcpServers")
    return [f"{printable(str(i.get('name') or i.get('id')))} ({printable(str(i.get('id')))}): {command_line(i)}"
            for i in (items if isinstance(items, list) else []) if is_stdio(i)]


#: a ``${KEY}`` reference (``${KEY:-default}`` too) as the runtime expands it
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
#: fields never expanded (public: docs/security.md, "Public fields are never expanded")
_NOT_EXPANDED = ("name", "description", "tags")
#: where a record's requests go, by kind: named beside the references it sends
_DESTINATION = {"backends": "url", "mcpServers": "endpoint", "agents": "a2a.remote.url"}


def _references(value: Any, path: str = "") -> list[tuple[str, str]]:
    """``(field, KEY)`` of every ``${KEY}`` in the expanded string fields of a record."""
    if isinstance(value, str):
        return [(path, key) for key in dict.fromkeys(_REFERENCE.findall(value))]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out = []
    for key, item in items:
        if path or key not in _NOT_EXPANDED:
            out += _references(item, f"{path}.{key}" if path else str(key))
    return out


def _reference_notes(kind: str, item: dict[str, Any], label: str) -> list[str]:
    """A ``${KEY}`` reads the secret (or environment variable) ``KEY`` of *this* server and goes
    wherever the record's requests go — a URL the file's author chose: each one, named."""
    where: Any = item
    for part in _DESTINATION.get(kind, "").split("."):
        where = where.get(part) if isinstance(where, dict) and part else None
    to = f", sent with its requests to {printable(where)}" if isinstance(where, str) and where else ""
    return [f"{singular(kind)} {label}: {printable(path)} reads ${{{key}}} (this server's secret or environment "
            f"variable of that name){to}" for path, key in _references(item)]


def trust_notes(kind: str, item: dict[str, Any]) -> list[str]:
    """What an imported ``item`` lets others do on this server, in words (empty for most)."""
    label = f"{printable(str(item.get('name') or item.get('id')))} ({printable(str(item.get('id')))})"
    refs = _reference_notes(kind, item, label) if kind != "secrets" else []
    if kind == "mcpServers" and is_stdio(item):
        return [f"stdio MCP server {label} runs this command when an agent uses it: {command_line(item)}", *refs]
    if kind != "clients":
        return refs
    notes = refs
    token = item.get("token")
    if isinstance(token, str) and token:
        notes.append(f"client {label}: Magec's token {printable(token[:8])}… keeps working here "
                     "(regenerate it in the Admin UI if its holders should not reach this server)")
    config = item.get("config")
    config = config if isinstance(config, dict) else {}
    for path in CLIENT_CREDENTIALS:
        section, name = path.split(".")
        block = config.get(section)
        if isinstance(block, dict) and block.get(name):
            notes.append(f"client {label}: config.{path} imported (this server now acts with it)")
    return notes
