"""Save-time validation: shape (pydantic), kind rules, and references to existing resources.

Generic over kinds: the model comes from :data:`magec.resources.KINDS`, the references from the
model's declaration, and the kind rules from the :data:`~magec.resources.rules.RuleTable` the
store was given (their owners — backends, memory, flows — register them at wiring time; this
module imports none of them). Every failure is a :class:`magec.errors.ValidationError` whose message starts with the offending
field (camelCase dotted path, e.g. ``llm.backend`` or ``root.steps[1].agentId``).
"""

from __future__ import annotations

from typing import Any

import pydantic

from magec.errors import ValidationError, json_type
from magec.resources import KINDS, Settings, references, singular, tokens
from magec.resources.rules import RuleTable, Save
from magec.store import merge, sensitive
from magec.store.crypto import Cipher


def _camel(part: str) -> str:
    head, *rest = part.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            name = _camel(str(part))
            if name in ("function-after", "function-before"):
                continue
            path += f".{name}" if path else name
    return path


def from_pydantic(err: pydantic.ValidationError, prefix: str = "") -> ValidationError:
    first = err.errors()[0]
    path = loc_to_path(tuple(first["loc"]))
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "is required"
    elif first["type"] == "string_type":  # pydantic's "Input should be a valid string" on a 5 or a list
        msg = f"must be a string, got {json_type(first.get('input'))}"
    elif msg.startswith(path.rsplit(".", 1)[-1] + " "):
        return ValidationError(f"{path}: {msg}" if "." in path else msg, field=path)
    return ValidationError(f"{path}: {msg}" if path else msg, field=path or None)


def _bound_by_reference() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(kind, sensitive path, reference path, referenced kinds)`` of every stored secret bound to
    the record another field names (an agent's ``llm.headers.*`` to its ``llm.backend``)."""
    out = []
    for kind, model in KINDS.items():
        refs = {r.path: r.targets for r in model.references}
        out += [(kind, path, f, refs[f]) for path, fields in model.bound.items() for f in fields if f in refs]
    return out


#: see :func:`_bound_by_reference`
BOUND_BY_REFERENCE = _bound_by_reference()


def check_moves(
    kind: str, data: dict[str, Any], old: dict[str, Any], all_raw: dict[str, dict[str, dict[str, Any]]], cipher: Cipher
) -> None:
    """Refuse to move an updated record (a backend's ``type`` or ``url``: the fields its own secrets
    are bound to) while another record keeps secrets bound to it by id: an agent's stored
    ``llm.headers`` were saved for the backend as it was, and would follow it anywhere (a backend
    with no key of its own had nothing bound to its URL). The 400 names the moved field and the
    record holding them, to be typed again (or made ``${KEY}`` references) there first."""
    own = dict.fromkeys(f for fields in KINDS[kind].bound.values() for f in fields)
    moved = [f for f in own if sensitive.plain_field(old, f, cipher) != sensitive.plain_field(data, f, cipher)]
    rid = str(old.get("id") or "")
    if not moved or not rid:
        return
    for other_kind, path, ref, targets in BOUND_BY_REFERENCE:
        if kind not in targets:
            continue
        for other_id, other in all_raw.get(other_kind, {}).items():
            held = sensitive.stored_literals(path, other) if sensitive.plain_field(other, ref, cipher) == rid else []
            if held:
                raise ValidationError(
                    f"{moved[0]}: {singular(other_kind)} {str(other.get('name') or other_id)!r} keeps {held[0]} "
                    f"stored for this {singular(kind)}; type it again there (or use a ${{SECRET}} reference) "
                    f"before changing {moved[0]}: a stored secret is only ever sent where it was saved for",
                    field=moved[0],
                )


async def prepare(
    kind: str,
    body: dict[str, Any],
    old: dict[str, Any] | None,
    all_raw: dict[str, dict[str, dict[str, Any]]],
    cipher: Cipher,
    rules: RuleTable,
    *,
    importing: bool = False,
) -> dict[str, Any]:
    """Validate ``body`` for ``kind`` and return the raw dict to store (id not set): shape, then
    ``rules[kind]`` in order, then references (every target exists), then sensitive fields."""
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    model_cls = KINDS[kind]
    cleared: set[str] = set()
    if old is not None:  # an update: absent keys follow the merge rule (magec.store.merge)
        body, cleared = merge.merge_update(model_cls, body, old)
    else:
        body = merge.drop_legacy(model_cls, body)
    try:
        model = model_cls.model_validate(body)
    except pydantic.ValidationError as e:
        raise from_pydantic(e) from None
    data = model.dump()
    data.pop("id", None)
    save = Save(data, old, all_raw, importing)
    for rule in rules.get(kind, ()):
        rule(save)
    for ref in references.refs_of(kind, data):
        if not any(ref.target in all_raw.get(t, {}) for t in ref.target_kinds):
            what = " or ".join(singular(t) for t in ref.target_kinds)
            raise ValidationError(f"{ref.field}: {what} {ref.target!r} not found", field=ref.field)
    if kind == "clients":
        tokens.save_rule(data, body, old, importing)  # transforms, so not a RuleTable rule
    data = sensitive.protect(
        model_cls.sensitive, data, old, cipher, urls=model_cls.secret_urls, bound=model_cls.bound, cleared=cleared,
        carried=importing,
    )
    if old is not None:
        check_moves(kind, data, old, all_raw, cipher)
    return data


async def prepare_settings(
    body: dict[str, Any],
    all_raw: dict[str, dict[str, dict[str, Any]]],
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate new settings; ``stored`` (the current ones) fills what the body leaves out by the
    merge rule of :mod:`magec.store.merge` (e.g. ``flows`` kept by a save from Magec's UI)."""
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    if isinstance(stored, dict):
        body, _ = merge.merge_update(Settings, body, stored)
    try:
        data = Settings.model_validate(body).dump()
    except pydantic.ValidationError as e:
        raise from_pydantic(e) from None
    providers = all_raw.get("memoryProviders", {})
    for field, category in (("sessionProvider", "session"), ("longTermProvider", "longterm")):
        pid = data.get(field)
        if not pid:
            continue
        if pid not in providers:
            raise ValidationError(f"{field}: memory provider {pid!r} not found", field=field)
        if providers[pid].get("category") != category:
            raise ValidationError(
                f"{field}: memory provider {pid!r} is not a {category} provider", field=field
            )
    return data


def breaks_without(
    kind: str, ref_kind: str, data: dict[str, Any], target: str, all_raw: dict[str, dict[str, dict[str, Any]]],
    rules: RuleTable,
) -> bool:
    """Whether the referrer ``data`` stops working once ``target`` is scrubbed from it (what a
    forced delete does). A structural reference does — except a flow's step or node: the flow runs
    on without it unless what is left fails the flow's save rules (an emptied parallel, no entry).
    The delete dialog said "Flow Review will stop working" for a flow that ran on with its other
    agents, and a user kept an agent they meant to delete."""
    if ref_kind != "structural":
        return False
    if kind != "flows":
        return True
    scrubbed = references.scrub(kind, data, target)
    try:
        save = Save(KINDS[kind].model_validate(scrubbed).dump(), data, all_raw, False)
        for rule in rules.get(kind, ()):
            rule(save)
    except (pydantic.ValidationError, ValidationError):
        return True
    return False
