"""Several turn observers behind the one ``BuildDeps.turn_observer`` slot.

:func:`magec.runtime.run.run_turn` calls ``observer.begin(runtime, app, owner, session_id,
message)`` once per turn and then the probe's ``see(event)`` per event and ``finish()`` at the end;
``left()`` before ``finish()`` when the client left before the turn ended (probes without it skip it).
Before ``begin`` it awaits ``observer.admit(...)`` (the same arguments, ``stores``: False for a
stateless call, whose session is not stored, and the turn's ``state_delta``): :class:`TurnObservers` awaits
the ``admit`` of each observer that has one (a check that may need a read, e.g. the stored
conversations of :mod:`magec.memory.session_quota`); any of them may refuse the turn with a
:class:`~magec.errors.MagecError`, and then no observer has begun. ``begin`` calls each observer in
order (admission, then the costs service: its ``begin`` may refuse the turn too, and then no other
observer started a probe for it) and hands the turn one probe that fans out. A refused turn is
told to each observer with a ``refused(app, code)`` hook (:meth:`TurnObservers.refused`).
"""

from __future__ import annotations

from typing import Any


class _Probes:
    def __init__(self, probes: list[Any]) -> None:
        self.probes = probes

    def see(self, event: Any) -> None:
        for p in self.probes:
            p.see(event)

    def left(self) -> None:
        for p in self.probes:
            hook = getattr(p, "left", None)
            if hook is not None:
                hook()

    def finish(self) -> None:
        for p in reversed(self.probes):
            p.finish()


class TurnObservers:
    def __init__(self, *observers: Any) -> None:
        self.observers = [o for o in observers if o is not None]
        self._admitting = [o for o in self.observers if hasattr(o, "admit")]

    async def admit(
        self, runtime: Any, app: Any, owner: str, session_id: str, message: Any, *, stores: bool,
        state_delta: dict[str, Any] | None = None,
    ) -> None:
        for o in self._admitting:
            await o.admit(runtime, app, owner, session_id, message, stores=stores, state_delta=state_delta)

    def refused(self, app: Any, code: str) -> None:
        """The turn was refused before it ran (``admit`` or ``begin`` raised, or a route's
        precheck): observers with a ``refused`` hook count it (no probe exists for it)."""
        for o in self.observers:
            hook = getattr(o, "refused", None)
            if hook is not None:
                hook(app, code)

    def begin(self, runtime: Any, app: Any, owner: str, session_id: str, message: Any) -> _Probes | None:
        probes: list[Any] = []
        try:
            for o in self.observers:
                probe = o.begin(runtime, app, owner, session_id, message)
                if probe is not None:
                    probes.append(probe)
        except BaseException:
            for p in reversed(probes):
                p.finish()
            raise
        return _Probes(probes) if probes else None
