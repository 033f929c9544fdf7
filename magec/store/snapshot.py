"""The expanded, immutable view of the store that the runtime builds from.

Expansion: sensitive fields are decrypted, then every ``${KEY}`` / ``${KEY:-default}`` in any string
field is replaced from the secrets (by ``key``) first, then from the process environment. A
reference to an unknown key expands to the empty string (or its default).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from magec.backends.base import BackendSpec
from magec.resources import KINDS, Agent, Backend, Client, Command, Flow, McpServer, MemoryProvider, Settings
from magec.store import sensitive
from magec.store.crypto import Cipher

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


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


def build_snapshot(
    epoch: int, all_raw: dict[str, dict[str, dict[str, Any]]], settings: dict[str, Any], cipher: Cipher
) -> StoreSnapshot:
    secret_values = {
        s["key"]: cipher.decrypt(s.get("value") or "")
        for s in all_raw.get("secrets", {}).values()
        if s.get("key")
    }

    def expanded(kind: str) -> dict[str, Any]:
        model = KINDS[kind]
        out = {}
        for rid, raw in all_raw.get(kind, {}).items():
            plain = sensitive.decrypt_all(model.sensitive, raw, cipher)
            data = sensitive.map_strings(plain, lambda s: expand(s, secret_values))
            try:
                out[rid] = model.model_validate(data)
            except Exception:  # noqa: BLE001 - a record that no longer validates is skipped, not fatal
                continue
        return out

    return StoreSnapshot(
        epoch=epoch,
        settings=Settings.model_validate(settings),
        backends=expanded("backends"),
        agents=expanded("agents"),
        flows=expanded("flows"),
        memory_providers=expanded("memoryProviders"),
        mcp_servers=expanded("mcpServers"),
        clients=expanded("clients"),
        commands=expanded("commands"),
        client_raw=dict(all_raw.get("clients", {})),
        secret_values=secret_values,
    )
