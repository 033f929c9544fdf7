"""Status the Admin API reports is the current one (issue 25, majors 1 and 3), seen through HTTP.

The periodic health round is set to an hour, so every status change here can only come from the
checks that run at once: after a backend's connection fields change, and after a real call fails
(or recovers). Polls below wait for those background checks, bounded; no sleep decides a result.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply

A = "/api/v1/admin"
U = "/api/v1/agent"


@pytest.fixture
async def apps(tmp_path: Path) -> AsyncIterator[Apps]:
    async with running_apps(tmp_path / "data", config={"health_interval": 3600.0}) as a:
        yield a


async def until(apps: Apps, path: str, pred: Any, what: str, rounds: int = 300) -> dict[str, Any]:
    """GET ``path`` until ``pred(view)`` holds (bounded: ``rounds`` x 0.1 s, patient on a loaded machine)."""
    view: dict[str, Any] = {}
    for _ in range(rounds):
        view = (await apps.admin.get(f"{A}{path}")).json()
        if pred(view):
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never happened: {view.get('health')}")


async def run(apps: Apps, agent_id: str, text: str) -> list[dict[str, Any]]:
    body = {"appName": agent_id, "userId": "u", "sessionId": f"s-{text}", "newMessage": {"parts": [{"text": text}]}}
    r = await apps.user.post(f"{U}/run", json=body)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_fixing_the_url_resets_the_old_error_and_rechecks_at_once(apps: Apps, closed_port_url: str) -> None:
    with FakeServer(OpenAIFake("fixed", models=["f-chat"])) as good:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Typo", "type": "openai",
                                                          "url": closed_port_url + "/v1", "timeout": 2})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "Typist", "llm": {"backend": b["id"], "model": "f-chat"}})).json()
        # a new backend is checked when it is saved, not at the next round (an hour away)
        down = await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "down", "down after save")
        assert "cannot connect" in down["health"]["lastError"]
        agent = await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "backend_unreachable",
                            "agent unreachable")
        assert "Typo" in agent["health"]["reason"] and "cannot connect" in agent["health"]["reason"]

        r = await apps.admin.put(f"{A}/backends/{b['id']}", json={"name": "Typo", "type": "openai", "url": good.url + "/v1"})
        assert r.status_code == 200, r.text
        # right after the save the old URL's error is gone: unknown until the re-check, never "down"
        now = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["health"]
        assert now["status"] in ("unknown", "up") and not now["lastError"], now
        up = await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after fix")
        assert up["health"]["lastError"] is None and up["breaker"]["state"] == "closed"
        agent = await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "ok", "agent ok")
        assert agent["health"]["reason"] is None
        assert "fixed says: hello" in str(await run(apps, a["id"], "hello"))


async def test_a_failed_chat_turns_the_backend_down_and_a_good_one_back_up(apps: Apps) -> None:
    outage = {"on": False}

    def responder(req: Any) -> Reply | None:
        return Reply.fail(503, "provider on fire") if outage["on"] else None

    with FakeServer(OpenAIFake("wobbly", models=["w-chat"], responder=responder)) as srv:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Wobbly", "type": "openai", "url": srv.url + "/v1",
                                                          "maxAttempts": 1})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "Wobbler", "llm": {"backend": b["id"], "model": "w-chat"}})).json()
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after save")

        outage["on"] = True
        events = await run(apps, a["id"], "are you there")
        assert events[-1].get("errorCode"), events[-1]
        down = await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "down", "down after a failed chat")
        assert "503" in down["health"]["lastError"] or "provider on fire" in down["health"]["lastError"]
        overview = (await apps.admin.get(f"{A}/overview")).json()
        assert {x["id"]: x for x in overview["agents"]}[a["id"]]["health"]["status"] == "backend_unreachable"

        outage["on"] = False  # the provider comes back; the next real call shows it
        assert "wobbly says: again" in str(await run(apps, a["id"], "again"))
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after a good chat")
        await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "ok", "agent ok again")


async def test_report_shows_measured_roles_only_and_is_kept_on_the_card(apps: Apps) -> None:
    def no_tools(req: Any) -> Reply | None:
        # a chat model that answers but never calls tools: the optional check fails
        return Reply(text="I would rather not") if req.route == "chat" and (req.json or {}).get("tools") else None

    with FakeServer(OpenAIFake("picky", models=["p-chat", "p-embed"], embedding_dim=24, responder=no_tools)) as srv:
        body = {"name": "Picky", "type": "openai", "url": srv.url + "/v1"}
        quick = (await apps.admin.post(f"{A}/backends/test", json=body)).json()
        assert quick["ok"] is True and quick["measured"] == [] and quick["full"] is False
        assert quick["roles"]["models"]["detail"] == "2 models listed"
        for role in ("llm", "embeddings", "tts", "stt", "tools"):
            assert quick["roles"][role]["ok"] is None and quick["roles"][role]["tested"] is False
            assert quick["roles"][role]["detail"].startswith("not tested")
        assert "llm" in quick["typeRoles"]  # what the type may serve is labelled as such, apart

        full = (await apps.admin.post(f"{A}/backends/test", json={**body, "full": True, "model": "auto"})).json()
        assert full["ok"] is True, full  # tool calling failed, chat and embeddings passed: a warning
        assert full["roles"]["llm"]["ok"] is True and full["roles"]["llm"]["model"] == "p-chat"
        assert full["roles"]["tools"]["ok"] is False and full["roles"]["tools"]["optional"] is True
        assert full["warnings"] and full["warnings"][0].startswith("tools:")
        assert full["roles"]["embeddings"]["model"] == "p-embed" and full["capabilities"]["embeddingDimension"] == 24
        assert full["measured"] == ["llm", "embeddings"] and full["error"] is None
        assert full["roles"]["stt"]["ok"] is None and "no model listed" in full["roles"]["stt"]["detail"]

        # saved right after: the dialog's full probe is kept on the card, not run again
        created = (await apps.admin.post(f"{A}/backends", json=body)).json()
        chats = len(srv.provider.requests_to("chat"))  # type: ignore[union-attr]
        kept = (await apps.admin.post(f"{A}/backends/{created['id']}/test", json={"reuse": True})).json()
        assert kept["reused"] is True and kept["measured"] == ["llm", "embeddings"]
        assert len(srv.provider.requests_to("chat")) == chats  # type: ignore[union-attr]
        view = (await apps.admin.get(f"{A}/backends/{created['id']}")).json()
        last = view["lastTest"]
        assert last["measured"] == ["llm", "embeddings"] and last["embeddingDimension"] == 24 and last["full"]
        assert last["roles"]["llm"]["model"] == "p-chat" and last["testedAt"] and "config" not in last
        assert view["health"]["status"] in ("healthy", "up")  # the test, or the check after the save

        # the card never shows a test of another URL
        with FakeServer(OpenAIFake("other", models=["o-chat"])) as other:
            await apps.admin.put(f"{A}/backends/{created['id']}", json={**body, "url": other.url + "/v1"})
            assert (await apps.admin.get(f"{A}/backends/{created['id']}")).json()["lastTest"] is None


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
async def test_concurrent_first_tests_of_a_new_backend_all_answer_and_one_is_kept(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    """The first status row of a backend is written by whoever comes first (its check on save, a
    "Test" click, a second tab's click): writers racing for it must all succeed."""
    url = ""
    if db == "postgres":
        pg = request.getfixturevalue("postgres")
        url = pg.url(pg.create_database())
    async with running_apps(tmp_path / "data", url, config={"health_interval": 3600.0}) as apps:
        with FakeServer(OpenAIFake("racy", models=["r-chat"])) as fake:
            b = (await apps.admin.post(f"{A}/backends", json={"name": "Racy", "type": "openai",
                                                              "url": fake.url + "/v1"})).json()
            answers = await asyncio.gather(*(apps.admin.post(f"{A}/backends/{b['id']}/test") for _ in range(8)))
            assert [r.status_code for r in answers] == [200] * 8, [r.text[:200] for r in answers]
            view = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()
            assert view["lastTest"] is not None and view["lastTest"]["ok"] is True


async def test_writing_the_right_secret_rechecks_its_backends_at_once(apps: Apps) -> None:
    """A backend whose key is a secret (``${OPENAI_API_KEY}``) is down with the wrong value; writing
    the right value re-checks it at once, as a backend edit does (the round is an hour away)."""
    with FakeServer(OpenAIFake("keyed", models=["k-chat"], api_key="sk-right-key-123456")) as srv:
        s = (await apps.admin.post(f"{A}/secrets", json={"name": "key", "key": "OPENAI_API_KEY",
                                                         "value": "sk-wrong-key-000000"})).json()
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Keyed", "type": "openai", "url": srv.url + "/v1",
                                                          "apiKey": "${OPENAI_API_KEY}"})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "Rotated", "llm": {"backend": b["id"], "model": "k-chat"}})).json()
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "down", "down with the wrong key")
        await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "backend_unreachable", "agent down")

        r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "key", "key": "OPENAI_API_KEY",
                                                                  "value": "sk-right-key-123456"})
        assert r.status_code == 200, r.text
        # right after the write the wrong key's error is gone: unknown until the re-check, never "down"
        now = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["health"]
        assert now["status"] in ("unknown", "up") and not now["lastError"], now
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after the rotation")
        await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "ok", "agent ok")
        overview = (await apps.admin.get(f"{A}/overview")).json()
        assert {x["id"]: x for x in overview["agents"]}[a["id"]]["health"]["status"] == "ok"
        assert "keyed says: hello" in str(await run(apps, a["id"], "hello"))


async def test_a_secret_inside_an_encrypted_key_rechecks_its_backend_too(apps: Apps) -> None:
    """``sk-${PART}`` is not a pure reference, so the key is stored encrypted: the fingerprint of
    the connection must still see that it uses ``PART`` (its stale health stayed "down", and no
    re-check ran, until the next round an hour later)."""
    with FakeServer(OpenAIFake("inner", models=["i-chat"], api_key="sk-right-key-123456")) as srv:
        s = (await apps.admin.post(f"{A}/secrets", json={"name": "part", "key": "KEY_PART",
                                                         "value": "wrong-key-000000"})).json()
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Inner", "type": "openai", "url": srv.url + "/v1",
                                                          "apiKey": "sk-${KEY_PART}"})).json()
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "down", "down with the wrong part")
        r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "part", "key": "KEY_PART",
                                                                  "value": "right-key-123456"})
        assert r.status_code == 200, r.text
        now = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["health"]
        assert now["status"] in ("unknown", "up") and not now["lastError"], now
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after the rotation")


async def test_a_good_answer_after_a_rejected_key_rechecks_at_once(apps: Apps) -> None:
    """The check found the key rejected (down; no backend fault, the breaker stays closed); the
    provider then accepts it (re-activated there): the next good answer re-checks at once."""
    with FakeServer(OpenAIFake("strict", models=["s-chat"], api_key="sk-other-key-2222")) as srv:
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Strict", "type": "openai", "url": srv.url + "/v1",
                                                          "apiKey": "sk-our-key-11111"})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": "Patient", "llm": {"backend": b["id"], "model": "s-chat"}})).json()
        down = await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "down", "down: key rejected")
        assert down["breaker"]["state"] == "closed"
        srv.provider.api_key = "sk-our-key-11111"  # type: ignore[attr-defined]
        assert "strict says: hello" in str(await run(apps, a["id"], "hello"))
        await until(apps, f"/backends/{b['id']}", lambda v: v["health"]["status"] == "up", "up after a good answer")
        await until(apps, f"/agents/{a['id']}", lambda v: v["health"]["status"] == "ok", "agent ok")


async def test_saving_the_same_key_again_keeps_the_last_test(apps: Apps) -> None:
    """The card's last test is of a connection: saving its secret, or its key, again with the
    same value (an edit of the name, a dialog saved as it was) keeps it; a new value drops it.
    It used to be dropped by any save, the stored ciphertext being new on every write."""
    with FakeServer(OpenAIFake("same", models=["s-chat"])) as srv:
        s = (await apps.admin.post(f"{A}/secrets", json={"name": "k", "key": "SAME_KEY", "value": "sk-same-1111"})).json()
        b = (await apps.admin.post(f"{A}/backends", json={"name": "Same", "type": "openai", "url": srv.url + "/v1",
                                                          "apiKey": "${SAME_KEY}"})).json()
        d = (await apps.admin.post(f"{A}/backends", json={"name": "Direct", "type": "openai", "url": srv.url + "/v1",
                                                          "apiKey": "sk-direct-2222"})).json()
        for backend in (b, d):
            r = await apps.admin.post(f"{A}/backends/{backend['id']}/test", json={})
            assert r.status_code == 200 and r.json()["ok"], r.text

        def last(view: dict[str, Any]) -> Any:
            return view["lastTest"] and view["lastTest"]["testedAt"]

        tested = {x["id"]: last((await apps.admin.get(f"{A}/backends/{x['id']}")).json()) for x in (b, d)}
        assert all(tested.values()), tested
        r = await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "renamed", "key": "SAME_KEY", "value": "sk-same-1111"})
        assert r.status_code == 200, r.text
        r = await apps.admin.put(f"{A}/backends/{d['id']}", json={"name": "Direct 2", "type": "openai", "url": srv.url + "/v1",
                                                                  "apiKey": "sk-direct-2222"})
        assert r.status_code == 200, r.text
        for x in (b, d):
            assert last((await apps.admin.get(f"{A}/backends/{x['id']}")).json()) == tested[x["id"]]

        await apps.admin.put(f"{A}/secrets/{s['id']}", json={"name": "renamed", "key": "SAME_KEY", "value": "sk-new-3333"})
        await apps.admin.put(f"{A}/backends/{d['id']}", json={"name": "Direct 2", "type": "openai", "url": srv.url + "/v1",
                                                               "apiKey": "sk-direct-4444"})
        for x in (b, d):
            assert (await apps.admin.get(f"{A}/backends/{x['id']}")).json()["lastTest"] is None
