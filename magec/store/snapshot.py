"""The expanded, immutable view of the store that the runtime builds from.

Expansion: sensitive fields are decrypted, then every ``${KEY}`` / ``${KEY:-default}`` in any string
field is replaced from the secrets (by ``key``) first, then from the process environment. A
reference to an unknown key expands to the empty string (or its default). Public fields
(:data:`PUBLIC_FIELDS`: names, descriptions, tags — shown to every client by ``/v1/models`` and
``list-apps``) are never expanded: ``${KEY}`` there stays literal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from magec.backends.base import BackendSpec
from magec.redact import register_secret
from magec.resources import KINDS, Agent, Backend, Client, Command, Flow, McpServer, MemoryProvider, Settings
from magec.store import sensitive
from magec.store.crypto import Cipher

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
#: top-level fields any client may read: a secret reference there must not become the secret
PUBLIC_FIELDS = frozenset({"name", "description", "tags"})


def expand(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        if value is None:
            value = os.environ.get(m.group(1), "")
        if not value and m.group(2) is not None:
            return m.group(2)
        return value

    return _REF.sub(sub, text)


@dataclass(frozen=True)
class StoreSnapshot:
    epoch: int
    settings: Settings
    backends: dict[str, Backend] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    memory_providers: dict[str, MemoryProvider] = field(default_factory=dict)
    mcp_servers: dict[str, McpServer] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    #: raw client records (tokenHash etc.) by id
    client_raw: dict[str, dict[str, Any]] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)
    #: (kind, id) -> digest of the stored row and the ``${KEY}`` values it expands
    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (kind, id) -> outgoing references ((target kinds), target id)
    refs: dict[tuple[str, str], tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)
    settings_version: str = ""

    @cached_property
    def clients_by_token_hash(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """tokenHash → (client id, raw client): one dict lookup per authenticated request."""
        return {
            str(raw["tokenHash"]): (cid, raw) for cid, raw in self.client_raw.items() if raw.get("tokenHash")
        }

    def backend_spec(self, backend_id: str, headers: dict[str, str] | None = None) -> BackendSpec | None:
        b = self.backends.get(backend_id)
        if b is None:
            return None
        spec = BackendSpec(
            id=b.id,
            name=b.name,
            type=b.type,
            url=b.url,
            api_key=b.api_key,
            headers=dict(b.headers),
            timeout=b.timeout,
        )
        return spec.with_headers(headers)


#: one stored row as the snapshot reads it: (kind, id, JSON text)
Row = tuple[str, str, str]
_KEYS_IN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class _Entry:
    """A row expanded once: reused while its text and the values it references are unchanged."""

    text: str
    inputs: tuple[tuple[str | None, str | None], ...]
    keys: tuple[str, ...]
    raw: dict[str, Any]
    model: Any
    version: str
    refs: tuple[tuple[tuple[str, ...], str], ...]


class SnapshotCache:
    """Builds snapshots incrementally: a row whose JSON text and referenced ``${KEY}`` values did not
    change keeps its parsed, decrypted, expanded and validated model from the previous snapshot.

    Why: with 1,000 agents, re-validating every resource on each write made a one-agent edit cost
    O(n); now it costs one parse per changed row plus a string compare per row. The ``version`` of
    an entry (a digest of its text and the secret/env values it expands) is what the runtime
    compares to decide which apps to rebuild.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._secrets: dict[str, tuple[str, str, str]] = {}  # id -> (text, key, decrypted value)

    def build(self, epoch: int, rows: list[Row], settings_text: str, cipher: Cipher) -> StoreSnapshot:
        from magec.store import references

        secret_values: dict[str, str] = {}
        seen_secrets: dict[str, tuple[str, str, str]] = {}
        for kind, rid, text in rows:
            if kind != "secrets":
                continue
            cached = self._secrets.get(rid)
            if cached is None or cached[0] != text:
                raw = json.loads(text)
                cached = (text, str(raw.get("key") or ""), cipher.decrypt(raw.get("value") or ""))
            seen_secrets[rid] = cached
            if cached[1]:
                secret_values[cached[1]] = cached[2]
        self._secrets = seen_secrets

        entries: dict[tuple[str, str], _Entry] = {}
        by_kind: dict[str, dict[str, Any]] = {k: {} for k in KINDS if k != "secrets"}
        for kind, rid, text in rows:
            if kind == "secrets" or kind not in KINDS:
                continue
            key = (kind, rid)
            entry = self._entries.get(key)
            if entry is not None and entry.text == text:
                inputs = tuple((secret_values.get(k), os.environ.get(k)) for k in entry.keys)
                if inputs != entry.inputs:
                    entry = None
            else:
                entry = None
            if entry is None:
                entry = _expand_row(kind, text, secret_values, cipher, references.refs_of)
            entries[key] = entry
            if entry.model is not None:
                by_kind[kind][rid] = entry.model
        self._entries = entries

        return StoreSnapshot(
            epoch=epoch,
            settings=Settings.model_validate(json.loads(settings_text)),
            backends=by_kind["backends"],
            agents=by_kind["agents"],
            flows=by_kind["flows"],
            memory_providers=by_kind["memoryProviders"],
            mcp_servers=by_kind["mcpServers"],
            clients=by_kind["clients"],
            commands=by_kind["commands"],
            client_raw={rid: entries[("clients", rid)].raw for rid in by_kind["clients"]},
            secret_values=secret_values,
            versions={k: e.version for k, e in entries.items()},
            refs={k: e.refs for k, e in entries.items()},
            settings_version=settings_text,
        )


def _expand_row(
    kind: str, text: str, secret_values: dict[str, str], cipher: Cipher, refs_of: Callable[..., Any]
) -> _Entry:
    raw = json.loads(text)
    keys = tuple(sorted(set(_KEYS_IN.findall(text))))
    inputs = tuple((secret_values.get(k), os.environ.get(k)) for k in keys)
    model_cls = KINDS[kind]
    plain = sensitive.decrypt_all(model_cls.sensitive + model_cls.secret_urls, raw, cipher)
    data = {
        k: v if k in PUBLIC_FIELDS else sensitive.map_strings(v, lambda s: expand(s, secret_values))
        for k, v in plain.items()
    }
    _register(model_cls, plain, secret_values)
    try:
        model = model_cls.model_validate(data)
    except Exception:  # noqa: BLE001 - a record that no longer validates is skipped, not fatal
        model = None
    digest = hashlib.blake2b(text.encode(), digest_size=16)
    for value in inputs:
        digest.update(repr(value).encode())
    refs = tuple((r.target_kinds, r.target) for r in refs_of(kind, raw))
    return _Entry(text, inputs, keys, raw, model, digest.hexdigest(), refs)


def _register(model_cls: Any, plain: dict[str, Any], secret_values: dict[str, str]) -> None:
    """Tell the redactor the secrets of a record: its literals, and what its ``${KEY}`` sensitive
    values resolve to (a header ``${KEY}`` from the environment is as secret as a literal; a
    ``:-default`` typed in the clear is not)."""
    for value in sensitive.secret_values(model_cls.sensitive, model_cls.secret_urls, plain):
        register_secret(value)
    for path in model_cls.sensitive:
        for container, key in sensitive._slots(plain, path):
            m = _REF.fullmatch(str(container[key]).strip())
            if m is not None:
                register_secret(secret_values.get(m.group(1)) or os.environ.get(m.group(1)))
    for path in model_cls.secret_urls:  # `?key=${KEY}`: what the reference resolves to
        for container, key in sensitive._slots(plain, path):
            if isinstance(container[key], str) and "${" in container[key]:
                resolved = _REF.sub(lambda m: secret_values.get(m.group(1)) or os.environ.get(m.group(1), ""), container[key])
                for value in sensitive.url_credentials(resolved):
                    register_secret(value)


def build_snapshot(
    epoch: int, all_raw: dict[str, dict[str, dict[str, Any]]], settings: dict[str, Any], cipher: Cipher
) -> StoreSnapshot:
    """A snapshot from already-parsed rows (no cache): for tools and tests."""
    rows = [(kind, rid, json.dumps(data)) for kind, items in all_raw.items() for rid, data in items.items()]
    return SnapshotCache().build(epoch, rows, json.dumps(settings), cipher)
