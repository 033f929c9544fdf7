"""Client extras of the Admin API: the type table, live status, and platform token tests.

* ``GET /clients/types`` — Magec's ``[{type, displayName, configSchema}]``
  (:data:`magec.clients.types.TYPES`), for forms generated from the schemas.
* ``GET /clients`` and ``GET /clients/{id}`` — the generic views (with ``updatedAt``) plus ``status`` for clients run by
  a worker (bots, cron): ``{state, running, connected, identity, lastError, lastMessageAt, owner, …}``
  (``state``: :func:`~magec.clients.supervisor.state_of`, ``disabled`` for a disabled client);
  cron adds ``schedule``, ``nextRun``, ``lastRun``, ``lastOk``, ``lastResult``, ``runs`` (read from the
  database when the job runs on another replica). ``null`` for direct and webhook clients.
* ``POST /clients/{id}/telegram-test`` (``slack-test``, ``discord-test``) — calls the platform's
  identity method with the *saved* token at the client's ``apiBaseUrl`` (Telegram ``getMe``, Slack
  ``auth.test``, Discord ``GET /users/@me``) and answers ``{ok, identity, id, name}`` or
  ``{ok: false, error}`` (the token never appears in an answer or a log).

These routes are mounted before the generic CRUD routes, so ``/clients/types`` is never read as a
client id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter

from magec.api.admin.views import public
from magec.clients import cron, cronexpr
from magec.clients.supervisor import state_of
from magec.clients.types import TYPES
from magec.config_view.snapshot import expand
from magec.context import AppContext
from magec.errors import ValidationError
from magec.redact import redact, register_secret
from magec.resources import Client
from magec.store import sensitive
from magec.store.stamps import changed_at, stamped

DEFAULT_API = {
    "telegram": "https://api.telegram.org",
    "slack": "https://slack.com/api",
    "discord": "https://discord.com/api/v10",
}
TEST_TIMEOUT = 15.0


async def client_status(ctx: AppContext, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The ``status`` object of one client (see the module docstring)."""
    supervisor = ctx.extras.get("clients")
    ctype = str(raw.get("type") or "direct")
    if supervisor is None or ctype not in supervisor.workers:
        return None
    enabled = bool(raw.get("enabled", True))
    view: dict[str, Any] = await supervisor.status_view(raw["id"], ctype, enabled)
    if ctype == "cron":
        await _cron_status(ctx, raw, view)
    view["state"] = state_of(view, enabled)  # last: a cron schedule error counts
    return view


async def _cron_status(ctx: AppContext, raw: dict[str, Any], view: dict[str, Any]) -> None:
    section = (raw.get("config") or {}).get("cron") or {}
    schedule = str(section.get("schedule") or "")
    view["schedule"] = schedule
    last = await cron.last_run(ctx.store.engine, raw["id"])
    if last is not None:
        view.update(last)
    view["runs"] = await cron.run_count(ctx.store.engine, raw["id"])
    if not view.get("nextRun") and raw.get("enabled", True):
        try:
            expr = cronexpr.parse(schedule)
            tz = cronexpr.timezone(section.get("timezone"))
            view["nextRun"] = cron.iso(expr.next_after(datetime.now(UTC), tz))
        except ValueError as err:
            view["nextRun"] = None
            view["lastError"] = view.get("lastError") or f"schedule: {err}"


async def _expanded_config(ctx: AppContext, raw: dict[str, Any]) -> dict[str, Any]:
    """The client's ``config.<type>`` with its secrets decrypted and ``${KEY}`` expanded."""
    data = sensitive.decrypt_all(Client.sensitive + Client.secret_urls, raw, ctx.store.cipher)
    snap = await ctx.store.snapshot()
    section = (data.get("config") or {}).get(raw.get("type")) or {}

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return expand(value, snap.secret_values)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return dict(walk(section))


async def identity(ctype: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Ask the platform who the token belongs to (see the module docstring)."""
    token = str(cfg.get("botToken") or "").strip()
    if not token:
        raise ValidationError(f"config.{ctype}.botToken: is required", field=f"config.{ctype}.botToken")
    register_secret(token)
    base = str(cfg.get("apiBaseUrl") or "").strip().rstrip("/") or DEFAULT_API[ctype]
    try:
        async with httpx.AsyncClient(timeout=TEST_TIMEOUT) as http:
            if ctype == "telegram":
                r = await http.get(f"{base}/bot{token}/getMe")
                body = _json(r)
                if not body.get("ok"):
                    return {"ok": False, "error": _platform_error(r, body.get("description"))}
                me = body.get("result") or {}
                name = me.get("username") or me.get("first_name") or ""
                return {"ok": True, "identity": f"@{name}" if me.get("username") else name, "id": me.get("id"), "name": me.get("first_name") or name}
            if ctype == "slack":
                r = await http.post(f"{base}/auth.test", headers={"Authorization": f"Bearer {token}"})
                body = _json(r)
                if not body.get("ok"):
                    return {"ok": False, "error": _platform_error(r, body.get("error"))}
                return {"ok": True, "identity": f"@{body.get('user', '')}", "id": body.get("user_id"),
                        "name": body.get("user"), "team": body.get("team")}
            r = await http.get(f"{base}/users/@me", headers={"Authorization": f"Bot {token}"})
            body = _json(r)
            if r.status_code != 200 or "id" not in body:
                return {"ok": False, "error": _platform_error(r, body.get("message"))}
            return {"ok": True, "identity": f"@{body.get('username', '')}", "id": body.get("id"), "name": body.get("username")}
    except httpx.HTTPError as err:
        return {"ok": False, "error": f"could not reach {ctype} at {redact(base)}: {type(err).__name__}"}


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _platform_error(r: httpx.Response, detail: Any) -> str:
    return redact(f"HTTP {r.status_code}: {detail or r.reason_phrase or 'rejected'}")


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(tags=["clients"])
    store = ctx.store

    @r.get("/clients/types", summary="Client types with their config JSON Schemas")
    async def types() -> list[dict[str, Any]]:
        return [t.view() for t in TYPES.values()]

    @r.get("/clients", summary="List clients (with the live status of bots and cron jobs)")
    async def list_clients() -> list[dict[str, Any]]:
        all_raw = await store.all_raw()
        times = await changed_at(store.engine, "clients")
        out = []
        for raw in all_raw.get("clients", {}).values():
            # updatedAt as on every kind's list (the Admin UI's "Recently changed" sort reads it)
            view = await stamped(store.engine, "clients", await public(ctx, "clients", raw, all_raw), times)
            view["status"] = await client_status(ctx, raw)
            out.append(view)
        return out

    @r.get("/clients/{id}", summary="Get one client (with its live status)")
    async def get_client(id: str) -> dict[str, Any]:
        raw = await store.get("clients", id)
        view = await stamped(store.engine, "clients", await public(ctx, "clients", raw))
        view["status"] = await client_status(ctx, raw)
        return view

    def tester(ctype: str) -> Any:
        async def test(id: str) -> dict[str, Any]:
            raw = await store.get("clients", id)
            if raw.get("type") != ctype:
                raise ValidationError(f"type: client {id!r} is a {raw.get('type')} client, not {ctype}", field="type")
            return await identity(ctype, await _expanded_config(ctx, raw))

        return test

    for ctype in ("telegram", "slack", "discord"):
        r.add_api_route(
            f"/clients/{{id}}/{ctype}-test",
            tester(ctype),
            methods=["POST"],
            summary=f"Check the saved {ctype} token and report the bot identity",
        )
    return r
