"""Webhooks: ``POST /api/v1/webhooks/{clientId}`` runs a webhook client's agent (user port).

Contract (Magec's handler, ``server/clients/webhook/handler.go``, plus the parts marked *beyond
Magec*). Every answer is JSON with ``ok`` first; a refusal is ``{"ok": false, "error", "code"}``
(``error`` in Magec's words where Magec has one, ``code`` ours):

* **Who may call** (:func:`magec.api.clients.webhook_client`, run before the body is read too): anything but the client's
  own token — none, an unknown one, another client's, or an id no client has — is ``401``
  ``invalid or missing token``; with its own token, a client that is not a webhook is ``404``
  ``webhook not found`` and a disabled one ``403`` ``webhook client is disabled``. Magec answers
  ``404`` and ``403`` before it looks at the token, which tells anyone which ids exist and which
  are disabled; here only the token's holder learns it (documented difference). With no client at
  all (open mode) every id is ``404``.
* *Beyond Magec* (Magec's webhooks have no signature): with ``config.webhook.signingSecret`` set,
  ``X-Magec-Timestamp`` must be the request's time (Unix seconds) and ``X-Magec-Signature:
  sha256=<hex>`` the HMAC-SHA256 under that secret of ``<timestamp>.<raw body>`` (compared in
  constant time), as Stripe and Slack sign: a timestamp more than :data:`SIGNATURE_TOLERANCE`
  seconds from the server's clock, either way, is refused, so a captured call cannot be replayed
  later; inside that window a signature already accepted is refused ``409`` (``conflict``): each
  accepted one is kept in the shared database for the window (:mod:`magec.clients.replay`), so
  every process and replica refuses the replay. Missing, stale or wrong → ``401``. The earlier form (a signature of the body alone) is
  refused: it could be replayed for ever, and no Magec caller sends it. Callbacks are signed the
  same way (:func:`signature_headers`).
* Body (JSON object, optional for command webhooks): ``prompt`` (Magec; ``message`` is accepted
  too), optional ``agent`` (*beyond Magec*: this allowed agent or flow alone; ``403``/``404`` when
  the client may not use it or it does not exist), ``sessionId`` (continue one conversation;
  default: a new session per call, as Magec) and ``callbackUrl``. Not JSON → ``400`` (Magec).
* **Every allowed agent** (Magec's executor): without ``agent`` the message goes to each of the
  client's ``allowedAgents`` in order (:meth:`Conversations.ask_each`), and ``response`` is their
  answers joined with ``\n---\n``; with more than one, ``agents`` lists those that answered and
  ``failed`` (when any did) ``[{"agent", "code", "error"}]``; all failing is a failure.
* **Passthrough** (``passthrough: true``): the body's ``prompt`` is the message (``400`` naming
  ``prompt`` when missing; Magec answers that ``500``). **Command** (``commandId``): the command's
  prompt is the message, and
  the request body is available to it: ``{{body}}`` is replaced by the whole body (JSON) and
  ``{{body.a.b}}`` by one value in it (strings as they are, anything else as JSON, missing = empty);
  a command prompt without any ``{{body…}}`` placeholder gets the body appended after a blank line
  as ``Request body:`` + JSON, when the body is not empty. A command that no longer exists is a
  ``500`` naming ``commandId`` (Magec's ``500``).
* **Sync**: the answer is ``200 {"ok": true, "response": <text>, "agent": <id>, "sessionId": …}``.
  A run that fails answers ``500`` whatever failed (Magec's executor error), with ``code`` naming
  the cause (:func:`failed_status`); a run longer than ``syncTimeout`` (default 120 s) is
  cancelled and answered ``500`` with code ``timeout`` (Magec's agent call times out after 15
  minutes into the same ``500``), and so is the run of a caller that hangs up. *Beyond Magec*:
  magec's own limits keep their statuses — a spent budget ``402``, a client over its concurrent
  runs ``429``, a server over its run limits ``503``; those, a provider's rate limit and a backend
  whose circuit breaker is open (Magec's ``500``, code ``rate_limit`` / ``backend_unavailable``)
  carry ``Retry-After`` (the provider's wait when it said one, the seconds until the breaker lets a
  call through, else 1), also as ``retryAfter`` in the body —
  and in a ``202``'s callback, which has no header to carry it (:func:`_result`).
* **Shutdown** (:func:`drain`): accepted runs get ``server.shutdownGrace`` to finish; the rest are
  cancelled and their callbacks told ``unavailable`` (send again).
* **Long runs** (*beyond Magec*): with ``callbackUrl`` (body, or ``X-Magec-Callback-Url``) the
  answer is ``202 {"ok": true, "runId": …, "status": "accepted"}`` at once, and the result
  ``{"runId", "clientId", "ok", "response" | "error", "code", "agent", "sessionId"}`` is POSTed to
  the callback as JSON (signed when a signing secret is set), retried twice on connection errors
  and 5xx. A run longer than ``callbackTimeout`` (default 900 s, Magec's 15-minute agent call) is
  cancelled and its callback told ``{"ok": false, "code": "timeout"}``. Accepted runs still going
  (run or callback) count against ``limits.maxRuns`` (503) and ``maxRunsPerClient`` (429): one past
  either is refused at once with ``Retry-After: 1``, before it is recorded (:func:`_over_limits`). **SSRF**: the callback must be ``http(s)`` and every address its host resolves to must
  be public — loopback, private, link-local, multicast, reserved and unspecified addresses are
  refused (``400`` naming ``callbackUrl``) unless ``config.webhook.allowPrivateCallbacks`` is true;
  the check is repeated right before the POST, which connects to the address that passed it (no
  second lookup a rebinding DNS server could answer differently), and redirects are not followed.
  Only the receiver's status is read, never its answer's body (it could send one without end).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from magec.api.auth import bearer
from magec.api.clients import webhook_client
from magec.api.errors import status_for_code
from magec.api.limits import LISTEN_SECONDS, parse_json
from magec.clients.accepted import AcceptedRuns, Orphan
from magec.clients.commands import render_command
from magec.clients.conversation import Conversations, Inbound
from magec.clients.replay import SeenSignatures
from magec.context import AppContext
from magec.errors import (
    AuthError,
    BackendRateLimitError,
    BackendUnavailableError,
    BudgetExceededError,
    ClientGoneError,
    ConflictError,
    MagecError,
    NotFoundError,
    OverloadedError,
    RateLimitedError,
    UnavailableError,
    ValidationError,
)
from magec.redact import redact

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Magec-Signature"
TIMESTAMP_HEADER = "X-Magec-Timestamp"
#: seconds a signed call's timestamp may be off the server's clock (either way): a captured call
#: replays only this long, and callers' clocks may drift a little
SIGNATURE_TOLERANCE = 300
CALLBACK_HEADER = "X-Magec-Callback-Url"
DEFAULT_SYNC_TIMEOUT = 120.0
#: how long a run with a callback may take (``callbackTimeout``): Magec's agent call gives up after
#: 15 minutes; without a bound a run that never ends would keep its accepted row renewed, and its
#: caller waiting, for ever
DEFAULT_CALLBACK_TIMEOUT = 900.0
CALLBACK_TIMEOUT = 30.0


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The ``X-Magec-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds) under ``secret``:
    the HMAC-SHA256 of ``<timestamp>.<body>``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The ``X-Magec-Timestamp`` and ``X-Magec-Signature`` headers of ``body`` sent now."""
    stamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secret, body, stamp)}


def signature_problem(secret: str, body: bytes, stamp: str, signature: str, now: float | None = None) -> str | None:
    """Why a call's ``X-Magec-Timestamp`` / ``X-Magec-Signature`` pair does not sign ``body``, or None."""
    stamp = stamp.strip()
    if not signature or not stamp:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}: sign '<unix seconds>.<body>'"
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return f"{TIMESTAMP_HEADER} must be Unix seconds"
    if abs((time.time() if now is None else now) - int(stamp)) > SIGNATURE_TOLERANCE:
        return f"{TIMESTAMP_HEADER} is more than {SIGNATURE_TOLERANCE} s from the server's clock"
    # as bytes: header octets above 0x7f arrive as latin-1 text, which compare_digest refuses for
    # str (TypeError, a 500 instead of this 401)
    given = signature.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(given, sign(secret, body, stamp).encode()):
        return f"invalid {SIGNATURE_HEADER} signature"
    return None


def _fail(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None,
          **extra: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": redact(message), "code": code, **extra}, status_code=status,
                        headers=headers)


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


#: IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64 well-known and local-use,
#: IPv4-compatible): such an address reaches that IPv4 host through a translator
_EMBEDDING_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
#: never globally routable, and may carry a private IPv4 address at a place that depends on the
#: prefix length (local-use NAT64, RFC 8215; SIIT's IPv4-translated form): refused outright
_NOT_ROUTED = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::ffff:0:0:0/96"),
               ipaddress.ip_network("fec0::/10"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """``addr`` and every IPv4 address it stands for are global unicast. Python calls NAT64
    (``64:ff9b::a9fe:a9fe`` = 169.254.169.254), 6to4 and IPv4-compatible forms global; on an
    IPv6-only cluster they reach the private IPv4 host they embed."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_public(addr.ipv4_mapped)
        if any(addr in net for net in _NOT_ROUTED):
            return False
        if addr.sixtofour is not None and addr in _SIX_TO_FOUR:
            return is_public(addr.sixtofour)
        if any(addr in net for net in _EMBEDDING_IPV4):
            return is_public(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return addr.is_global and not addr.is_multicast


async def check_callback(url: str, allow_private: bool, resolve: Resolver | None = None) -> str:
    """The address to POST ``url``'s callback to, once every address its host resolves to passed.

    Refuses (``ValidationError`` naming ``callbackUrl``) a URL that is not http(s), whose host does
    not resolve, or (unless ``allow_private``) that reaches a non-public address. The caller must
    connect to the returned address (see ``post_callback``): resolving the name again would let a
    rebinding DNS server answer a public address to this check and an inward one to the POST.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("callbackUrl: must be an http(s) URL with a host", field="callbackUrl")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = await (resolve or _system_resolve)(parts.hostname, port)
        addrs = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
    except (OSError, ValueError):
        raise ValidationError(f"callbackUrl: cannot resolve {parts.hostname!r}", field="callbackUrl") from None
    if not addrs:
        raise ValidationError(f"callbackUrl: cannot resolve {parts.hostname!r}", field="callbackUrl")
    for addr in addrs:
        if not allow_private and not is_public(addr):
            # The message does not say which address: it would map the internal network for a
            # caller probing host names.
            raise ValidationError(
                f"callbackUrl: {parts.hostname!r} resolves to a non-public address; "
                "set allowPrivateCallbacks on the webhook client to allow it",
                field="callbackUrl",
            )
    return str(addrs[0])


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` rewritten to connect to ``address``, with the ``Host`` header and TLS name it had.

    Returns the URL, the headers to add and the httpx request extensions (``sni_hostname``: the
    certificate is still checked against the URL's host name, not the address).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + literal + ("" if parts.port is None else f":{parts.port}")
    target = parts._replace(netloc=netloc).geturl()
    host_header = (f"[{host}]" if ":" in host else host) + ("" if parts.port is None else f":{parts.port}")
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme == "https" else {}
    return target, {"Host": host_header}, extensions


async def post_callback(
    url: str,
    payload: dict[str, Any],
    secret: str,
    allow_private: bool,
    *,
    resolve: Resolver | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> bool:
    """POST ``payload`` to ``url`` (re-checked and pinned first); True when the receiver answered 2xx.

    ``resolve`` and ``transport`` are seams for tests (a scripted DNS answer, a recording transport).
    """
    data = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "magec-webhook"}
    for attempt in range(3):
        if secret:  # stamped per attempt: a retry is a new send, within the receiver's window
            headers.update(signature_headers(secret, data))
        try:
            address = await check_callback(url, allow_private, resolve)
            target, host, extensions = pinned(url, address)
            async with (
                httpx.AsyncClient(timeout=CALLBACK_TIMEOUT, follow_redirects=False, transport=transport) as http,
                # streamed and left unread: only the status counts, and the receiver (the webhook
                # caller's URL) could answer with a body without end, which a plain post reads whole
                http.stream("POST", target, content=data, headers={**headers, **host}, extensions=extensions) as r,
            ):
                status = r.status_code
            if status < 500:
                if status >= 300:
                    log.warning("webhook callback answered %s", status)
                return status < 300
        except ValidationError as err:
            log.warning("webhook callback refused: %s", err)
            return False
        except httpx.HTTPError as err:
            log.warning("webhook callback failed: %s", redact(repr(err)))
        await asyncio.sleep(attempt + 1)
    return False


def _over_limits(accepted: Counter[str], client_id: str, max_runs: int, per_client: int) -> JSONResponse | None:
    """The refusal of one more accepted run, or None. A ``202`` costs the server the run, a task, a
    row and its callback's connections after the caller has gone: runs still going (run or
    callback) count against ``limits.maxRuns`` (this process's, 503) and ``maxRunsPerClient``
    (429), as the turns they are — unbounded, a caller looping on ``202`` piled them up for free
    (one past the limit only failed later, in its callback)."""
    wait = {"Retry-After": "1"}
    if per_client and accepted[client_id] >= per_client:
        return _fail(429, f"this client has {per_client} accepted runs going, its limit (limits.maxRunsPerClient); "
                     "send again when one has called back", RateLimitedError.code, headers=wait)
    if max_runs and accepted.total() >= max_runs:
        return _fail(503, f"the server has {max_runs} accepted runs going, its limit (limits.maxRuns); send again "
                     "shortly", OverloadedError.code, headers=wait)
    return None


def _release(accepted: Counter[str], client_id: str) -> None:
    accepted[client_id] -= 1
    if accepted[client_id] <= 0:
        del accepted[client_id]


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["webhooks"])
    background: set[asyncio.Task[Any]] = ctx.extras.setdefault("webhook_runs", set())
    accepted: Counter[str] = Counter()  # accepted runs still going (run or callback), per client

    def seen() -> SeenSignatures:
        """Signatures accepted in the window, shared by every process (magec.clients.replay)."""
        found = ctx.extras.get("webhook_signatures")
        if found is None:
            found = ctx.extras["webhook_signatures"] = SeenSignatures(ctx.store.engine, SIGNATURE_TOLERANCE)
        return found  # type: ignore[no-any-return]

    def conversations() -> Conversations:
        conv = ctx.extras.get("conversations")
        if conv is None:
            conv = ctx.extras["conversations"] = Conversations(ctx)
        return conv  # type: ignore[no-any-return]

    @r.post("/api/v1/webhooks/{client_id}", summary="Run a webhook client (passthrough or command)")
    async def webhook(client_id: str, request: Request) -> JSONResponse:
        assert ctx.runtime is not None
        rt = await ctx.runtime.fresh()
        try:  # checked before the body is read too (magec.api.limits' preauth); the same answers
            client = webhook_client(rt, client_id, bearer(request))
        except MagecError as err:
            return _fail(err.status_code, str(err), err.code)
        cfg = client.config.get("webhook") or {}
        body_bytes = await request.body()
        secret = str(cfg.get("signingSecret") or "")
        if secret:
            stamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
            problem = signature_problem(secret, body_bytes, stamp, request.headers.get(SIGNATURE_HEADER, ""))
            if problem:
                return _fail(401, problem, AuthError.code)
            if not await seen().first_use(client_id, sign(secret, body_bytes, stamp), int(stamp)):
                return _fail(409, f"this signed call was received already: sign each call with the time "
                                  f"it is sent ({TIMESTAMP_HEADER})", ConflictError.code)
        try:
            body = parse_json(body_bytes, required=False) if body_bytes.strip() else {}
            prompt, options = _prompt(rt.snapshot, cfg, body)
            if options.get("agent"):  # the caller's choice, refused as a request (not a failed run)
                conversations().pick(rt, client, options["agent"])
            callback = str(options.get("callbackUrl") or request.headers.get(CALLBACK_HEADER) or "")
            allow_private = bool(cfg.get("allowPrivateCallbacks"))
            if callback:
                await check_callback(callback, allow_private)
        except _CommandGone as err:
            return _fail(500, str(err), NotFoundError.code, field=err.field)
        except MagecError as err:
            field = getattr(err, "field", None)
            return _fail(err.status_code, str(err), err.code, **({"field": field} if field else {}))
        session = str(options.get("sessionId") or "") or f"webhook-{uuid.uuid4()}"
        inbound = Inbound(conversation=session, user="webhook", text=prompt, agent=options.get("agent") or None)

        if callback:
            refusal = _over_limits(accepted, client_id, ctx.config.max_runs, ctx.config.max_runs_per_client)
            if refusal is not None:
                return refusal
            accepted[client_id] += 1  # from now (no request slips in during the await below) until its callback is done
            run_id = str(uuid.uuid4())
            ledger: AcceptedRuns | None = ctx.extras.get("accepted_runs")
            if ledger is not None:
                try:  # a 202 is a promise: it is on disk before it is made
                    await ledger.accept(run_id, client_id, callback, session)
                except Exception as err:
                    log.warning("webhook run not accepted: %s", redact(str(err)))
                    _release(accepted, client_id)
                    return JSONResponse(
                        {"ok": False, "code": UnavailableError.code, "error": "the run could not be recorded; send it again"},
                        status_code=503,
                        headers={"Retry-After": "5"},
                    )

            limit = float(cfg.get("callbackTimeout") or DEFAULT_CALLBACK_TIMEOUT)

            async def run_and_call_back() -> None:
                stopped = False
                deadline = asyncio.timeout(limit)
                try:
                    async with deadline:
                        out = await conversations().ask_each(client_id, inbound)
                    payload = {"runId": run_id, "clientId": client_id, **_result(out, session)}
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    payload = {"runId": run_id, "clientId": client_id, "ok": False, "code": "timeout",
                               "error": f"the run took longer than {limit:g} s", "agent": None,
                               "sessionId": session}
                except asyncio.CancelledError:  # the server is stopping (drain): say so, to retry
                    stopped = True
                    payload = {"runId": run_id, "clientId": client_id, "ok": False, "code": UnavailableError.code,
                               "error": STOPPED, "agent": None, "sessionId": session}
                if not stopped:
                    try:
                        await post_callback(callback, payload, secret, allow_private)
                        await _forget(ledger, run_id)
                        return
                    except asyncio.CancelledError:
                        pass  # stopping while sending the result: it gets the last attempt below
                told = False
                with contextlib.suppress(Exception):  # bounded: the drain waits CALLBACK_GRACE for it
                    told = await asyncio.wait_for(post_callback(callback, payload, secret, allow_private), CALLBACK_GRACE)
                if told:  # else the row stays: the next process to see it expire tells the caller
                    await _forget(ledger, run_id)
                raise asyncio.CancelledError

            task = asyncio.create_task(run_and_call_back())
            background.add(task)
            task.add_done_callback(background.discard)
            task.add_done_callback(lambda _: _release(accepted, client_id))
            if ledger is not None:  # however it ended, it is no longer renewed here: a row left is an orphan
                task.add_done_callback(lambda _: ledger.release(run_id))
            return JSONResponse({"ok": True, "runId": run_id, "status": "accepted"}, status_code=202)

        timeout = float(cfg.get("syncTimeout") or DEFAULT_SYNC_TIMEOUT)
        ask = asyncio.ensure_future(conversations().ask_each(client_id, inbound))
        gone = asyncio.ensure_future(_hung_up(request))
        try:
            await asyncio.wait((ask, gone), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not ask.done():  # timed out, the caller hung up, or this handler was cancelled
                ask.cancel()
                await asyncio.gather(ask, return_exceptions=True)
        if ask.cancelled():
            if gone.done() and not gone.cancelled():
                return _fail(499, "the caller hung up; the run was cancelled", ClientGoneError.code)
            # Magec's agent call gives up after 15 minutes, and its executor's error is a 500
            return _fail(500, f"the run took longer than {timeout:g} s; send a callbackUrl for long runs", "timeout")
        out = ask.result()
        result = _result(out, session)
        if not result["ok"]:
            wait = {"Retry-After": str(result["retryAfter"])} if "retryAfter" in result else None
            return JSONResponse(result, status_code=failed_status(out.error_code), headers=wait)
        return JSONResponse(result)

    return r


#: failed runs that keep their own status: magec's limits, which Magec does not have (a spent
#: budget is no server error, and 429/503 tell an automation to try again later)
_OWN_STATUS = frozenset({BudgetExceededError.code, RateLimitedError.code, OverloadedError.code})


def failed_status(code: str | None) -> int:
    """The status of a sync run that failed with ``code``: Magec's ``500`` (its executor's error,
    whatever failed), except :data:`_OWN_STATUS`; the body's ``code`` says what failed."""
    return status_for_code(code) if code in _OWN_STATUS else 500


#: what a callback says of a run the server stopped before it finished (code ``unavailable``)
STOPPED = "magec stopped before this run finished; nothing was answered, send it again"
#: seconds a stopping server gives one such callback
CALLBACK_GRACE = 10.0


async def drain(ctx: AppContext, grace: float) -> None:
    """At shutdown, before the backends close: let the accepted (202) runs finish for up to
    ``grace`` seconds, then cancel the rest — each then tells its callback, with code
    ``unavailable``, that it must be sent again (closing the backends under them failed them as a
    provider's ``malformed_response``)."""
    runs: set[asyncio.Task[Any]] = ctx.extras.get("webhook_runs") or set()
    pending = {t for t in runs if not t.done()}
    if not pending:
        return
    log.info("waiting up to %gs for %d accepted webhook run(s) to finish", grace, len(pending))
    _, late = await asyncio.wait(pending, timeout=grace or None) if grace else (set(), pending)
    for task in late:
        task.cancel()
    if late:
        log.warning("%d webhook run(s) did not finish before shutdown; their callbacks were told to send again", len(late))
        await asyncio.wait(late, timeout=CALLBACK_GRACE + 1)


async def _forget(ledger: AcceptedRuns | None, run_id: str) -> None:
    """The caller has its answer: the run's row goes (a failure leaves it to expire, and the caller
    is then told once more to send again — never told nothing)."""
    if ledger is None:
        return
    try:
        await ledger.done(run_id)
    except Exception as err:
        log.warning("accepted run %s answered, but its record stays: %s", run_id, redact(str(err)))


#: what a callback says of a run whose process died before it finished (told by another process)
LOST = "magec stopped (it did not shut down cleanly) before this run finished; nothing was answered, send it again"


def orphan_teller(ctx: AppContext) -> Callable[[Orphan], Awaitable[bool]]:
    """How :class:`~magec.clients.accepted.AcceptedRuns` tells the caller of a run whose process is
    gone: ``unavailable``, send it again, signed with the client's current signing secret. True
    when the caller got it, or when nobody can be told any more (the client was deleted)."""

    async def tell(orphan: Orphan) -> bool:
        assert ctx.runtime is not None
        snapshot = (await ctx.runtime.fresh()).snapshot
        client = snapshot.clients.get(orphan.client_id)
        if client is None or client.type != "webhook":
            log.warning("accepted run %s: its webhook client is gone; nobody to tell", orphan.run_id)
            return True
        cfg = client.config.get("webhook") or {}
        payload = {"runId": orphan.run_id, "clientId": orphan.client_id, "ok": False, "code": UnavailableError.code,
                   "error": LOST, "agent": None, "sessionId": orphan.session}
        told = await post_callback(orphan.callback, payload, str(cfg.get("signingSecret") or ""),
                                   bool(cfg.get("allowPrivateCallbacks")))
        log.info("accepted run %s of a stopped process: caller %s", orphan.run_id, "told" if told else "not reached")
        return told

    return tell


async def _hung_up(request: Request) -> None:
    """Returns once the caller of a synchronous webhook has hung up: a turn nobody waits for
    would otherwise keep its provider call going for up to ``syncTimeout`` (as the run API, which
    cancels a non-streamed turn on a hang-up, :func:`magec.api.limits.answer_while_connected`)."""
    while not await request.is_disconnected():
        await asyncio.sleep(LISTEN_SECONDS)


def _retry_after(out: Any) -> int | None:
    """The seconds a failed run's caller should wait before sending it again: a limit's refusal
    (429 / 503), the provider's rate limit or an open breaker (Magec's 500 kept: its ``code`` says
    ``rate_limit`` / ``backend_unavailable``) — the provider's or breaker's own wait when known,
    else 1; None otherwise."""
    retry = failed_status(out.error_code) in (429, 503) or out.error_code in (BackendRateLimitError.code,
                                                                             BackendUnavailableError.code)
    return int(out.retry_after or 1) if retry else None


def _result(out: Any, session: str) -> dict[str, Any]:
    """The body of a run's outcome: the synchronous answer's, and the callback's after a ``202``
    (plus ``runId`` / ``clientId``). A failure that says when to come back carries ``retryAfter``
    (seconds; the synchronous answer's ``Retry-After`` too), so a callback's receiver backs off as
    a synchronous caller does."""
    if out.error_code:
        result = {"ok": False, "error": out.error_message or out.error_code, "code": out.error_code,
                  "agent": out.agent_id or None, "sessionId": session}
        if (wait := _retry_after(out)) is not None:
            result["retryAfter"] = wait
    else:
        result = {"ok": True, "response": out.text, "agent": out.agent_id, "sessionId": session}
    if out.parts:  # a fan-out: who answered, and why the others did not
        result["agents"] = [p.agent_id for p in out.parts if p.error_code is None]
        failed = [{"agent": p.agent_id or None, "code": p.error_code, "error": p.error_message or p.error_code}
                  for p in out.parts if p.error_code]
        if failed:
            result["failed"] = failed
    return result


class _CommandGone(Exception):
    """The webhook's command no longer exists (answered ``500``, as Magec)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _prompt(snap: Any, cfg: Any, body: Any) -> tuple[str, dict[str, Any]]:
    """(message, options) of a request (see the module contract)."""
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    options = {k: body.get(k) for k in ("agent", "sessionId", "callbackUrl") if body.get(k) is not None}
    for key, value in options.items():
        if not isinstance(value, str):
            raise ValidationError(f"{key}: must be a string", field=key)
    if cfg.get("passthrough") is True:
        text = body.get("prompt", body.get("message"))
        if text is not None and not isinstance(text, str):  # a number, a list: not "missing"
            raise ValidationError(f"prompt: must be a string, got {type(text).__name__}", field="prompt")
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("prompt: is required for a passthrough webhook", field="prompt")
        return text, options
    command = snap.commands.get(str(cfg.get("commandId") or ""))
    if command is None:  # the client's configuration, not the request: Magec's 500
        raise _CommandGone("commandId: the webhook's command no longer exists", field="commandId")
    # what the command sees is the caller's payload, without the webhook's own options
    payload = {k: v for k, v in body.items() if k not in ("agent", "sessionId", "callbackUrl")}
    return render_command(command.prompt, payload), options
