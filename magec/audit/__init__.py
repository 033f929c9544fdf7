"""The conversation audit: every turn on every surface, recorded off the hot path.

* :mod:`.context` — the surface attribution each edge sets (run API, ``/v1``, bots, webhooks, cron).
* :mod:`.recorder` — :class:`AuditRecorder`: probes handed to :func:`magec.runtime.run.run_turn`,
  a bounded in-memory queue and the batched background writer; retention.
* :mod:`.shape` — events → stored rows (redacted), rows → Magec's conversation JSON.
* :mod:`.query` — list, stats, detail, delete, export for the Admin API
  (:mod:`magec.api.admin.conversations`).
* :mod:`.tables` — ``audit_conversations`` and ``audit_turns`` (migration ``0004_audit``).

See docs/conversations.md.
"""
