"""The merge rule of an update (``PUT``): what a body that leaves fields out means.

One rule, applied to every kind by walking its model (no per-field code):

1. **A present key replaces** the stored value. A nested *model* object (``llm``, ``tts``,
   ``contextGuard``, a flow's ``root`` step…) is merged key by key with this same rule. Free-form
   maps (``headers``, ``env``, a memory provider's or client's ``config``, ``tts.config``) and lists
   replace whole — except lists of model objects, whose elements are matched to the stored ones (by
   ``id`` when the element has one — graph nodes —, else by position when the ``type`` is the same —
   flow steps) and merged with this rule, so a step keeps e.g. its loop ``exit``.
2. **``null`` clears**: the field goes back to its default (a write-only field is emptied).
3. **An absent key** means one of three things:

   * an absent *model* object is merged as if it were sent empty (``{}``): the rules below apply
     to each of its fields;
   * a field that is or holds *write-only* values (:attr:`Resource.sensitive`: ``apiKey``,
     ``headers``/``env`` maps, a free-form ``config`` holding a connection string or bot token; and
     inside a ``config`` the body did send, a named write-only entry it left out) **keeps** its
     stored value — a client cannot
     see it, so it cannot have meant to erase it (``""`` keeps it too, as before);
   * a field of *Magec's admin UI* (``magec_fields`` on the model) goes back to its **default**, as
     Magec's own ``PUT`` does: that UI leaves out what is off or empty (a disabled context guard,
     no tags, ``insecure: false``), so "absent" is its way to say "off";
   * any other field — magec's own extensions (a backend's ``api``/``timeout``…, ``fallbacks``,
     voice ``config``, a loop's ``exit``, fields added later) — **keeps** its stored value: a client
     that does not know a field cannot have meant to reset it.

A model without a ``magec_fields`` declaration keeps every absent field. Legacy flat forms
(``tts.speed`` for ``tts.config.openai.speed``, :attr:`legacy` on the model) are dropped from the
body when the body carries the nested container they stand for (the nested form wins); otherwise
the model's own validator applies them over the stored value.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class of a field (``Model`` or ``Model | None``), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _list_item_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        return _model_of(args[0]) if args else None
    return None


def _below(secrets: tuple[str, ...], key: str) -> tuple[str, ...]:
    """The write-only paths under ``key``, relative to it (``headers.*`` for ``llm`` of ``llm.headers.*``)."""
    return tuple(p[len(key) + 1 :] for p in secrets if p.startswith(key + "."))


def merge_update(
    cls: type[BaseModel], body: dict[str, Any], old: dict[str, Any]
) -> tuple[dict[str, Any], set[str]]:
    """``body`` merged over the stored ``old`` by the rule above, and the write-only paths the body
    cleared with ``null`` (so the store does not keep them)."""
    cleared: set[str] = set()
    merged = _merge(cls, body, old, "", cleared, tuple(getattr(cls, "sensitive", ())))
    _keep_absent_secrets(cls, body, old, merged, cleared)
    return merged, cleared


def drop_legacy(cls: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """``body`` without legacy flat keys whose nested container it also carries (any depth)."""
    out = dict(body)
    legacy: dict[str, str] = getattr(cls, "legacy", {}) or {}
    for flat, container in legacy.items():
        if flat in out and container in out and out[container] is not None:
            out.pop(flat)
    for name, field in cls.model_fields.items():
        key = field.alias or name
        sub = _model_of(field.annotation)
        if sub is not None and isinstance(out.get(key), dict):
            out[key] = drop_legacy(sub, out[key])
    return out


def _present(body: dict[str, Any], key: str, name: str) -> str | None:
    if key in body:
        return key
    return name if name in body else None


def _merge(
    cls: type[BaseModel],
    body: dict[str, Any],
    old: dict[str, Any],
    prefix: str,
    cleared: set[str],
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    magec: frozenset[str] | None = getattr(cls, "magec_fields", None)
    secret_roots = {p.split(".", 1)[0] for p in secrets}
    body = drop_legacy(cls, body)
    out: dict[str, Any] = {}
    consumed: set[str] = set()
    for name, field in cls.model_fields.items():
        key = field.alias or name
        got = _present(body, key, name)
        stored = old.get(key)
        if got is not None:
            consumed.add(got)
            value = body[got]
            if value is None:
                cleared.add(prefix + key)
                continue
            sub = _model_of(field.annotation)
            item = _list_item_model(field.annotation)
            if sub is not None and isinstance(value, dict) and isinstance(stored, dict):
                out[key] = _merge(sub, value, stored, f"{prefix}{key}.", cleared, _below(secrets, key))
            elif item is not None and isinstance(value, list) and isinstance(stored, list):
                out[key] = _merge_list(item, value, stored, f"{prefix}{key}.", cleared)
            else:
                out[key] = value
        elif _model_of(field.annotation) is not None and isinstance(stored, dict):
            # an absent object: its Magec fields go back to their defaults, its others are kept
            sub_model = _model_of(field.annotation)
            assert sub_model is not None
            out[key] = _merge(sub_model, {}, stored, f"{prefix}{key}.", cleared, _below(secrets, key))
        elif key in secret_roots and stored is not None:
            out[key] = stored  # (holds) write-only values: a client cannot see them, so absence never erases them
        elif magec is not None and key in magec:
            continue  # Magec's UI leaves out what is off or empty: the default
        elif key in old:
            out[key] = stored
    for key, value in body.items():
        if key not in consumed:
            out[key] = value  # view flags and legacy flat keys: the model ignores or translates them
    return out


def _merge_list(
    item: type[BaseModel], new: list[Any], old: list[Any], prefix: str, cleared: set[str]
) -> list[Any]:
    by_id = {o.get("id"): o for o in old if isinstance(o, dict) and o.get("id")}
    keyed = "id" in item.model_fields
    out = []
    for i, element in enumerate(new):
        if not isinstance(element, dict):
            out.append(element)
            continue
        if keyed:
            match = by_id.get(element.get("id"))
        else:
            candidate = old[i] if i < len(old) else None
            match = candidate if isinstance(candidate, dict) and candidate.get("type") == element.get("type") else None
        out.append(_merge(item, element, match, f"{prefix}[{i}].", cleared) if match is not None else element)
    return out


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _keep_absent_secrets(
    cls: type[BaseModel], body: dict[str, Any], old: dict[str, Any], merged: dict[str, Any], cleared: set[str]
) -> None:
    """A named write-only field (``config.connectionString``) missing from a map the body replaced
    is put back as ``""``, which the store's sensitive handling reads as "keep the stored value"
    (with its binding checks); a ``null`` in the body clears it instead."""
    for path in getattr(cls, "sensitive", ()):
        if path.endswith(".*") or path in cleared:
            continue
        parent_path, _, leaf = path.rpartition(".")
        if not parent_path:
            continue  # top-level fields were handled by the merge itself
        parent = _get(merged, parent_path)
        if not isinstance(parent, dict):
            continue
        if leaf in parent and parent[leaf] is None:
            cleared.add(path)
            parent[leaf] = ""
            continue
        if leaf in parent:
            continue
        if isinstance(_get(body, parent_path), dict) and _get(old, path):
            parent[leaf] = ""
