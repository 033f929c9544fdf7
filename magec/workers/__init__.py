"""``magec serve --workers N``: several processes serving the same ports (docs/scaling.md).

:mod:`magec.workers.supervisor` is the parent and each worker's slot; :mod:`magec.workers.metrics`
gives every worker's ``/metrics`` all the workers' samples. Not to be confused with
:mod:`magec.clients.workers` (bot and cron jobs run by the client supervisor)."""
