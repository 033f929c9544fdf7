"""Client tokens (``mgc_…``): the one place they are issued, hashed, previewed and looked up.

Contract:
* A token is shown in clear exactly once, in the response of the request that issued it (client
  create, ``POST /clients/{id}/regenerate-token``), and is never stored: a client record keeps
  ``tokenHash`` (SHA-256 hex) and ``tokenPreview`` (``mgc_abcd…wxyz``), see :func:`stored_fields`.
* The issuing caller holds the clear token as a value (:func:`new_token`) and adds it to the view
  itself (:func:`with_token`); it never travels inside a stored or stored-to-be dict.
* An update keeps the stored hash and preview (:func:`save_rule`); only regeneration changes them.
* Views never show ``tokenHash`` (``Client.hidden``).
* Authentication is one dict lookup by hash (:func:`index`, :func:`lookup`): the SHA-256 digest of
  a high-entropy token leaks nothing useful, so no constant-time comparison is needed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

PREFIX = "mgc_"
HASH = "tokenHash"
PREVIEW = "tokenPreview"

#: tokenHash → (client id, raw client record)
TokenIndex = dict[str, tuple[str, dict[str, Any]]]


def new_token() -> str:
    """A fresh clear token (256 random bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_preview(token: str) -> str:
    """Enough of the token to recognise it in a list, not enough to use it."""
    return token[:8] + "…" + token[-4:]


def stored_fields(token: str) -> dict[str, str]:
    """What a client record keeps of ``token``."""
    return {HASH: hash_token(token), PREVIEW: token_preview(token)}


def save_rule(
    data: dict[str, Any], body: Mapping[str, Any], old: Mapping[str, Any] | None, importing: bool
) -> None:
    """Save-time rule of a client record: the clear ``token`` field is never stored.

    An update keeps the stored hash and preview. A new client gets the hash of the token an import
    brings along (Magec stores tokens in clear), else of a fresh token nobody sees: the Admin API
    replaces it with the one it issues and shows (``Store.create(..., server_fields=...)``).
    """
    data.pop("token", None)
    if old is not None:
        data[HASH] = old.get(HASH, "")
        data[PREVIEW] = old.get(PREVIEW, "")
        return
    token = str(body.get("token") or "") if importing else ""
    data.update(stored_fields(token or new_token()))


def with_token(view: dict[str, Any], token: str) -> dict[str, Any]:
    """The view answered once, by the request that issued ``token``."""
    return {**view, "token": token}


def index(clients: Mapping[str, dict[str, Any]]) -> TokenIndex:
    """tokenHash → (client id, raw client), built once per snapshot (the records are shared)."""
    return {str(raw[HASH]): (cid, raw) for cid, raw in clients.items() if raw.get(HASH)}


def lookup(by_hash: TokenIndex, token: str) -> tuple[str, dict[str, Any]] | None:
    """The client whose token is ``token``, or None."""
    return by_hash.get(hash_token(token))
