"""The ``id`` ``/v1/models`` lists for an agent or flow: readable, and stable across renames.

Chat UIs that list models by ``id`` (LibreChat, Continue's model picker, ``llm models``, any
``client.models.list()``) showed bare UUIDs; listing the name instead would break every chat those
UIs stored the day the agent is renamed. The listed id is ``<slug of the name>-<id prefix>``
(``research-bot-3ba775a8``): the slug is for people, the prefix (at least 8 characters of the id
without dashes, longer when two apps share 8) is what :func:`by_listed_id` resolves, so a chat
stored under an old name's slug keeps reaching the same agent. ``model`` still takes the id and
the exact name too (:meth:`magec.runtime.build.Runtime.find` first).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from magec.agents.apps import App
from magec.api.clients import Caller
from magec.errors import UnknownModelError, ValidationError
from magec.runtime.build import Runtime

#: characters of the id kept in the listed id (more when two ids share them)
PREFIX = 8
_SLUG_MAX = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_LISTED = re.compile(r"^(?:.*-)?([0-9a-z]{8,})$")


def _compact(app_id: str) -> str:
    return _NOT_SLUG.sub("", app_id.lower())


def slug(name: str, kind: str) -> str:
    """The name lower-cased, accents dropped, runs of other characters as one ``-`` (``Révision
    Bot`` → ``revision-bot``); a name with no such letter gives the kind (``agent``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    s = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return s or kind


def listed_ids(apps: Iterable[App]) -> dict[str, str]:
    """Each app's listed id: ``<slug>-<shortest prefix of its id, at least 8 characters, that no
    other app's id has>``. In sorted order the id sharing the longest prefix with an id is one of
    its two neighbours, so this is one sort, not a comparison of every pair (1,000 agents: a
    million prefix checks on the event loop per listing)."""
    ids = sorted(((_compact(a.id), a) for a in apps), key=lambda pair: pair[0])
    out: dict[str, str] = {}
    for i, (own, app) in enumerate(ids):
        n = PREFIX
        for j in (i - 1, i + 1):
            if 0 <= j < len(ids):
                other = ids[j][0]
                shared = next((k for k, (x, y) in enumerate(zip(own, other, strict=False)) if x != y),
                              min(len(own), len(other)))
                n = max(n, shared + 1)
        out[app.id] = f"{slug(app.name, app.kind)}-{own[:min(n, len(own))]}"
    return out


#: the last runtime's listed ids (a runtime never changes: a write makes a new one)
_listed: tuple[Runtime, dict[str, str]] | None = None


def listed_ids_of(rt: Runtime) -> dict[str, str]:
    """:func:`listed_ids` of ``rt``'s apps, computed once per runtime."""
    global _listed
    if _listed is None or _listed[0] is not rt:
        _listed = (rt, listed_ids(rt.apps.values()))
    return _listed[1]


def by_listed_id(key: str, apps: Iterable[App], usable: Callable[[str], bool]) -> App | None:
    """The usable app a listed id (any slug, the id's prefix after the last ``-``) names, else None.

    The slug is not checked: it is the name at the time the id was listed, and a rename must not
    strand the chats that stored it. A prefix two usable apps share is a 400 naming ``model``."""
    m = _LISTED.match(key.lower())
    if m is None:
        return None
    prefix = m.group(1)
    found = [a for a in apps if usable(a.id) and _compact(a.id).startswith(prefix)]
    if len(found) > 1:
        ids = ", ".join(a.id for a in found)
        raise ValidationError(f"model: {key!r} matches {len(found)} agents or flows ({ids}): use the id", field="model")
    return found[0] if found else None


def find_model(rt: Runtime, usable: Callable[[str], bool], model: str) -> App | None:
    """What a request's ``model`` names: an id, an exact name, then a listed id; None when nothing
    (an app the caller may not use is returned only when nothing usable matched: the caller's
    check refuses it)."""
    found = rt.find(model, usable, field="model")
    if found is None or not usable(found.id):
        found = by_listed_id(model, rt.apps.values(), usable) or found
    return found


def unknown_model(model: str, caller: Caller) -> UnknownModelError:
    """OpenAI's 404 ``model_not_found``; for a client allowed no agent or flow at all it says so
    (a new client's token gave an empty model list and this 404 for every name, with no word why)."""
    message = f"The model {model!r} does not exist or you do not have access to it."
    if caller.allowed is not None and not caller.allowed:
        message += (" This client is allowed no agents or flows yet: an admin picks them in the Admin UI "
                    "(Clients → the client → Allowed agents and flows).")
    return UnknownModelError(message)
