"""Save-time rules: the checks a kind needs beyond its model's shape, owned by whoever knows them.

The store is generic: it validates a body against the kind's model, runs the rules it was given
for that kind, checks references (:mod:`magec.resources.references`) and protects sensitive
fields. The rules themselves live with their owners — backend types and role support in
:mod:`magec.backends.rules`, memory provider types in :mod:`magec.memory.rules`, flow steps and CEL
in :mod:`magec.flows.rules` — and the composition root (:mod:`magec.server`) merges their
:data:`RuleTable` s and hands the result to the :class:`~magec.store.store.Store`. Rules about
resources alone (secret keys) are here, in :data:`CORE`.

A rule raises :class:`~magec.errors.ValidationError` whose message starts with the offending field
(camelCase dotted path) and whose ``field`` is that path; it must not mutate anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magec.errors import ValidationError


@dataclass(frozen=True)
class Save:
    """One resource about to be stored."""

    #: the validated body (camelCase, the model's dump; ``id`` not set)
    data: dict[str, Any]
    #: the stored raw form on update, ``None`` on create
    old: dict[str, Any] | None
    #: every stored resource, by kind then id (raw form, read-only)
    all_raw: Mapping[str, Mapping[str, dict[str, Any]]]
    #: written by an import (``magec import-magec``, examples): Magec's data may lack what we require
    importing: bool = False


Rule = Callable[[Save], None]
#: kind -> rules, run in order
RuleTable = Mapping[str, Sequence[Rule]]


def merge(*tables: RuleTable) -> dict[str, tuple[Rule, ...]]:
    """One table from several; for a kind, rules run in the order the tables are given."""
    out: dict[str, tuple[Rule, ...]] = {}
    for table in tables:
        for kind, rules in table.items():
            out[kind] = (*out.get(kind, ()), *rules)
    return out


def secret_key(save: Save) -> None:
    """Secret keys are unique (they name ``${KEY}``); a new secret needs a value (except imported:
    Magec exports secrets without their values)."""
    data, old = save.data, save.old
    for sid, other in save.all_raw.get("secrets", {}).items():
        if other.get("key") == data["key"] and (old is None or old.get("id") != sid):
            raise ValidationError(f"key: a secret with key {data['key']!r} already exists", field="key")
    if old is None and not data.get("value") and not save.importing:
        raise ValidationError("value: is required", field="value")


#: rules about resources alone
CORE: RuleTable = {"secrets": (secret_key,)}
