"""Build hook: agents get the skills they list in ``skills[]``.

:class:`SkillsHook` runs on every rebuild (wired by :mod:`magec.server`). It loads the files of
every skill an agent lists whose row changed since it last looked (one query; a cache keyed by
the row's version, so an unchanged skill costs nothing; skills no agent lists are not loaded) and appends a toolset function to
``deps.toolsets``:

* an **inline skill** becomes one instruction paragraph — ``--- Skill: <name> ---``, its
  instructions, then each reference file as ``[Reference: <file>]`` and its text (Magec's form),
  at most :data:`~magec.skills.archive.INLINE_BYTES` of reference text per skill (the rest is cut,
  with a note; binary files are named, not inlined);
* the agent's **package skills** become one ADK ``SkillToolset`` (``list_skills``,
  ``load_skill``, ``load_skill_resource``; no script execution: agents have no code executor, so
  ADK does not offer ``run_skill_script`` and scripts are readable only).

Live edits: a skill's row is rewritten with every change of its content, and an agent's
fingerprint includes the rows it references, so the next request after an edit runs the
rebuilt agent (read-your-writes, :mod:`magec.runtime.manager`). Unknown ids are skipped.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from magec.agents.apps import BuildDeps
from magec.config_view.snapshot import StoreSnapshot
from magec.resources import Agent
from magec.resources.skill import Skill
from magec.skills import archive
from magec.skills.files import PKG, REF, SkillFiles

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """One skill as agents consume it: a paragraph (inline) or an ADK skill (package)."""

    paragraph: str = ""
    adk_skill: Any = None


def inline_paragraph(skill: Skill, refs: dict[str, bytes]) -> str:
    text = f"--- Skill: {skill.name} ---\n{skill.instructions.strip()}"
    budget = archive.INLINE_BYTES
    for ref in skill.reference_files:
        content = refs.get(ref.filename)
        if content is None:
            continue
        try:
            body = content.decode("utf-8")
        except UnicodeDecodeError:
            text += f"\n\n[Reference: {ref.filename}] (binary file, not inlined)"
            continue
        if budget <= 0:
            text += f"\n\n[Reference: {ref.filename}] (not inlined: the skill's reference text is over its cap)"
            continue
        raw = body.encode()
        if len(raw) > budget:
            cut = raw[:budget].decode("utf-8", errors="ignore")
            body = f"{cut}\n[… truncated: {len(raw) - budget} more bytes]"
        budget -= len(raw)
        text += f"\n\n[Reference: {ref.filename}]\n{body}"
    return text


def adk_skill(files: dict[str, bytes]) -> Any:
    """The ADK ``Skill`` of a stored package."""
    from google.adk.skills import Frontmatter, Resources, Script
    from google.adk.skills import Skill as AdkSkill

    meta, body = archive.parse_skill_md(files[archive.SKILL_MD])
    areas: dict[str, dict[str, Any]] = {"references": {}, "assets": {}, "scripts": {}}
    for path, content in files.items():
        area, _, rest = path.partition("/")
        if area not in areas or not rest:
            continue
        try:
            value: str | bytes = content.decode("utf-8")
        except UnicodeDecodeError:
            value = content
        if area == "scripts":
            areas[area][rest] = Script(src=value if isinstance(value, str) else content.decode("utf-8", "replace"))
        else:
            areas[area][rest] = value
    return AdkSkill(
        frontmatter=Frontmatter.model_validate(meta),
        instructions=body,
        resources=Resources(references=areas["references"], assets=areas["assets"], scripts=areas["scripts"]),
    )


class SkillsHook:
    """Build hook over the ``skill_files`` table (contract in the module docstring)."""

    def __init__(self, files: SkillFiles) -> None:
        self.files = files
        self._cache: dict[str, tuple[str, Loaded]] = {}

    async def __call__(self, snap: StoreSnapshot, deps: BuildDeps) -> None:
        # only skills some agent lists are loaded (and kept in memory): an unused package costs nothing
        used = {sid for agent in snap.agents.values() for sid in agent.skills}
        skills: dict[str, Any] = {k: v for k, v in snap.resources.get("skills", {}).items() if k in used}
        stale = [
            sid for sid in skills
            if self._cache.get(sid, ("",))[0] != snap.versions.get(("skills", sid), "")
        ]
        stored = await self.files.many(stale) if stale else {}
        for sid in stale:
            version = snap.versions.get(("skills", sid), "")
            loaded = self._load(skills[sid], stored.get(sid, {}))
            if loaded is not None:
                self._cache[sid] = (version, loaded)
        for sid in list(self._cache):
            if sid not in skills:
                del self._cache[sid]
        current = {sid: entry[1] for sid, entry in self._cache.items()}
        deps.toolsets.append(functools.partial(agent_skills, current))

    @staticmethod
    def _load(skill: Skill, stored: dict[str, dict[str, bytes]]) -> Loaded | None:
        if not skill.slug:
            return Loaded(paragraph=inline_paragraph(skill, stored.get(REF, {})))
        files = stored.get(PKG, {})
        if skill.package is not None and skill.package.digest and archive.digest(files) != skill.package.digest:
            # written between the row and the files (another replica mid-upload): retry next rebuild
            log.warning("skill %s: stored files do not match its package summary yet", skill.id)
            return None
        try:
            return Loaded(adk_skill=adk_skill(files))
        except Exception as e:  # noqa: BLE001 - one broken package never breaks the rebuild
            log.warning("skill %s: package unreadable: %s", skill.id, e)
            return Loaded()


def agent_skills(loaded: dict[str, Loaded], agent: Agent, snap: StoreSnapshot) -> tuple[list[Any], list[str]]:  # noqa: ARG001
    """(toolsets, instruction paragraphs) for one agent."""
    paragraphs: list[str] = []
    packages: list[Any] = []
    seen: set[str] = set()
    for sid in agent.skills:
        entry = loaded.get(sid)
        if entry is None or sid in seen:
            continue
        seen.add(sid)
        if entry.paragraph:
            paragraphs.append(entry.paragraph)
        if entry.adk_skill is not None:
            packages.append(entry.adk_skill)
    if not packages:
        return [], paragraphs
    from google.adk.tools.skill_toolset import SkillToolset

    return [SkillToolset(skills=packages)], paragraphs
