"""``GET /v1/responses/{id}/input_items`` through the official openai SDK
(``client.responses.input_items.list``): OpenAI's list shape and paging, owner-private."""

from __future__ import annotations

import openai
import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from tests.runtime.test_openai_compat import sdk
from tests.runtime.test_run_api import make_agent

A = "/api/v1/admin"


async def test_input_items_of_a_stored_response(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    client = sdk(apps)
    one = await client.responses.create(model="Helper", input="hello there", instructions="be brief")
    page = await client.responses.input_items.list(one.id)
    assert [(i.type, i.role) for i in page.data] == [("message", "user")]  # type: ignore[union-attr]
    assert page.data[0].content[0].text == "hello there"  # type: ignore[union-attr]
    assert page.data[0].id.startswith("msg_") and page.has_more is False
    assert page.first_id == page.last_id == page.data[0].id

    items = [
        {"type": "message", "role": "user", "content": "first"},
        {"type": "message", "role": "assistant", "content": "an answer"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "third"}], "id": "msg_mine"},
    ]
    three = await client.responses.create(model="Helper", input=items, previous_response_id=one.id)  # type: ignore[arg-type]
    newest_first = await client.responses.input_items.list(three.id)  # OpenAI's default order: desc
    texts = [i.content[0].text for i in newest_first.data]  # type: ignore[union-attr]
    assert texts == ["third", "an answer", "first"]  # this request's input only, not the history
    assert newest_first.data[0].id == "msg_mine"
    # paging: limit, after, order=asc
    first_page = await client.responses.input_items.list(three.id, limit=2, order="asc")
    assert [i.content[0].text for i in first_page.data] == ["first", "an answer"]  # type: ignore[union-attr]
    assert first_page.has_more is True and first_page.last_id == first_page.data[1].id
    rest = await client.responses.input_items.list(three.id, limit=2, order="asc", after=first_page.last_id)
    assert [i.content[0].text for i in rest.data] == ["third"] and rest.has_more is False  # type: ignore[union-attr]
    every = [i.id async for i in client.responses.input_items.list(three.id, limit=1)]  # the SDK's auto-paging
    assert every == [i.id for i in newest_first.data]

    # bad parameters: a 400 naming each
    for params, field in (({"limit": 0}, "limit"), ({"limit": "many"}, "limit"), ({"order": "up"}, "order"),
                          ({"after": "msg_unknown"}, "after")):
        r = await apps.user.get(f"/v1/responses/{three.id}/input_items", params=params)
        assert r.status_code == 400 and r.json()["error"]["param"] == field, (params, r.text)

    # forgotten with its response; unknown and stateless ids are 404s
    await client.responses.delete(one.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.input_items.list(one.id)
    once = await client.responses.create(model=aid, input="once", store=False)
    for rid in (once.id, "resp_nope"):
        with pytest.raises(openai.NotFoundError):
            await client.responses.input_items.list(rid)


async def test_input_items_are_owner_private(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    _, aid = await make_agent(apps, openai_x)
    tokens = [(await apps.admin.post(f"{A}/clients", json={"name": n, "allowedAgents": [aid]})).json()["token"]
              for n in ("a", "b")]
    mine = await sdk(apps, tokens[0]).responses.create(model="Helper", input="secret plans")
    assert (await sdk(apps, tokens[0]).responses.input_items.list(mine.id)).data
    with pytest.raises(openai.NotFoundError):
        await sdk(apps, tokens[1]).responses.input_items.list(mine.id)
    r = await apps.user.get(f"/v1/responses/{mine.id}/input_items", headers={"Authorization": f"Bearer {tokens[1]}"})
    assert r.status_code == 404 and "secret plans" not in r.text
