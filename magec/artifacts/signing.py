"""Ephemeral download URLs: HMAC-signed tokens bound to one artifact version, with an expiry.

A token is ``<base64url(JSON claims)>.<base64url(HMAC-SHA256(claims))>``; the claims name the
owner scope (app, user, session — ``""`` for user-scoped), the filename, the exact version, that
version's creation time (``c``) and the expiry (``e``, Unix seconds). Version numbers restart at 0
after a delete, so the creation time is what ties a link to the bytes it was made for: a link to
a deleted artifact stays dead when a new one of the same name is saved. Whoever holds the URL may download that one version until it
expires — nothing else, and no other credential is needed (a link to hand to a browser or a chat
platform). The claims are not secret (the owner key is in them) but are only ever shown to the
owner or the agent acting for it.

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


class Signer:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def mint(self, claims: Claims) -> str:
        fields = {"a": claims.app, "u": claims.user, "s": claims.session, "n": claims.filename,
                  "v": claims.version, "e": int(claims.expires)}
        if claims.created is not None:
            fields["c"] = claims.created
        body = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def verify(self, token: str, now: float | None = None) -> Claims:
        try:
            head, sig = token.split(".")
            body, mac = _unb64(head), _unb64(sig)
        except (ValueError, TypeError) as e:  # binascii.Error is a ValueError
            raise InvalidToken from e
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken
        try:
            c = json.loads(body)
            created = None if c.get("c") is None else float(c["c"])
            claims = Claims(str(c["a"]), str(c["u"]), str(c["s"]), str(c["n"]), int(c["v"]), float(c["e"]), created)
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidToken from e
        if claims.expires <= (time.time() if now is None else now):
            raise ExpiredToken
        return claims


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
