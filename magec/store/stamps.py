"""When each resource was last changed, for the Admin API's ``updatedAt`` (the Admin UI's "Recently
changed" sort). Read apart from the resources' JSON, which holds Magec's shape only: the time is the
row's ``updated_at``: when an admin last changed the resource's settings. Set by a create and by
every write that changes them (an update, a package replaced, a reference file, a reference
scrubbed by a forced delete); not by one that changes only bookkeeping (``Resource.bookkeeping``:
a client's new token) or nothing at all (:func:`write_stamp`).
Every route answering a record adds it (:func:`stamped`): the generic CRUD routes and those that
take their place (skills' create, upload and update)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.resources import KINDS
from magec.store.tables import as_utc, resources


def now() -> datetime:
    return datetime.now(UTC)


def write_stamp(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, datetime]:
    """The ``updated_at`` of a store write that turns ``old`` into ``new``: now when the resource's
    own settings changed; nothing (the time stays) when only its bookkeeping did (a client's new
    token) or nothing did (a record saved as it was, the same package uploaded again)."""
    skip = set(KINDS[kind].bookkeeping)
    if {k: v for k, v in old.items() if k not in skip} == {k: v for k, v in new.items() if k not in skip}:
        return {}
    return {"updated_at": now()}


async def changed_at(engine: AsyncEngine, kind: str, id: str | None = None) -> dict[str, str]:
    """``{id: ISO-8601 UTC time of its last change}`` for every resource of ``kind`` (or just ``id``)."""
    query = sa.select(resources.c.id, resources.c.updated_at).where(resources.c.kind == kind)
    if id is not None:
        query = query.where(resources.c.id == id)
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        return {row.id: as_utc(row.updated_at).isoformat().replace("+00:00", "Z") for row in rows}


async def stamped(engine: AsyncEngine, kind: str, view: dict[str, Any], times: dict[str, str] | None = None) -> dict[str, Any]:
    """``view`` (an Admin API record of ``kind``) with its ``updatedAt``, from ``times`` (one
    :func:`changed_at` read for a whole list) or read for it alone. Read-only: a value a client
    sends back never reaches the stored record (the models drop unknown fields)."""
    times = times if times is not None else await changed_at(engine, kind, view["id"])
    if view.get("id") in times:
        view["updatedAt"] = times[view["id"]]
    return view
