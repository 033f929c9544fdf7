"""Write-only, encrypted-at-rest fields (API keys, secret values, connection strings, header values).

A sensitive field is stored encrypted (``enc:v1:``) unless it is a pure ``${KEY}`` reference, which
is kept as typed. In API output a literal value is blanked and ``<field>Set: true`` is added; on
update an empty value keeps the stored one. Values stored in clear by older versions are blanked
in the API too, and encrypted on the next write (or at start-up, :meth:`Store.start`).

URL fields (``Resource.secret_urls``) are sensitive only where they carry credentials
(``user:pass@``, ``?key=``, ``&sig=``…): such a URL is encrypted whole and shown with those parts
as ``***``; sending that masked form back keeps the stored URL.

Binding (``Resource.bound``): a kept value is only ever sent where it was stored for — changing
e.g. a backend's ``url`` or ``type`` while keeping its stored key is refused (400 naming the
field), so the write-only key can never be redirected to another server.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

from magec.errors import ValidationError
from magec.redact import CREDENTIAL_PARAM
from magec.store.crypto import Cipher, is_encrypted

_PURE_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$")
MASK = "***"
#: shortest header/env value registered for redaction (see :func:`secret_values`)
MAP_MIN_LEN = 4
# scheme://[userinfo@]rest[?query][#fragment], kept as typed (no re-encoding) so masking is exact
_URL = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:(?P<userinfo>[^/?#]*)@)?(?P<rest>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?P<fragment>#.*)?$",
    re.S,
)
_CRED_NAME = re.compile(rf"^{CREDENTIAL_PARAM}$", re.I)


def is_reference(value: object) -> bool:
    return isinstance(value, str) and bool(_PURE_REF.match(value.strip()))


def _slots(data: dict[str, Any], path: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) pairs addressed by ``path`` (``a.b`` or ``a.*``)."""
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node.get(p) if isinstance(node, dict) else None
        if node is None:
            return
    if not isinstance(node, dict):
        return
    if last == "*":
        for key in list(node):
            yield node, key
    elif last in node:
        yield node, last


# -- URL credentials ----------------------------------------------------------------------------
def _url_parts(url: str) -> tuple[str, str | None, str, list[tuple[str, str | None]], str] | None:
    m = _URL.match(url.strip())
    if m is None:
        return None
    query = m.group("query")
    params: list[tuple[str, str | None]] = []
    for item in query.split("&") if query is not None else []:
        name, eq, value = item.partition("=")
        params.append((name, value if eq else None))
    return m.group("scheme"), m.group("userinfo"), m.group("rest"), params, m.group("fragment") or ""


def _literal(value: str | None) -> bool:
    return bool(value) and not is_reference(value)


def url_credentials(url: object) -> list[str]:
    """The credential values in a URL: the userinfo password (or the user, when it is the only
    part, as in ``https://TOKEN@host``) and credential-named query values; ``${KEY}`` refs excluded."""
    if not isinstance(url, str) or not url:
        return []
    parts = _url_parts(url)
    if parts is None:
        return []
    _, userinfo, _, params, _ = parts
    found: list[str] = []
    if userinfo:
        user, colon, password = userinfo.partition(":")
        cred = password if colon else user
        if _literal(cred):
            found.append(cred)
    for name, value in params:
        if value is not None and _CRED_NAME.match(name) and _literal(value):
            found.append(value)
    return found


def mask_url(url: str) -> str:
    """``url`` with every credential value replaced by ``***`` (what the Admin API shows)."""
    parts = _url_parts(url)
    if parts is None or not url_credentials(url):
        return url
    scheme, userinfo, rest, params, fragment = parts
    out = scheme
    if userinfo is not None:
        user, colon, password = userinfo.partition(":")
        if colon:
            out += f"{user}:{MASK if _literal(password) else password}@"
        else:
            out += f"{MASK if _literal(user) else user}@"
    out += rest
    if params:
        items = [
            n if v is None else f"{n}={MASK if _CRED_NAME.match(n) and _literal(v) else v}" for n, v in params
        ]
        out += "?" + "&".join(items)
    return out + fragment


def _get(data: dict[str, Any] | None, path: str) -> Any:
    node: Any = data
    for p in path.split("."):
        node = node.get(p) if isinstance(node, dict) else None
    return node


def _plain(value: Any, cipher: Cipher) -> Any:
    return cipher.decrypt(value) if is_encrypted(value) else value


def _protect_url(
    path: str, out: dict[str, Any], old: dict[str, Any] | None, cipher: Cipher
) -> str:
    """Set the store form of one URL field; returns the plain URL it stands for."""
    parent = _parent(out, path)
    key = path.rsplit(".", 1)[-1]
    if parent is None or not isinstance(parent.get(key), str):
        return ""
    value = parent[key].strip()
    previous = _get(old, path)
    old_plain = _plain(previous, cipher) if isinstance(previous, str) else ""
    if old_plain and url_credentials(old_plain) and value == mask_url(old_plain):
        # The masked form the API returned came back: keep the stored URL (encrypting a legacy one).
        parent[key] = previous if is_encrypted(previous) else cipher.encrypt(old_plain)
        return str(old_plain)
    if MASK in url_credentials(value):
        raise ValidationError(
            f"{path}: the stored credentials are only kept for the same URL; type them again",
            field=path,
        )
    parent[key] = cipher.encrypt(value) if url_credentials(value) else value
    return value


def protect(
    paths: tuple[str, ...],
    new: dict[str, Any],
    old: dict[str, Any] | None,
    cipher: Cipher,
    *,
    urls: tuple[str, ...] = (),
    bound: dict[str, tuple[str, ...]] | None = None,
    cleared: frozenset[str] | set[str] = frozenset(),
    carried: bool = False,
) -> dict[str, Any]:
    """Prepare ``new`` for storage: an empty value keeps the stored one; literal values are encrypted.

    An encrypted value in ``new`` is accepted only as the one stored in that very field (the PUT
    merge rule carries it over), bound like any kept value; any other ciphertext (copied from a
    backup export, another record or field) is refused naming the field, or its secret could be
    sent where it was never saved for. ``carried``: an import or a legacy pass, whose records
    legitimately arrive encrypted.

    ``cleared``: paths the request set to ``null`` (:func:`magec.store.merge.merge_update`): emptied,
    not kept.

    ``urls`` are URL fields encrypted when they carry credentials; ``bound`` maps a sensitive path
    to the fields it is tied to: keeping a stored literal while one of those changed is refused."""
    out = copy.deepcopy(new)
    plain_now: dict[str, Any] = {}
    for path in urls:
        plain_now[path] = _protect_url(path, out, old, cipher)
    for path in paths:
        for container, key in list(_slots(out, path)):
            value = container[key]
            if value in ("", None) and path in cleared:
                container[key] = ""
            elif value in ("", None):
                previous = _lookup(old, path, key)
                if isinstance(previous, str) and _literal(previous):
                    name = f"{path[:-1]}{key}" if path.endswith(".*") else path
                    _check_bound(name, (bound or {}).get(path, ()), out, old, plain_now, cipher)
                    # a value stored in clear by an older version is encrypted now
                    previous = previous if is_encrypted(previous) else cipher.encrypt(previous)
                container[key] = previous if previous is not None else ""
            elif isinstance(value, str) and is_encrypted(value):
                # the stored secret itself, carried over by the PUT merge rule (a body that left the
                # field out keeps it): kept, so bound like any kept value — a URL changed with the
                # key left out must not send the key to the new URL
                name = f"{path[:-1]}{key}" if path.endswith(".*") else path
                if value == _lookup(old, path, key):
                    _check_bound(name, (bound or {}).get(path, ()), out, old, plain_now, cipher)
                elif not carried:
                    raise ValidationError(
                        f"{name}: an encrypted value is only accepted where it is stored; type the secret "
                        "(or use a ${SECRET} reference)",
                        field=name,
                    )
            elif isinstance(value, str) and not is_reference(value):
                container[key] = cipher.encrypt(value)
    return out


def _check_bound(
    what: str,
    fields: tuple[str, ...],
    new: dict[str, Any],
    old: dict[str, Any] | None,
    plain_now: dict[str, Any],
    cipher: Cipher,
) -> None:
    """Refuse to keep a stored secret when a field it is bound to (its URL, type, backend) changed."""
    for field in fields:
        before = _plain(_get(old, field), cipher)
        after = plain_now[field] if field in plain_now else _get(new, field)
        if (before or "") != (after or ""):
            raise ValidationError(
                f"{field}: changing it needs {what} typed again (a stored secret is only ever sent "
                f"where it was saved for; or use a ${{SECRET}} reference)",
                field=field,
            )


def _parent(data: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: Any = data
    for p in path.split(".")[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _lookup(old: dict[str, Any] | None, path: str, key: str) -> Any:
    if old is None:
        return None
    parent = _parent(old, path)
    return parent.get(key) if parent else None


def redact_for_api(
    paths: tuple[str, ...],
    raw: dict[str, Any],
    *,
    urls: tuple[str, ...] = (),
    cipher: Cipher | None = None,
) -> dict[str, Any]:
    """The API view: literal values (encrypted, or clear from an older version) blanked with a
    ``<key>Set`` flag (header-like maps: names kept, values blanked); ``${REF}`` values kept; URLs
    with their credentials as ``***``."""
    out = copy.deepcopy(raw)
    for path in paths:
        for container, key in list(_slots(out, path)):
            value = container[key]
            if isinstance(value, str) and _literal(value):
                container[key] = ""
                if not path.endswith(".*"):
                    container[f"{key}Set"] = True
            elif not path.endswith(".*") and key != "value":
                container[f"{key}Set"] = bool(value)
    for path in urls:
        for container, key in list(_slots(out, path)):
            value = container[key]
            if is_encrypted(value):
                value = cipher.decrypt(value) if cipher is not None else MASK
            if isinstance(value, str):
                container[key] = mask_url(value)
    return out


def encrypted_fields(paths: tuple[str, ...], raw: dict[str, Any]) -> list[str]:
    """The fields of ``raw`` among ``paths`` (``a.b`` or ``a.*``) that hold an encrypted value,
    each named as an API error names it (``headers.X-Key``)."""
    return [
        f"{path[:-1]}{key}" if path.endswith(".*") else path
        for path in paths
        for container, key in _slots(raw, path)
        if is_encrypted(container[key])
    ]


def stored_literals(path: str, raw: dict[str, Any]) -> list[str]:
    """The fields under ``path`` of a stored record holding a value of their own (encrypted, or
    clear from an older version) — not empty, not a ``${KEY}`` reference — named as
    :func:`encrypted_fields` names them."""
    return [
        f"{path[:-1]}{key}" if path.endswith(".*") else path
        for container, key in _slots(raw, path)
        if isinstance(container[key], str) and _literal(container[key])
    ]


def plain_field(data: dict[str, Any] | None, path: str, cipher: Cipher) -> Any:
    """The value at ``path`` (``a.b``), decrypted when it is encrypted (a URL with credentials)."""
    return _plain(_get(data, path), cipher)


def decrypt_all(paths: tuple[str, ...], raw: dict[str, Any], cipher: Cipher) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for path in paths:
        for container, key in list(_slots(out, path)):
            if is_encrypted(container[key]):
                container[key] = cipher.decrypt(container[key])
    return out


def secret_values(paths: tuple[str, ...], urls: tuple[str, ...], plain: dict[str, Any]) -> list[str]:
    """Every secret in a decrypted (or expanded) record: sensitive values and URL credentials —
    what :func:`magec.redact.register_secret` must know."""
    found: list[str] = []
    for path in paths:
        for container, key in _slots(plain, path):
            value = container[key]
            # Header/env maps mix keys with plain settings (``X-Debug: 1``, ``DEBUG=1``): their
            # values need MAP_MIN_LEN characters to be redacted (they are still encrypted and
            # write-only). Single fields (API keys, secret values, connection strings) and URL
            # credentials are known secrets: no minimum.
            if path.endswith(".*") and len(value or "") < MAP_MIN_LEN:
                continue
            if isinstance(value, str) and _literal(value):
                found.append(value)
    for path in urls:
        for container, key in _slots(plain, path):
            found.extend(url_credentials(container[key]))
    return found


def map_strings(data: Any, fn: Callable[[str], str]) -> Any:
    """Apply ``fn`` to every string value in a JSON structure (keys untouched)."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {k: map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, list):
        return [map_strings(v, fn) for v in data]
    return data
