"""The Admin API's ``updatedAt`` (:mod:`magec.store.stamps`): read-only, magec's addition to Magec's
record shape. A client that sends a record back as it read it (``PUT`` with the ``GET``'s body, as a
script or an older UI copying the object does) must be answered as if the field were absent: the
write succeeds, the time is the server's (never the one sent), and the stored record — what a
backup carries and what Magec reads — keeps Magec's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from magec.resources import KINDS
from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.backup.helpers import A, members, populate

FORGED = "2000-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("stamps")) as s:
        yield s


def _when(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["updatedAt"].replace("Z", "+00:00"))


async def test_a_record_sent_back_with_its_updated_at(sqlite_apps: Apps, provider: FakeServer) -> None:
    """Every kind, read one by one and in its list, written back as read (with the time read, a
    forged one, and values of other types): 200, and the time is the write's. Skills and clients
    are answered by routes of their own (skills' create/update, clients' list/get with a live
    status, a new token): they said no updatedAt, so the Clients page's "Recently changed" sort
    had nothing to sort by."""
    apps = sqlite_apps
    ids = await populate(apps, provider.url)
    r = await apps.admin.post(f"{A}/skills", json={"name": "New", "description": "d", "instructions": "i"})
    assert r.status_code == 201 and "updatedAt" in r.json(), r.text
    r = await apps.admin.post(f"{A}/clients/{ids['client']['id']}/regenerate-token")
    assert r.status_code == 200 and _when(r.json()) >= _when(ids["client"]), r.text
    for model in KINDS.values():
        items = (await apps.admin.get(f"{A}/{model.path}")).json()
        assert items, model.path
        for listed in items:
            got = (await apps.admin.get(f"{A}/{model.path}/{listed['id']}")).json()
            assert "updatedAt" in got, (model.path, got)
            assert got["updatedAt"] == listed["updatedAt"]
            for sent in (got["updatedAt"], FORGED, 12345, None, {"x": 1}):
                r = await apps.admin.put(f"{A}/{model.path}/{got['id']}", json={**got, "updatedAt": sent})
                assert r.status_code == 200, (model.path, sent, r.text)
                assert "updatedAt" in r.json(), (model.path, r.json())
                stamped = r.json()["updatedAt"]
                assert stamped != FORGED and _when(r.json()) >= _when(got), (model.path, sent, stamped)
                # what the next read says is the write's time, not the value sent
                again = (await apps.admin.get(f"{A}/{model.path}/{got['id']}")).json()
                assert again["updatedAt"] == stamped, (model.path, sent)
    # the stored records keep Magec's shape (a backup's record ``data`` has no updatedAt), and the
    # archive's own row times are the server's
    r = await apps.admin.get(f"{A}/settings/backup")
    assert r.status_code == 200, r.text
    for name, data in members(r.content).items():
        if name.startswith("resources/"):
            for item in json.loads(data):
                assert "updatedAt" not in item["data"] and not item["updatedAt"].startswith("2000"), (name, item)
