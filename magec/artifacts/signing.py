"""Ephemeral download URLs: sealed tokens bound to one artifact version, with an expiry.

A token is ``base64url(nonce ‖ AES-256-GCM(claims JSON))`` under a key derived from the signing
key: opaque (whoever is handed a link learns nothing from it: not the user id, which may be an
e-mail address, nor the session) and authenticated (any change is refused). The claims name the
owner scope (app, user, session — ``""`` for user-scoped), the filename, the exact version, that
version's creation time (``c``) and the expiry (``e``, Unix seconds). Links of the earlier form,
``<base64url(claims)>.<base64url(HMAC-SHA256(claims))>``, are still honoured until they expire. Version numbers restart at 0
after a delete, so the creation time is what ties a link to the bytes it was made for: a link to
a deleted artifact stays dead when a new one of the same name is saved. Whoever holds the URL may download that one version until it
expires — nothing else, and no other credential is needed (a link to hand to a browser or a chat
platform).

The key is 32 random bytes made once and stored encrypted with the store's cipher in
``artifact_signing`` (:mod:`magec.artifacts.tables`), so every replica of one database signs and
verifies alike; deleting that row revokes every URL (a new key is made on next start).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.artifacts.tables import artifact_signing
from magec.store.crypto import Cipher

#: default lifetime of a URL (``artifacts.urlTTL``), as Magec's one hour
DEFAULT_TTL = 3600.0


@dataclass(frozen=True)
class Claims:
    app: str
    user: str
    session: str
    filename: str
    version: int
    expires: float
    #: the version's creation time (``ArtifactVersion.create_time``); None in links minted before it
    #: was signed (they expire within ``artifacts.urlTTL``)
    created: float | None = None


class InvalidToken(Exception):
    """Malformed, tampered or signed with another key (403)."""


class ExpiredToken(Exception):
    """Genuine but past its expiry (410)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


#: bound into every sealed token: a token of another purpose sealed under the same key is refused
_AAD = b"magec-artifact-link-v2"


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key
        # a key of its own for sealing (the HMAC key verifies the earlier links only)
        self._aead = AESGCM(hmac.new(key, b"magec-artifact-seal", hashlib.sha256).digest())

    def mint(self, claims: Claims) -> str:
        fields = {"a": claims.app, "u": claims.user, "s": claims.session, "n": claims.filename,
                  "v": claims.version, "e": int(claims.expires)}
        if claims.created is not None:
            fields["c"] = claims.created
        body = json.dumps(fields, separators=(",", ":")).encode()
        nonce = secrets.token_bytes(12)
        return _b64(nonce + self._aead.encrypt(nonce, body, _AAD))

    def verify(self, token: str, now: float | None = None) -> Claims:
        body = self._open(token) if "." not in token else self._legacy(token)
        try:
            c = json.loads(body)
            created = None if c.get("c") is None else float(c["c"])
            claims = Claims(str(c["a"]), str(c["u"]), str(c["s"]), str(c["n"]), int(c["v"]), float(c["e"]), created)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise InvalidToken from e
        if claims.expires <= (time.time() if now is None else now):
            raise ExpiredToken
        return claims

    def _open(self, token: str) -> bytes:
        try:
            sealed = _unb64(token)
            if len(sealed) < 12 + 16:
                raise InvalidToken
            return self._aead.decrypt(sealed[:12], sealed[12:], _AAD)
        except (ValueError, TypeError, InvalidTag) as e:  # binascii.Error is a ValueError
            raise InvalidToken from e

    def _legacy(self, token: str) -> bytes:
        """A link minted before links were sealed (readable claims + HMAC): valid until it expires."""
        try:
            head, sig = token.split(".")
            body, mac = _unb64(head), _unb64(sig)
        except (ValueError, TypeError) as e:
            raise InvalidToken from e
        if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()):
            raise InvalidToken
        return body


async def load_signer(engine: AsyncEngine, cipher: Cipher) -> Signer:
    """The database's signing key (made and stored on first use, race-free across replicas)."""
    for _ in range(3):
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(artifact_signing.c.key).where(artifact_signing.c.id == 1))).scalar()
        if stored is not None:
            return Signer(_unb64(cipher.decrypt(stored)))
        try:
            async with engine.begin() as conn:
                await conn.execute(artifact_signing.insert().values(id=1, key=cipher.encrypt(_b64(secrets.token_bytes(32)))))
        except IntegrityError:  # another replica made it first: read theirs
            continue
    raise RuntimeError("artifact signing key could not be stored")
