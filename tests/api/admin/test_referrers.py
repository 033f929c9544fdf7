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


async def test_a_secret_in_use_is_not_deleted_without_force(sqlite_apps: Apps) -> None:
    """A secret is used by its key inside strings (``${KEY}``) and in agents' ``secrets`` lists:
    deleting it silently left a backend sending no key, so it is a 409 naming who uses it."""
    adm = sqlite_apps.admin
    s = (await adm.post(f"{A}/secrets", json={"name": "OpenAI", "key": "OPENAI_KEY", "value": "sk-x-123456"})).json()
    other = (await adm.post(f"{A}/secrets", json={"name": "Spare", "key": "SPARE", "value": "v-123456"})).json()
    b = (await adm.post(f"{A}/backends", json={
        "name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1", "apiKey": "${OPENAI_KEY}",
        "headers": {"X-Team": "team-${OPENAI_KEY:-none}"}})).json()
    # a reference in a public field is never expanded: not a use
    a = (await adm.post(f"{A}/agents", json={
        "name": "Helper", "description": "uses ${OPENAI_KEY}", "llm": {"backend": b["id"], "model": "m"},
        "secrets": ["OPENAI_KEY", other["key"]]})).json()
    m = (await adm.post(f"{A}/mcps", json={"name": "Tools", "type": "stdio", "command": "tool",
                                           "env": {"TOKEN": "${OPENAI_KEY}"}})).json()
    refs = (await adm.get(f"{A}/secrets/{s['id']}/referrers")).json()["references"]
    assert sorted((x["referrerType"], x["referrerName"], x["field"], x["kind"]) for x in refs) == [
        ("agent", "Helper", "secrets[0]", "membership"),
        ("backend", "B", "apiKey", "structural"),
        ("backend", "B", "headers.X-Team", "structural"),
        ("mcpServer", "Tools", "env.TOKEN", "structural"),
    ]
    r = await adm.delete(f"{A}/secrets/{s['id']}?force=false")
    assert r.status_code == 409 and len(r.json()["references"]) == 4, r.text
    assert "backend 'B' (apiKey)" in r.json()["error"]
    assert (await adm.get(f"{A}/secrets/{s['id']}")).status_code == 200
    # forced: gone, the agent no longer lists it; the ${OPENAI_KEY} strings stay as written
    assert (await adm.delete(f"{A}/secrets/{s['id']}?force=true")).status_code == 204
    assert (await adm.get(f"{A}/agents/{a['id']}")).json()["secrets"] == [other["key"]]
    assert (await adm.get(f"{A}/backends/{b['id']}")).json()["headers"]["X-Team"] in ("", "team-${OPENAI_KEY:-none}")
    assert (await adm.get(f"{A}/mcps/{m['id']}/referrers")).json() == {"references": []}
    # a secret nothing uses goes at once
    assert (await adm.delete(f"{A}/secrets/{other['id']}?force=false")).status_code == 409  # the agent lists it
    r = await adm.put(f"{A}/agents/{a['id']}", json={**(await adm.get(f"{A}/agents/{a['id']}")).json(), "secrets": []})
    assert r.status_code == 200 and r.json()["secrets"] == [], r.text
    r = await adm.delete(f"{A}/secrets/{other['id']}?force=false")
    assert r.status_code == 204, r.text


async def test_a_prompt_telling_the_model_to_use_a_secret_is_a_use(sqlite_apps: Apps) -> None:
    """``{{secret:KEY}}`` is what an agent's model writes in a tool call; a prompt or command that
    tells it to do so breaks when the secret goes (or takes another key)."""
    adm = sqlite_apps.admin
    s = (await adm.post(f"{A}/secrets", json={"name": "GitHub", "key": "GH_TOKEN", "value": "ghp-123456"})).json()
    b = (await adm.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1"})).json()
    a = (await adm.post(f"{A}/agents", json={
        "name": "Ops", "systemPrompt": "Call the API with the header Authorization: token {{ secret:GH_TOKEN }}.",
        "llm": {"backend": b["id"], "model": "m"}, "allowAllSecrets": True})).json()
    c = (await adm.post(f"{A}/commands", json={"name": "Deploy", "prompt": "Deploy using {{secret:GH_TOKEN}}"})).json()
    refs = (await adm.get(f"{A}/secrets/{s['id']}/referrers")).json()["references"]
    assert sorted((x["referrerId"], x["field"]) for x in refs) == sorted([(a["id"], "systemPrompt"), (c["id"], "prompt")])
    assert (await adm.delete(f"{A}/secrets/{s['id']}?force=false")).status_code == 409
    r = await adm.put(f"{A}/secrets/{s['id']}", json={"name": "GitHub", "key": "GH_TOKEN_2", "value": ""})
    assert r.status_code == 409, r.text
    # another key's placeholder is not a use of this one
    s2 = (await adm.post(f"{A}/secrets", json={"name": "Other", "key": "GH", "value": "v-123456"})).json()
    assert (await adm.get(f"{A}/secrets/{s2['id']}/referrers")).json() == {"references": []}


async def test_a_secret_bound_to_tools_keeps_its_key_and_its_binding(sqlite_apps: Apps) -> None:
    adm = sqlite_apps.admin
    s = (await adm.post(f"{A}/secrets", json={"name": "GitHub", "key": "GH_TOKEN", "value": "ghp-123456"})).json()
    b = (await adm.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1"})).json()
    a = (await adm.post(f"{A}/agents", json={"name": "Ops", "llm": {"backend": b["id"], "model": "m"},
                                             "allowAllSecrets": True, "secretTools": {"GH_TOKEN": ["github_api"]}})).json()
    refs = (await adm.get(f"{A}/secrets/{s['id']}/referrers")).json()["references"]
    assert [(x["referrerId"], x["field"], x["kind"]) for x in refs] == [(a["id"], "secretTools.GH_TOKEN", "membership")]
    # a new key would leave the restriction on a key nothing has: the secret unbound
    r = await adm.put(f"{A}/secrets/{s['id']}", json={"name": "GitHub", "key": "GH_TOKEN_2", "value": ""})
    assert r.status_code == 409, r.text
    assert (await adm.delete(f"{A}/secrets/{s['id']}?force=true")).status_code == 204
    # the binding stays: a secret created again under that key is bound again, never free
    assert (await adm.get(f"{A}/agents/{a['id']}")).json()["secretTools"] == {"GH_TOKEN": ["github_api"]}
