"""Client-token authentication for the user app.

Every user-app route except health needs ``Authorization: Bearer mgc_...`` of an *enabled* client,
and may only reach that client's ``allowedAgents`` (agents or flows). While no client exists the
API is open (Magec's behaviour), with a start-up warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from magec.api.auth import bearer
from magec.errors import AuthError, ForbiddenError
from magec.runtime.build import Runtime
from magec.store.validation import hash_token


@dataclass(frozen=True)
class Caller:
    client_id: str | None  # None = open mode or admin
    allowed: frozenset[str] | None  # None = everything

    def may_use(self, app_id: str) -> bool:
        return self.allowed is None or app_id in self.allowed

    def check(self, app_id: str) -> None:
        if not self.may_use(app_id):
            raise ForbiddenError(f"this client is not allowed to use {app_id!r}")


OPEN = Caller(None, None)


def authenticate(request: Request, runtime: Runtime) -> Caller:
    clients = runtime.snapshot.client_raw
    if not clients:
        return OPEN
    token = bearer(request)
    if not token:
        raise AuthError("client token required: send Authorization: Bearer mgc_...")
    # A SHA-256 digest of a high-entropy token: a dict lookup leaks nothing useful about it.
    found = runtime.snapshot.clients_by_token_hash.get(hash_token(token))
    if found is not None:
        cid, raw = found
        if not raw.get("enabled", True):
            raise AuthError("this client is disabled")
        return Caller(cid, frozenset(raw.get("allowedAgents") or []))
    raise AuthError("invalid client token")
