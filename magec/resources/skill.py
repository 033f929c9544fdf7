"""The ``skills`` kind: Magec's skills, both generations, in one model.

* **Inline skill** (Magec G1): ``{id, name, description, instructions, references[]}``; the
  instructions (and the reference files' text) are inlined into the instruction of every agent
  that lists the skill in ``skills[]``.
* **Package skill** (Magec G2): a ``SKILL.md`` package (frontmatter ``name`` / ``description``,
  Markdown body, ``references/``, ``assets/``, ``scripts/``) uploaded as an archive. ``slug`` is
  the frontmatter name (the name the model loads it by); ``instructions`` mirrors the body and
  ``package`` summarises the stored files. Agents reach it through ADK's skill toolset.

The file contents are not part of the row: they live in the ``skill_files`` table
(:mod:`magec.skills.tables`). ``references`` and ``package`` are written by the server only (the
Admin API keeps the stored value on a PUT and ignores them on a POST); every change of the files
rewrites the row, so the row's version — and with it the fingerprint of every agent using the
skill — moves with the content.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from magec.resources.base import MAX_DESCRIPTION, MAX_PROMPT, Resource, _Model


class SkillReference(_Model):
    """A reference file of an inline skill, as Magec lists it."""

    filename: str = Field(max_length=255)
    size: int = Field(default=0, ge=0)
    #: magec: digest of the content, so the row (and the agents' fingerprints) change with it
    digest: str = Field(default="", max_length=64)


class PackageFile(_Model):
    path: str = Field(max_length=1024)
    size: int = Field(default=0, ge=0)


class SkillPackage(_Model):
    """What the stored ``SKILL.md`` package holds (paths relative to the package root)."""

    files: list[PackageFile] = Field(default_factory=list)
    size: int = Field(default=0, ge=0)
    #: digest of every stored file: equal digests, equal packages
    digest: str = ""


class Skill(Resource):
    kind: ClassVar[str] = "skills"
    path: ClassVar[str] = "skills"
    singular: ClassVar[str] = "skill"
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    instructions: str = Field(default="", max_length=MAX_PROMPT)
    #: ``references`` in JSON (the Python name would shadow :attr:`Resource.references`)
    reference_files: list[SkillReference] = Field(default_factory=list, alias="references")
    #: package skills only: the SKILL.md frontmatter name (empty = an inline skill)
    slug: str = Field(default="", max_length=64)
    package: SkillPackage | None = None
