"""Names need not be unique, ids are: a name two agents share is a 400 naming the field where a
caller may use both (one of them picked silently answered as the other), and resolves to the one
it may use when it may use only one."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from magec.testing.apps import running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake

A = "/api/v1/admin"


async def test_a_shared_name_is_ambiguous_only_where_both_are_usable(tmp_path: Path) -> None:
    with FakeServer(OpenAIFake("one")) as one, FakeServer(OpenAIFake("two")) as two:
        async with running_apps(tmp_path / "d") as apps:
            ids = []
            for fake in (one, two):
                b = (await apps.admin.post(f"{A}/backends", json={"name": fake.url, "type": "openai", "url": fake.url})).json()
                a = (await apps.admin.post(f"{A}/agents", json={"name": "Critic", "llm": {"backend": b["id"], "model": "m"}})).json()
                ids.append(a["id"])
            both = (await apps.admin.post(f"{A}/clients", json={"name": "both", "type": "direct", "allowedAgents": ids})).json()
            only = (await apps.admin.post(f"{A}/clients", json={"name": "only", "type": "direct", "allowedAgents": ids[1:]})).json()
            sdk = openai.AsyncOpenAI(base_url="http://user/v1", max_retries=0, api_key=both["token"], http_client=apps.user)
            with pytest.raises(openai.BadRequestError) as err:
                await sdk.chat.completions.create(model="Critic", messages=[{"role": "user", "content": "hi"}])
            assert err.value.param == "model" and ids[0] in str(err.value) and ids[1] in str(err.value)
            assert not one.calls() and not two.calls()
            r = await sdk.chat.completions.create(model=ids[1], messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content == "two says: hi"
            r = await apps.user.post("/api/v1/agent/run", headers={"Authorization": f"Bearer {both['token']}"}, json={
                "appName": "Critic", "userId": "u", "sessionId": "s", "newMessage": {"parts": [{"text": "hi"}]}})
            assert r.status_code == 400 and r.json()["field"] == "appName", r.text
            # a client that may use one of them reaches that one by name
            sdk_one = openai.AsyncOpenAI(base_url="http://user/v1", max_retries=0, api_key=only["token"], http_client=apps.user)
            r = await sdk_one.chat.completions.create(model="Critic", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content == "two says: hi"
