"""One ``/metrics`` for all the workers of ``magec serve --workers N``.

Contract:

* Each worker process serves its own registry, as JSON, on a private Unix socket
  ``<run_dir>/worker-<index>.sock`` (the run directory is the parent's, mode 0700): connect, read to
  EOF. Nothing else is served there.
* ``/metrics`` on any worker (user or admin port, same auth as ever) answers **every** worker's
  samples, each with a ``worker="<index>"`` label, plus ``magec_worker_up{worker}`` (1 for each
  worker that answered within :data:`TIMEOUT`, 0 for one that did not, e.g. being restarted) and
  ``magec_worker_pid{worker}`` (its process id: a restarted worker shows a new one).
  Sums across workers are the scraper's job (``sum without (worker) (…)``): a worker's counters
  restart from zero with the worker, which Prometheus' ``rate()`` already handles per series.

Why not prometheus_client's multiprocess mode: magec's registries are per app context, and several
gauges are computed at scrape time (``set_function``, :func:`magec.context.refresh_gauges`), which
that mode cannot carry; asking the live siblings is exact and costs a scrape a few milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)

#: seconds a scrape waits for one sibling
TIMEOUT = 2.0


def socket_path(run_dir: str | Path, index: int) -> Path:
    return Path(run_dir) / f"worker-{index}.sock"


def dump(registry: CollectorRegistry) -> list[dict[str, Any]]:
    """The registry's families as plain data (names, help, type, samples)."""
    return [
        {
            "name": fam.name,
            "documentation": fam.documentation,
            "type": fam.type,
            "unit": fam.unit,
            "samples": [[s.name, s.labels, s.value] for s in fam.samples],
        }
        for fam in registry.collect()
    ]


class WorkerMetrics:
    """This worker's side: the socket server, and the aggregated exposition for ``/metrics``."""

    def __init__(
        self, registry: CollectorRegistry, refresh: Callable[[], None], run_dir: str, index: int, count: int
    ) -> None:
        self.registry = registry
        self.refresh = refresh
        self.run_dir = run_dir
        self.index = index
        self.count = count
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        path = socket_path(self.run_dir, self.index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # the socket of this slot's previous (dead) worker
        self._server = await asyncio.start_unix_server(self._answer, path=str(path))
        os.chmod(path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def _own(self) -> dict[str, Any]:
        with contextlib.suppress(Exception):  # a gauge refresh must not cost the scrape
            self.refresh()
        return {"pid": os.getpid(), "families": dump(self.registry)}

    async def _answer(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(json.dumps(self._own()).encode())
            await writer.drain()
        except Exception as e:  # noqa: BLE001 - the asking worker counts us as not answering
            log.debug("metrics socket: %s", e)
        finally:
            writer.close()

    async def _ask(self, index: int) -> dict[str, Any] | None:
        async def read() -> dict[str, Any]:
            reader, writer = await asyncio.open_unix_connection(str(socket_path(self.run_dir, index)))
            try:
                data: dict[str, Any] = json.loads(await reader.read())
                return data
            finally:
                writer.close()

        try:
            return await asyncio.wait_for(read(), TIMEOUT)
        except Exception:  # noqa: BLE001 - absent (restarting) or hung: reported as magec_worker_up 0
            return None

    async def exposition(self) -> bytes:
        """Every worker's samples with a ``worker`` label, in the Prometheus text format."""
        others = [i for i in range(self.count) if i != self.index]
        answers = dict(zip(others, await asyncio.gather(*(self._ask(i) for i in others)), strict=True))
        answers[self.index] = self._own()
        return generate_latest(_Merged(answers))  # type: ignore[arg-type]


class _Merged:
    """A collector yielding the families of every worker, samples labelled by worker."""

    def __init__(self, answers: dict[int, dict[str, Any] | None]) -> None:
        self.answers = answers

    def collect(self) -> list[Metric]:
        families: dict[str, Metric] = {}
        up = Metric("magec_worker_up", "1 when the worker answered this scrape", "gauge")
        pid = Metric("magec_worker_pid", "Process id of the worker", "gauge")
        for index in sorted(self.answers):
            answer = self.answers[index]
            up.add_sample("magec_worker_up", {"worker": str(index)}, 1.0 if answer is not None else 0.0)
            if answer is None:
                continue
            pid.add_sample("magec_worker_pid", {"worker": str(index)}, float(answer["pid"]))
            for fam in answer["families"]:
                merged = families.get(fam["name"])
                if merged is None:
                    merged = families[fam["name"]] = Metric(fam["name"], fam["documentation"], fam["type"], fam["unit"])
                for name, labels, value in fam["samples"]:
                    merged.add_sample(name, {**labels, "worker": str(index)}, value)
        return [up, pid, *families.values()]
