"""Clients that run: bots, webhooks and cron jobs, beyond a client's stored record.

* :mod:`magec.clients.conversation` — the conversation gateway (:class:`Conversations`): turns for
  non-HTTP clients with the user API's rules.
* :mod:`magec.clients.workers` — the worker contract (:class:`WorkerContext`, :class:`WorkerStatus`,
  the inbox registry for webhook-mode bots).
* :mod:`magec.clients.tables` — conversation choices, worker leases and cron runs (migration 0003).

Client tokens live in :mod:`magec.resources.tokens` (the store and the snapshot need them, and
this package imports the runtime). Chat-platform client types (``telegram/``, ``slack/``, …) get
one folder each here.
"""
