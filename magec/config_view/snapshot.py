"""The expanded, immutable view of the store that the runtime builds from.

This is runtime input, not storage: the store hands :class:`SnapshotCache` its row mapping
(:meth:`magec.store.store.Store.snapshot`, the cache is injected by the composition root), so
``magec/store`` never imports this module and the parts that read a snapshot (runtime, flows,
memory, tools, voice) never need the store.

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, TypeVar

from magec.backends.base import BackendSpec, limits_of
from magec.config import VAR_REF, expand_vars
from magec.redact import register_secret
from magec.resources import (
    KINDS,
    Agent,
    Backend,
    Client,
    Command,
    Flow,
    McpServer,
    MemoryProvider,
    Resource,
    Settings,
    references,
    tokens,
)
from magec.resources.base import PUBLIC_FIELDS
from magec.store import sensitive
from magec.store.crypto import Cipher

_REF = VAR_REF


class _Environment(Mapping[str, str]):
    """The server's environment as stored resources see it: every variable but magec's own —
    ``MAGEC_*``, and any other holding one of :attr:`protected` (the encryption key, the admin
    password, the metrics token, the database password, whatever variable config.yaml took them
    from). Whoever can write a resource could otherwise send them to a URL of their choice (an API
    key) or read them back (a model name comes back as an event's ``modelVersion``)."""

    #: magec's own secret values (:func:`protect_environment`, at start-up)
    protected: frozenset[str] = frozenset()

    def _hidden(self, name: str) -> bool:
        return name.upper().startswith("MAGEC_") or (
            bool(self.protected) and os.environ.get(name) in self.protected)

    def __getitem__(self, name: str) -> str:
        if self._hidden(name):
            raise KeyError(name)
        return os.environ[name]

    def __iter__(self) -> Iterator[str]:
        return (k for k in os.environ if not self._hidden(k))

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: where ``${KEY}`` in a stored resource falls back to when no secret has that key
ENVIRONMENT = _Environment()


def protect_environment(*values: str | None) -> None:
    """Hide every environment variable holding one of ``values`` (magec's own secrets) from stored
    resources' ``${KEY}``."""
    _Environment.protected = frozenset(_Environment.protected | {v for v in values if v})


def expand(text: str, values: dict[str, str]) -> str:
    """``${KEY}`` from the secrets in ``values``, else the environment but ``MAGEC_*`` (see
    :func:`expand_vars`)."""
    return expand_vars(text, values, ENVIRONMENT)


@dataclass(frozen=True)
class StoreSnapshot:
    """Every resource at one epoch, expanded. ``resources`` holds every kind but secrets (kind ->
    id -> model); the typed fields are the same dicts for the kinds the runtime reads, named after
    the kind in snake_case (``memoryProviders`` -> ``memory_providers``): a new kind appears in
    ``resources`` with no change here, and gets a typed field when the runtime starts reading it."""

    epoch: int
    settings: Settings
    resources: Mapping[str, Mapping[str, Resource]] = field(default_factory=dict)
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
    versions: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: (kind, id) -> outgoing references ((target kinds), target id)
    refs: Mapping[tuple[str, str], tuple[tuple[tuple[str, ...], str], ...]] = field(default_factory=dict)
    settings_version: str = ""
    #: this snapshot's number in its cache, and the one it was diffed from (None: built from scratch)
    serial: int = 0
    base_serial: int | None = None
    #: ids of agents and flows whose inputs differ from the ``base_serial`` snapshot (None: unknown)
    dirty: frozenset[str] | None = None

    @cached_property
    def clients_by_token_hash(self) -> tokens.TokenIndex:
        """tokenHash → (client id, raw client): one dict lookup per authenticated request."""
        return tokens.index(self.client_raw)

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
            **limits_of(b),
        )
        return spec.with_headers(headers)


def _snake(kind: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()


#: kind -> the StoreSnapshot field carrying it (kinds without a typed field are only in ``resources``)
_TYPED_FIELDS = {kind: _snake(kind) for kind in KINDS if _snake(kind) in {f.name for f in fields(StoreSnapshot)}}

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
    """Builds snapshots incrementally from the store's row mapping.

    Contract: ``build`` gets ``{(kind, id): (JSON text, parsed dict)}`` in creation order, where an
    unchanged row keeps the *same tuple object* between calls (the store guarantees it). Only rows
    whose tuple changed, and rows whose ``${KEY}`` references point at a secret whose value
    changed, are parsed, decrypted, expanded and validated again; everything else — models,
    versions, references — is carried over. The snapshot says which agents and flows are
    ``dirty`` (changed, or depending on something that changed, through the reference graph), so
    the runtime rebuilds exactly those. Why: with 1,000 agents a one-agent edit must cost the same
    as with 10. (The process environment is read when a row is expanded; it is assumed constant.)
    """

    def __init__(self) -> None:
        self._rows: Mapping[tuple[str, str], tuple[str, dict[str, Any]]] | None = None
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._by_kind: dict[str, dict[str, Any]] = {k: {} for k in KINDS if k != "secrets"}
        self._secret_rows: dict[str, tuple[str, str]] = {}  # secret id -> (key, decrypted value)
        self._secret_values: dict[str, str] = {}
        self._key_users: dict[str, set[tuple[str, str]]] = {}  # ${KEY} -> rows using it
        self._referrers: dict[str, set[tuple[str, str]]] = {}  # target id -> rows referencing it
        self._serial = 0

    def build(
        self,
        epoch: int,
        rows: Mapping[tuple[str, str], tuple[str, dict[str, Any]]],
        settings_text: str,
        cipher: Cipher,
    ) -> StoreSnapshot:
        prev = self._rows
        if prev is None:
            changed = set(rows)
            removed: set[tuple[str, str]] = set()
        else:
            changed = {k for k, v in rows.items() if prev.get(k) is not v}
            removed = set(prev.keys() - rows.keys())
        self._rows = rows

        secret_keys = [k for k in changed | removed if k[0] == "secrets"]
        if secret_keys:
            for key in secret_keys:
                if key in removed:
                    self._secret_rows.pop(key[1], None)
                else:
                    raw = rows[key][1]
                    value = cipher.decrypt(raw.get("value") or "") if raw.get("key") else ""
                    self._secret_rows[key[1]] = (str(raw.get("key") or ""), value)
            values = {k: v for k, v in self._secret_rows.values() if k}
            moved = {k for k in values.keys() | self._secret_values.keys()
                     if values.get(k) != self._secret_values.get(k)}  # fmt: skip
            self._secret_values = values
            for name in moved:  # rows that expand a secret whose value changed
                changed |= self._key_users.get(name, set())

        by_kind = {k: dict(v) for k, v in self._by_kind.items()}  # older snapshots keep theirs
        touched: set[tuple[str, str]] = set()
        for key in changed | removed:
            kind, rid = key
            if kind == "secrets" or kind not in KINDS:
                continue
            touched.add(key)
            old = self._entries.pop(key, None)
            if old is not None:
                self._unindex(key, old)
            if key not in rows:
                by_kind[kind].pop(rid, None)
                continue
            entry = _expand_row(kind, rows[key][0], self._secret_values, cipher, references.refs_of)
            self._entries[key] = entry
            self._index(key, entry)
            if entry.model is not None:
                by_kind[kind][rid] = entry.model  # an existing id keeps its place; a new one is last
            else:
                by_kind[kind].pop(rid, None)
        self._by_kind = by_kind

        dirty = self._dirty(touched)
        base = self._serial if prev is not None else None
        self._serial += 1
        entries = dict(self._entries)  # frozen for this snapshot (C-speed copy)
        return StoreSnapshot(
            epoch=epoch,
            settings=Settings.model_validate(json.loads(settings_text)),
            resources=by_kind,
            **{name: by_kind[kind] for kind, name in _TYPED_FIELDS.items()},  # type: ignore[arg-type]
            client_raw={rid: entries[("clients", rid)].raw for rid in by_kind["clients"]},
            secret_values=self._secret_values,
            versions=_EntryView(entries, lambda e: e.version),
            refs=_EntryView(entries, lambda e: e.refs),
            settings_version=settings_text,
            serial=self._serial,
            base_serial=base,
            dirty=frozenset(dirty) if base is not None else None,
        )

    def _index(self, key: tuple[str, str], entry: _Entry) -> None:
        for name in entry.keys:
            self._key_users.setdefault(name, set()).add(key)
        for _kinds, target in entry.refs:
            self._referrers.setdefault(target, set()).add(key)

    def _unindex(self, key: tuple[str, str], entry: _Entry) -> None:
        for name in entry.keys:
            self._key_users.get(name, set()).discard(key)
        for _kinds, target in entry.refs:
            self._referrers.get(target, set()).discard(key)

    def _dirty(self, touched: set[tuple[str, str]]) -> set[str]:
        """Ids of agents and flows that changed or (transitively) reference something that did."""
        out: set[str] = set()
        seen: set[tuple[str, str]] = set()
        todo = list(touched)
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.add(key)
            if KINDS[key[0]].runnable:
                out.add(key[1])
            todo.extend(self._referrers.get(key[1], ()))
        return out


V = TypeVar("V")


class _EntryView(Mapping[tuple[str, str], V]):
    """Read-only ``(kind, id) -> entry.<field>`` view over this snapshot's own copy of the entries
    (what ``versions`` and ``refs`` are): no per-snapshot dict of every field is built."""

    def __init__(self, entries: dict[tuple[str, str], _Entry], get: Callable[[_Entry], V]) -> None:
        self._entries = entries
        self._get = get

    def __getitem__(self, key: tuple[str, str]) -> V:
        return self._get(self._entries[key])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _expand_row(
    kind: str, text: str, secret_values: dict[str, str], cipher: Cipher, refs_of: Callable[..., Any]
) -> _Entry:
    raw = json.loads(text)
    model_cls = KINDS[kind]
    plain = sensitive.decrypt_all(model_cls.sensitive + model_cls.secret_urls, raw, cipher)
    # the keys this row reads, in clear fields and in encrypted ones (a header ``Bearer ${KEY}`` is
    # stored encrypted): a new value of any of them expands the row again
    found = set(_KEYS_IN.findall(text))
    if "enc:" in text:
        found.update(_KEYS_IN.findall(json.dumps(plain)))
    keys = tuple(sorted(found))
    inputs = tuple((secret_values.get(k), ENVIRONMENT.get(k)) for k in keys)
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
                register_secret(secret_values.get(m.group(1)) or ENVIRONMENT.get(m.group(1)))
    for path in model_cls.secret_urls:  # `?key=${KEY}`: what the reference resolves to
        for container, key in sensitive._slots(plain, path):
            if isinstance(container[key], str) and "${" in container[key]:
                resolved = _REF.sub(lambda m: secret_values.get(m.group(1)) or ENVIRONMENT.get(m.group(1), ""), container[key])
                for value in sensitive.url_credentials(resolved):
                    register_secret(value)


def build_snapshot(
    epoch: int, all_raw: dict[str, dict[str, dict[str, Any]]], settings: dict[str, Any], cipher: Cipher
) -> StoreSnapshot:
    """A snapshot from already-parsed rows (no cache): for tools and tests."""
    rows = {(kind, rid): (json.dumps(data), data) for kind, items in all_raw.items() for rid, data in items.items()}
    return SnapshotCache().build(epoch, rows, json.dumps(settings), cipher)
