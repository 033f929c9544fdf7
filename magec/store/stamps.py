"""When each resource was last changed, for the Admin API's ``updatedAt`` (the Admin UI's "Recently
changed" sort). Read apart from the resources' JSON, which holds Magec's shape only: the time is the
row's ``updated_at``, set by every write (create, update, an internal patch such as a new token)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.store.tables import as_utc, resources


async def changed_at(engine: AsyncEngine, kind: str, id: str | None = None) -> dict[str, str]:
    """``{id: ISO-8601 UTC time of its last change}`` for every resource of ``kind`` (or just ``id``)."""
    query = sa.select(resources.c.id, resources.c.updated_at).where(resources.c.kind == kind)
    if id is not None:
        query = query.where(resources.c.id == id)
    async with engine.connect() as conn:
        rows = await conn.execute(query)
        return {row.id: as_utc(row.updated_at).isoformat().replace("+00:00", "Z") for row in rows}
