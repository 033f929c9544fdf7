"""GET /{kind}/{id}/referrers: who uses a resource, before any delete (the Admin UI's delete dialog)."""

from __future__ import annotations

from magec.testing.apps import Apps

A = "/api/v1/admin"


async def test_referrers_list_matches_the_409(sqlite_apps: Apps) -> None:
    adm = sqlite_apps.admin
    b = (await adm.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1"})).json()
    a = (await adm.post(f"{A}/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "m"},
                                              "tts": {"backend": b["id"]}})).json()
    r = await adm.get(f"{A}/backends/{b['id']}/referrers")
    assert r.status_code == 200
    refs = r.json()["references"]
    assert {(x["referrerType"], x["referrerName"], x["field"], x["kind"]) for x in refs} == {
        ("agent", "Helper", "llm.backend", "structural"), ("agent", "Helper", "tts.backend", "membership")}
    # the same list a refused delete carries; reading it changed nothing
    d = await adm.delete(f"{A}/backends/{b['id']}?force=false")
    assert d.status_code == 409 and {x["field"] for x in d.json()["references"]} == {x["field"] for x in refs}
    assert (await adm.get(f"{A}/agents/{a['id']}/referrers")).json() == {"references": []}
    assert (await adm.get(f"{A}/backends/nope/referrers")).status_code == 404
