"""Where a secret is used: the references the reference graph cannot declare.

A secret is named by its ``key``, not its id, inside strings: ``${KEY}`` (or ``${KEY:-default}``)
in any field that reaches the runtime — a backend's ``apiKey``, a header value, an MCP server's
``env``, a prompt — ``{{secret:KEY}}`` (what a prompt or command tells a model to write in a tool
call), and in agents' ``secrets`` lists (keys, or ids as Magec's UI stores them) and
``secretTools`` keys (a restriction a new key would silently drop).

Contract:

* :func:`uses` lists them in the reference shape of :meth:`magec.store.store.Store.references_to`
  (``{referrerType, referrerId, referrerName, field, kind}``): ``${KEY}`` is *structural* (the
  field holds nothing without the secret, or the server's environment variable of that name),
  a ``secrets`` entry *membership*. So deleting a secret in use is a 409 naming who uses it, and
  the Admin UI's delete dialog says so first, as for every other kind.
* Public fields (:data:`~magec.resources.base.PUBLIC_FIELDS`) are never expanded, so a
  ``${KEY}`` there is not a use.
* A secret's ``key`` may change only while nothing names it by that key
  (:meth:`~magec.store.store.Store.update`: a 409 with these references, as for a delete): a
  ``${OLD}`` left behind would quietly send nothing, or an environment variable of that name.
* :func:`scrub` (a forced delete) removes ``secrets`` entries and keeps ``secretTools`` entries; a ``${KEY}`` is left as written:
  there is nothing to put in its place, and it falls back to the environment, as any unknown key.
* Sensitive fields are read decrypted (``plain``): a header ``Bearer ${KEY}`` is stored encrypted,
  only a pure ``${KEY}`` is kept in clear (:mod:`magec.store.sensitive`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from magec.config import VAR_REF
from magec.resources.base import PUBLIC_FIELDS

#: ``{{secret:KEY}}`` (spaces allowed inside the braces): what an agent's model writes in a tool
#: call (magec.agents.secrets), so a prompt or command telling it to is a use of that secret
PLACEHOLDER = re.compile(r"\{\{\s*secret:([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def _reference_fields(data: dict[str, Any], key: str) -> Iterator[str]:
    """The fields of one raw resource holding ``${key}`` (public fields aside)."""
    for top, value in data.items():
        if top in PUBLIC_FIELDS:
            continue
        for field, text in _strings(value, top):
            if "${" in text and any(m.group(1) == key for m in VAR_REF.finditer(text)):
                yield field
            elif "{{" in text and any(m.group(1) == key for m in PLACEHOLDER.finditer(text)):
                yield field


def uses(
    all_raw: dict[str, dict[str, dict[str, Any]]],
    secret_id: str,
    plain: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda _kind, data: data,
    *,
    by_key: bool = False,
) -> list[dict[str, Any]]:
    """Every use of the secret ``secret_id`` in the raw resources ``all_raw`` (kind -> id -> JSON);
    ``plain(kind, data)`` decrypts a resource's sensitive values (a header ``Bearer ${KEY}`` is
    stored encrypted: only a pure reference is kept in clear). ``by_key``: only the uses that
    name its key (those a new key would break; an agent's ``secrets`` entry may hold the id)."""
    from magec.resources.models import KINDS  # models import base; this module is imported by the store

    secret = all_raw.get("secrets", {}).get(secret_id)
    key = str(secret.get("key") or "") if isinstance(secret, dict) else ""
    if not key:
        return []
    found: list[dict[str, Any]] = []
    for kind, items in all_raw.items():
        if kind == "secrets" or kind not in KINDS:
            continue
        for rid, data in items.items():
            if not isinstance(data, dict):
                continue
            text = json.dumps(data)
            fields = [(f, "structural") for f in _reference_fields(plain(kind, data), key)] if (
                "${" in text or "enc:" in text or "{{" in text) else []
            if kind == "agents" and isinstance(data.get("secrets"), list):
                fields += [(f"secrets[{i}]", "membership") for i, e in enumerate(data["secrets"]) if e == key or (e == secret_id and not by_key)]
            if kind == "agents" and isinstance(data.get("secretTools"), dict) and key in data["secretTools"]:
                fields.append((f"secretTools.{key}", "membership"))  # a new key would drop the restriction
            found += [{"referrerType": KINDS[kind].singular, "referrerId": rid, "referrerName": data.get("name", ""),
                       "field": field, "kind": ref_kind} for field, ref_kind in fields]
    return found


def check_rekey(
    all_raw: dict[str, dict[str, dict[str, Any]]],
    secret_id: str,
    key: str,
    plain: Callable[[str, dict[str, Any]], dict[str, Any]],
) -> None:
    """A new key for the secret would orphan every use of ``key`` (``${KEY}``, a ``secrets`` entry
    by key, a ``secretTools`` binding): :class:`~magec.errors.ConflictError` (409) naming them."""
    from magec.errors import ConflictError
    from magec.resources.references import describe

    refs = uses(all_raw, secret_id, plain, by_key=True)
    if refs:
        raise ConflictError(
            f"key: secret {key!r} is used by that key by {describe(refs)}; change those to the new key "
            "first (they would send nothing), or create the new secret beside this one",
            references=refs,
        )


def scrub(data: dict[str, Any], secret_id: str, key: str) -> dict[str, Any]:
    """``data`` (a raw agent) without ``secrets`` entries naming the secret; other resources as
    they are. A ``secretTools`` entry stays: a secret created again under that key is bound again
    (dropping it would leave the new value free to go into any tool)."""
    entries = data.get("secrets")
    if isinstance(entries, list):
        data = {**data, "secrets": [e for e in entries if e not in (key, secret_id)]}
    return data
