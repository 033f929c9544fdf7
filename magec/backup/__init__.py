"""Backup and restore of a whole magec: every resource kind, the settings, secrets (still
encrypted) and optional sections (sessions, memories, audit, …) in one ``.tar.gz``.

* :mod:`magec.backup.archive` — the archive format (magec's, and reading Magec's own backups);
* :mod:`magec.backup.restore` — validated, atomic, live restore and the dry run;
* :mod:`magec.backup.sections` — the registration hook for a subsystem's own tables
  (:class:`Section`, listed by :func:`magec.server.backup_sections`);
* :mod:`magec.backup.builtin` — the ``sessions`` and ``memories`` sections.

HTTP routes are in :mod:`magec.api.admin.backup`, the CLI (``magec backup`` / ``magec restore``,
a client of those routes) in :mod:`magec.backup.cli`. See docs/backup.md.
"""

from magec.backup.sections import Section

__all__ = ["Section"]
