"""Skills: reference files and ``SKILL.md`` packages, their storage, checks and runtime hook.

* :mod:`magec.skills.tables` — the ``skill_files`` table (contents in the database, so every
  replica sharing a PostgreSQL database sees the same files).
* :mod:`magec.skills.archive` — limits, the ``SKILL.md`` parser and the archive reader (zip,
  tar.gz) with its bomb / zip-slip / symlink checks, and the tar.gz writer for downloads.
* :mod:`magec.skills.files` — :class:`~magec.skills.files.SkillFiles`, reads and writes of the table.
* :mod:`magec.skills.service` — the operations the Admin API and the importer share (upload a
  reference, upload a package, delete), each keeping the resource row and the files in step.
* :mod:`magec.skills.runtime_hook` — the build hook: inline skills become instruction paragraphs,
  packages one ADK ``SkillToolset`` per agent.
* :mod:`magec.skills.rules` — save-time rules of the ``skills`` kind.
"""
