"""``updatedAt`` says when an admin last changed a resource, so the Admin UI's "Recently changed"
sort puts what an admin changed first — not a card whose only write was magec's bookkeeping: a
client's new token (the client's settings are unchanged; the token is issued to it), a skill
package uploaded again as it is stored, a record saved back unchanged. A real change still moves it.
All through the Admin API, as the UI reads it."""

from __future__ import annotations

from typing import Any

from magec.testing.apps import Apps
from tests.skills.helpers import skill_md

A = "/api/v1/admin"


def recently_changed(items: list[dict[str, Any]]) -> list[str]:
    """The Admin UI's "Recently changed" order: newest ``updatedAt`` first."""
    return [i["name"] for i in sorted(items, key=lambda i: i["updatedAt"], reverse=True)]


async def test_a_new_token_does_not_move_a_client_up(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    old = (await apps.admin.post(f"{A}/clients", json={"name": "old"})).json()
    new = (await apps.admin.post(f"{A}/clients", json={"name": "new"})).json()
    assert recently_changed((await apps.admin.get(f"{A}/clients")).json()) == ["new", "old"]
    r = await apps.admin.post(f"{A}/clients/{old['id']}/regenerate-token")
    assert r.status_code == 200, r.text
    assert r.json()["updatedAt"] == old["updatedAt"] and r.json()["token"] != old["token"]
    # the new token works, the old one no longer does
    assert (await apps.user.get("/v1/models", headers={"Authorization": f"Bearer {r.json()['token']}"})).status_code == 200
    assert (await apps.user.get("/v1/models", headers={"Authorization": f"Bearer {old['token']}"})).status_code == 401
    listed = (await apps.admin.get(f"{A}/clients")).json()
    assert recently_changed(listed) == ["new", "old"], listed
    # saved back as read: nothing changed, nothing moves
    got = (await apps.admin.get(f"{A}/clients/{old['id']}")).json()
    r = await apps.admin.put(f"{A}/clients/{old['id']}", json=got)
    assert r.status_code == 200 and r.json()["updatedAt"] == old["updatedAt"], r.text
    # an admin's edit moves it
    r = await apps.admin.put(f"{A}/clients/{old['id']}", json={**got, "name": "old, renamed"})
    assert r.status_code == 200 and r.json()["updatedAt"] > new["updatedAt"], r.text
    assert recently_changed((await apps.admin.get(f"{A}/clients")).json()) == ["old, renamed", "new"]


async def test_the_same_package_uploaded_again_does_not_move_a_skill_up(sqlite_apps: Apps) -> None:
    apps = sqlite_apps

    async def upload(data: bytes, replace: bool = False) -> dict[str, Any]:
        r = await apps.admin.post(f"{A}/skills/upload" + ("?replace=true" if replace else ""),
                                  files={"file": ("SKILL.md", data)})
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    package = await upload(skill_md("pdf-tricks"))
    other = await upload(skill_md("csv-tricks", description="How to handle CSV files."))
    again = await upload(skill_md("pdf-tricks"), replace=True)
    assert again["updatedAt"] == package["updatedAt"], again
    assert recently_changed((await apps.admin.get(f"{A}/skills")).json()) == ["csv-tricks", "pdf-tricks"]
    changed = await upload(skill_md("pdf-tricks", body="Answer PDF questions in one line."), replace=True)
    assert changed["updatedAt"] > other["updatedAt"], changed
    assert recently_changed((await apps.admin.get(f"{A}/skills")).json()) == ["pdf-tricks", "csv-tricks"]
