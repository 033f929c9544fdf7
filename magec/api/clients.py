"""Client-token authentication for the user app.

Every user-app route except health needs ``Authorization: Bearer mgc_...`` of an *enabled* client,
and may only reach that client's ``allowedAgents`` (agents or flows). While no client exists the
API is open (Magec's behaviour), with a start-up warning.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from magec.api.auth import bearer
from magec.api.guard import OPEN_LOCAL_ONLY, REMOTE
from magec.errors import AuthError, ForbiddenError, NotFoundError, ValidationError
from magec.resources import tokens
from magec.runtime.build import Runtime

#: the 401 message of a known token whose client is disabled; the Voice UI matches it to keep the
#: device's token (it is shown once: a client disabled for a while must not unpair its devices)
CLIENT_DISABLED = "this client is disabled"


@dataclass(frozen=True)
class Caller:
    client_id: str | None  # None = open mode or admin
    allowed: frozenset[str] | None  # None = everything

    def may_use(self, app_id: str) -> bool:
        return self.allowed is None or app_id in self.allowed

    def check(self, app_id: str) -> None:
        if not self.may_use(app_id):
            raise ForbiddenError("this client is not allowed to use this agent or flow")

    # Ownership of conversations (docs/security.md "Conversations: ownership"): a client's sessions
    # are stored under the ADK user id "<clientId>:<userId>", so the session key (app, user, session)
    # itself carries the owner and no route can reach another client's row, on every session
    # service (SQL, Redis) and for long-term memory too, which is keyed by the same user id. The
    # client id is percent-encoded so it never contains ":" and the first ":" always ends it: no
    # asserted user id can forge another client's prefix. Open mode and the admin use ids as sent.
    @property
    def _namespace(self) -> str:
        return "" if self.client_id is None else quote(self.client_id, safe="") + ":"

    def owner_key(self, user_id: str, field: str = "userId") -> str:
        """The ADK user id stored for ``user_id`` as asserted by this caller."""
        if len(user_id) > MAX_USER_ID:
            raise ValidationError(f"{field}: at most {MAX_USER_ID} characters", field=field)
        return self._namespace + user_id

    def shown(self, stored_user_id: str) -> str:
        """The user id as this caller knows it (its own namespace stripped)."""
        ns = self._namespace
        return stored_user_id[len(ns):] if ns and stored_user_id.startswith(ns) else stored_user_id


#: asserted user ids are bounded so "<clientId>:<userId>" always fits the 255-character id columns
MAX_USER_ID = 200
#: the only state keys a client may write (stateDelta, session-create state); see check_client_state
CLIENT_STATE_PREFIX = "client:"
#: ADK's dev web UI names its sessions in this one un-prefixed key (``{"displayName": "…"}``, sent on
#: session create and on rename), and so does the Voice UI. No agent, flow or template of magec
#: reads it, so a client may write it; refusing it left ADK's UI unable to open a session at all.
ADK_SESSION_METADATA = "__session_metadata__"


def check_client_state(state: dict[str, Any], field: str) -> None:
    """Refuse client-written state outside ``client:``.

    Un-prefixed keys are where agents' ``outputKey`` values live and what ``{{agent.output:KEY}}``
    puts into system prompts; ``flow:`` / ``temp:`` keys steer flows; ``app:`` / ``user:`` keys are
    shared with other sessions. A client writing any of them would steer other prompts, so they are
    refused (400 naming the key) rather than silently renamed: the client reads back what it wrote.
    The one exception is :data:`ADK_SESSION_METADATA` (an object), ADK's web UI's session name.
    """
    for key, value in state.items():
        if key == ADK_SESSION_METADATA:
            if not isinstance(value, dict):
                raise ValidationError(f"{field}.{key}: must be an object (e.g. {{\"displayName\": \"…\"}})",
                                      field=f"{field}.{key}")
            continue
        if not isinstance(key, str) or not key.startswith(CLIENT_STATE_PREFIX) or key == CLIENT_STATE_PREFIX:
            raise ValidationError(
                f"{field}.{key}: clients may only write state keys under {CLIENT_STATE_PREFIX!r} "
                f"(e.g. {CLIENT_STATE_PREFIX + str(key)!r}); other keys are written by agents and flows",
                field=f"{field}.{key}",
            )


OPEN = Caller(None, None)


def _signs_its_requests(runtime: Runtime, client_id: str) -> bool:
    """A webhook client with a signing secret: its token alone is only half its credential.

    The operator set ``signingSecret`` so that holding the token is not enough to run its agents
    (the token travels in automation configs and logs; the secret signs each body). Only the
    webhook route can check a body's signature, so everywhere else such a token is refused.
    """
    client = runtime.snapshot.clients.get(client_id)
    if client is None or client.type != "webhook":
        return False
    return bool((client.config.get("webhook") or {}).get("signingSecret"))


#: Magec's webhook refusals, word for word (server/clients/webhook/handler.go)
WEBHOOK_NOT_FOUND = "webhook not found"
WEBHOOK_DISABLED = "webhook client is disabled"
WEBHOOK_BAD_TOKEN = "invalid or missing token"
#: compared against when the id has no stored token hash: the same work for a known and an unknown id
_NO_HASH = tokens.hash_token("")


def webhook_client(runtime: Runtime, client_id: str, token: str) -> Any:
    """The webhook client ``client_id`` when ``token`` is its own token; else Magec's refusal, in an
    order that tells a caller without that token nothing (magec.api.user.webhooks' contract).

    * ``token`` is not client ``client_id``'s own (none, unknown, another client's, or no client
      has that id) → :class:`AuthError` ``invalid or missing token`` (401);
    * its own token, the client is not a webhook → :class:`NotFoundError` ``webhook not found`` (404);
    * its own token, the client is disabled → :class:`ForbiddenError` ``webhook client is disabled`` (403).

    Magec checks existence and ``enabled`` before the token (404 / 403 to anyone), so any caller
    could tell which ids exist and which are disabled. With no client at all (open mode) nothing
    can be revealed and every id is Magec's 404.
    """
    snapshot = runtime.snapshot
    if not snapshot.client_raw:
        raise NotFoundError(WEBHOOK_NOT_FOUND)
    client = snapshot.clients.get(client_id)
    stored = str((snapshot.client_raw.get(client_id) or {}).get(tokens.HASH) or "")
    given = tokens.hash_token(token) if token else ""
    matches = hmac.compare_digest(given or _NO_HASH, stored or _NO_HASH)  # the same work for any id
    if client is None or not given or not stored or not matches:
        raise AuthError(WEBHOOK_BAD_TOKEN)
    if client.type != "webhook":
        raise NotFoundError(WEBHOOK_NOT_FOUND)
    if not client.enabled:
        raise ForbiddenError(WEBHOOK_DISABLED)
    return client


def authenticate(request: Request, runtime: Runtime, *, signed: bool = False) -> Caller:
    """The caller of ``request``; ``signed``: the route checks a webhook's body signature itself."""
    clients = runtime.snapshot.client_raw
    if not clients:
        if request.scope.get("state", {}).get(REMOTE):  # the guard let it pass on a staler view
            raise ForbiddenError(OPEN_LOCAL_ONLY)
        return OPEN
    return caller_for_token(runtime, bearer(request), signed=signed)


def caller_for_token(runtime: Runtime, token: str, *, signed: bool = False) -> Caller:
    """The caller a client token stands for (any transport: header, WebSocket query or cookie)."""
    if not runtime.snapshot.client_raw:
        return OPEN
    if not token:
        raise AuthError("client token required: send Authorization: Bearer mgc_...")
    found = tokens.lookup(runtime.snapshot.clients_by_token_hash, token)
    if found is not None:
        cid, raw = found
        if not raw.get("enabled", True):
            raise AuthError(CLIENT_DISABLED)
        if not signed and _signs_its_requests(runtime, cid):
            raise AuthError(
                "this webhook client signs its requests: its token works only on "
                f"POST /api/v1/webhooks/{quote(cid, safe='')} with X-Magec-Timestamp and X-Magec-Signature"
            )
        return Caller(cid, frozenset(raw.get("allowedAgents") or []))
    raise AuthError("invalid client token")
