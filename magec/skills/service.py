"""Skill operations shared by the Admin API and the importer; each keeps the row and the files in step.

The files are written first and the resource row last (its ``references`` / ``package`` summary):
the row's write bumps the config epoch, so the runtime rebuild it triggers already finds the new
files, and the agents using the skill are rebuilt because their fingerprint includes the row.

* Inline skills: :meth:`SkillService.create` / :meth:`update` (server-managed fields are dropped
  on create and kept on update, as Magec does), :meth:`add_reference` / :meth:`delete_reference`.
* Package skills: :meth:`upload_package` creates one from an archive, or — with ``replace`` and
  a skill of that frontmatter name — replaces its files keeping its id. An update of a package
  skill rewrites its ``SKILL.md`` (description and body), so both forms are editable.
* :meth:`delete` removes the row (409 when referenced unless ``force``) and then its files.
"""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from magec.errors import ConflictError, NotFoundError, ValidationError
from magec.skills import archive
from magec.skills.files import PKG, REF, SkillFiles
from magec.store.store import Store

KIND = "skills"
#: written by the server only
MANAGED = ("references", "package", "slug")


def package_summary(files: dict[str, bytes]) -> dict[str, Any]:
    return {
        "files": [{"path": p, "size": len(b)} for p, b in sorted(files.items())],
        "size": sum(len(b) for b in files.values()),
        "digest": archive.digest(files),
    }


class SkillService:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.files = SkillFiles(store.engine)

    # -- rows ---------------------------------------------------------------------------------------
    async def create(self, body: Any, *, keep_id: bool = False) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        clean = {k: v for k, v in body.items() if k not in MANAGED}
        if not keep_id and not str(clean.get("instructions") or "").strip():
            raise ValidationError("instructions: are required", field="instructions")
        return await self.store.create(KIND, clean, keep_id=keep_id)

    async def update(self, skill_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ValidationError("request body must be a JSON object")
        old = await self.store.get(KIND, skill_id)
        merged = {**{k: v for k, v in body.items() if k not in MANAGED}, **{k: old[k] for k in MANAGED if k in old}}
        if not old.get("slug"):
            return await self.store.update(KIND, skill_id, merged)
        # a package skill: its SKILL.md follows the edit (the frontmatter name stays: it is the slug)
        files = await self.files.all(skill_id, PKG)
        meta, body_text = archive.parse_skill_md(files.get(archive.SKILL_MD, b""))
        description = str(merged.get("description") or meta.get("description") or "").strip()
        instructions = str(merged.get("instructions") if "instructions" in merged else body_text)
        meta["description"] = description or meta.get("description")
        front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
        files[archive.SKILL_MD] = f"---\n{front}\n---\n\n{instructions.strip()}\n".encode()
        archive.package_from_files(dict(files))  # still a valid package
        merged.update(description=meta["description"], instructions=instructions.strip(),
                      package=package_summary(files))
        await self.files.replace(skill_id, PKG, files)
        return await self.store.update(KIND, skill_id, merged)

    async def delete(self, skill_id: str, *, force: bool = False) -> None:
        await self.store.delete(KIND, skill_id, force=force)
        await self.files.delete(skill_id)

    # -- reference files (inline skills) --------------------------------------------------------------
    async def add_reference(self, skill_id: str, filename: str, content: bytes) -> dict[str, Any]:
        skill = await self.store.get(KIND, skill_id)
        archive.check_filename(filename)
        if len(content) > archive.MAX_FILE_BYTES:
            raise archive.too_large(f"{filename!r} is larger than {archive.MAX_FILE_BYTES} bytes")
        refs = list(skill.get("references") or [])
        if any(r.get("filename") == filename for r in refs):
            raise ConflictError(f"reference {filename!r} already exists in skill {skill_id!r}")
        if len(refs) >= archive.MAX_FILES:
            raise archive.too_large(f"a skill holds at most {archive.MAX_FILES} reference files")
        if sum(int(r.get("size") or 0) for r in refs) + len(content) > archive.MAX_PACKAGE_BYTES:
            raise archive.too_large(f"a skill's reference files total at most {archive.MAX_PACKAGE_BYTES} bytes")
        ref = {"filename": filename, "size": len(content), "digest": archive.digest({filename: content})}
        await self.files.put(skill_id, REF, filename, content)

        def append(data: dict[str, Any]) -> dict[str, Any]:
            current = [r for r in data.get("references") or [] if r.get("filename") != filename]
            return {**data, "references": [*current, ref]}

        await self.store.patch_raw(KIND, skill_id, append)
        return ref

    async def get_reference(self, skill_id: str, filename: str) -> bytes:
        await self.store.get(KIND, skill_id)
        archive.check_filename(filename, "filename")
        content = await self.files.get(skill_id, REF, filename)
        if content is None:
            raise NotFoundError("reference file not found")
        return content

    async def delete_reference(self, skill_id: str, filename: str) -> None:
        archive.check_filename(filename, "filename")
        skill = await self.store.get(KIND, skill_id)
        if not any(r.get("filename") == filename for r in skill.get("references") or []):
            raise NotFoundError(f"reference {filename!r} not found in skill {skill_id!r}")

        def remove(data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "references": [r for r in data.get("references") or [] if r.get("filename") != filename]}

        await self.store.patch_raw(KIND, skill_id, remove)
        await self.files.delete(skill_id, REF, filename)

    # -- packages ------------------------------------------------------------------------------------
    async def upload_package(
        self, filename: str, data: bytes, *, replace: bool = False, keep_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(the skill, created?) from an uploaded ``SKILL.md`` / zip / tar.gz."""
        pkg = archive.read_upload(filename, data)
        return await self.save_package(pkg, replace=replace, keep_id=keep_id)

    async def save_package(
        self, pkg: archive.Package, *, replace: bool = False, keep_id: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        summary = package_summary(pkg.files)
        fields = {"name": pkg.name, "description": pkg.description, "instructions": pkg.body}
        existing = [s for s in (await self.store.list_items(KIND)) if s.get("slug") == pkg.name]
        if existing and not replace:
            raise ConflictError(
                f"skill {pkg.name!r} already exists; upload with ?replace=true to replace it"
            )
        if existing:
            sid = existing[0]["id"]
            await self.files.replace(sid, PKG, pkg.files)
            await self.files.delete(sid, REF)
            row = await self.store.patch_raw(
                KIND, sid, lambda d: {**d, **fields, "slug": pkg.name, "package": summary, "references": []}
            )
            return row, False
        # files first, under the id the row will get: the rebuild the row's write triggers finds them
        sid = keep_id or str(uuid.uuid4())
        await self.files.replace(sid, PKG, pkg.files)
        try:
            row = await self.store.create(
                KIND, {**fields, "id": sid}, keep_id=True, server_fields={"slug": pkg.name, "package": summary}
            )
        except BaseException:
            await self.files.delete(sid, PKG)
            raise
        return row, True

    async def download(self, skill_id: str) -> tuple[str, bytes]:
        """(file name, tar.gz): a package as stored; an inline skill as a package (SKILL.md +
        references/), so it can be uploaded back as one."""
        skill = await self.store.get(KIND, skill_id)
        if skill.get("slug"):
            root, files = skill["slug"], await self.files.all(skill_id, PKG)
        else:
            root = archive.slugify(skill.get("name", ""))
            refs = await self.files.all(skill_id, REF)
            files = {f"references/{name}": content for name, content in refs.items()}
            files[archive.SKILL_MD] = archive.inline_skill_md(
                skill.get("name", ""), skill.get("description", ""), skill.get("instructions", "")
            )
        return f"{root}.tar.gz", archive.write_tar_gz(root, files)
