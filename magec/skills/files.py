"""Reads and writes of the ``skill_files`` table (:mod:`magec.skills.tables`).

:class:`SkillFiles` is a thin gateway over the store's engine: no caching here (the runtime hook
keeps its own cache keyed by the skill row's version). A package is replaced in one transaction,
so a reader never sees half of an old and half of a new package.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from magec.skills.tables import skill_files

REF = "ref"
PKG = "pkg"


class SkillFiles:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, skill_id: str, area: str, path: str) -> bytes | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(skill_files.c.content).where(
                        skill_files.c.skill_id == skill_id, skill_files.c.area == area, skill_files.c.path == path
                    )
                )
            ).first()
        return bytes(row[0]) if row is not None else None

    async def all(self, skill_id: str, area: str) -> dict[str, bytes]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(skill_files.c.path, skill_files.c.content).where(
                    skill_files.c.skill_id == skill_id, skill_files.c.area == area
                )
            )
            return {r.path: bytes(r.content) for r in rows}

    async def many(self, skill_ids: list[str]) -> dict[str, dict[str, dict[str, bytes]]]:
        """skill id -> area -> path -> bytes, for the runtime hook (one query)."""
        out: dict[str, dict[str, dict[str, bytes]]] = {}
        if not skill_ids:
            return out
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(skill_files.c.skill_id, skill_files.c.area, skill_files.c.path, skill_files.c.content)
                .where(skill_files.c.skill_id.in_(skill_ids))
            )
            for r in rows:
                out.setdefault(r.skill_id, {}).setdefault(r.area, {})[r.path] = bytes(r.content)
        return out

    async def put(self, skill_id: str, area: str, path: str, content: bytes) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                skill_files.delete().where(
                    skill_files.c.skill_id == skill_id, skill_files.c.area == area, skill_files.c.path == path
                )
            )
            await conn.execute(skill_files.insert().values(_row(skill_id, area, path, content)))

    async def replace(self, skill_id: str, area: str, files: Mapping[str, bytes]) -> None:
        """Every file of ``area`` becomes ``files``, atomically."""
        async with self.engine.begin() as conn:
            await conn.execute(
                skill_files.delete().where(skill_files.c.skill_id == skill_id, skill_files.c.area == area)
            )
            if files:
                await conn.execute(
                    skill_files.insert(), [_row(skill_id, area, p, b) for p, b in files.items()]
                )

    async def delete(self, skill_id: str, area: str | None = None, path: str | None = None) -> int:
        where = [skill_files.c.skill_id == skill_id]
        if area is not None:
            where.append(skill_files.c.area == area)
        if path is not None:
            where.append(skill_files.c.path == path)
        async with self.engine.begin() as conn:
            return (await conn.execute(skill_files.delete().where(*where))).rowcount or 0

    async def skill_ids(self) -> set[str]:
        async with self.engine.connect() as conn:
            return {r[0] for r in await conn.execute(sa.select(skill_files.c.skill_id).distinct())}


def _row(skill_id: str, area: str, path: str, content: bytes) -> dict[str, object]:
    return {
        "skill_id": skill_id,
        "area": area,
        "path": path,
        "size": len(content),
        "content": content,
        "updated_at": datetime.now(UTC),
    }
