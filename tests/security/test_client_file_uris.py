"""Hostile: a client token holder names files by URI for an agent on a Gemini backend.

The Gemini API resolves a part's ``fileData.fileUri`` with the install's key: a Files API name reads
a file uploaded to the key owner's project, a ``gs://`` URI an object the key may read. Magec's edge
passed a client's URI on as it came (the run API's ``fileData``, a ``/v1`` image link, an A2A file
URI). Now such a request is refused with a 400 naming the part (A2A: JSON-RPC invalid params), and
the provider is never called, unless the admin sets ``server.allowClientFileURIs``; inline data
works. An OpenAI-protocol backend still gets links (fetched anonymously by the provider)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, GeminiFake, OpenAIFake

A = "/api/v1/admin"
U = "/api/v1/agent"
SECRET_FILE = "https://generativelanguage.googleapis.com/v1beta/files/someone-elses-upload"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeServer]:
    with FakeServer(GeminiFake("gem")) as s:
        yield s


@pytest.fixture(scope="module")
def oai() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("oai")) as s:
        yield s


async def setup(apps: Apps, gemini: FakeServer, oai: FakeServer) -> tuple[str, str, dict[str, str]]:
    ids = []
    for btype, server in (("gemini", gemini), ("openai", oai)):
        b = (await apps.admin.post(f"{A}/backends", json={"name": btype, "type": btype, "url": server.url,
                                                          "apiKey": "install-key"})).json()
        a = (await apps.admin.post(f"{A}/agents", json={"name": f"on-{btype}", "a2a": {"enabled": True},
                                                        "llm": {"backend": b["id"], "model": "m"}})).json()
        ids.append(a["id"])
    c = (await apps.admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": ids})).json()
    return ids[0], ids[1], {"Authorization": f"Bearer {c['token']}"}


def run(aid: str, part: dict[str, Any]) -> dict[str, Any]:
    return {"appName": aid, "userId": "u", "sessionId": "s",
            "newMessage": {"role": "user", "parts": [{"text": "what is in this file?"}, part]}}


def image(url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


def a2a(uri: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 3, "method": "message/send", "params": {"message": {
        "role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": "look"},
                                                     {"kind": "file", "file": {"uri": uri, "mimeType": "image/png"}}]}}}


async def test_file_uris_for_a_gemini_agent_are_refused(tmp_path: Path, gemini: FakeServer, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "d") as apps:
        gem, other, h = await setup(apps, gemini, oai)
        gemini.clear()
        for uri in (SECRET_FILE, "gs://the-installs-bucket/private.pdf"):
            r = await apps.user.post(f"{U}/run", headers=h, json=run(gem, {"fileData": {"fileUri": uri,
                                                                                      "mimeType": "application/pdf"}}))
            assert r.status_code == 400, r.text
            assert r.json()["field"] == "newMessage.parts[1].fileData.fileUri", r.json()
            assert "server.allowClientFileURIs" in r.json()["error"]
        r = await apps.user.post("/v1/chat/completions", headers=h, json={"model": gem, "messages": image(SECRET_FILE)})
        assert r.status_code == 400 and r.json()["error"]["param"] == "messages[0].content[1].image_url", r.text
        r = await apps.user.post("/v1/responses", headers=h, json={"model": gem, "input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": SECRET_FILE}]}]})
        assert r.status_code == 400 and r.json()["error"]["param"] == "input[0].content[0].image_url", r.text
        r = await apps.user.post(f"/api/v1/a2a/{gem}", headers=h, json=a2a(SECRET_FILE))
        err = r.json()["error"]
        assert err["code"] == -32602 and "params.message.parts[1].file.uri" in err["message"], err
        # an artifact the agent's artifact tools would hand to the model
        r = await apps.user.post(f"{U}/apps/{gem}/users/u/sessions/s/artifacts", headers=h, json={
            "filename": "doc.pdf", "artifact": {"fileData": {"fileUri": SECRET_FILE, "mimeType": "application/pdf"}}})
        assert r.status_code == 400 and r.json()["field"] == "artifact.fileData.fileUri", r.text
        assert gemini.calls() == []  # the provider never saw one

        # inline data still reaches the model
        r = await apps.user.post(f"{U}/run", headers=h, json=run(gem, {"inlineData": {"data": PNG,
                                                                                   "mimeType": "image/png"}}))
        assert r.status_code == 200, r.text
        r = await apps.user.post("/v1/chat/completions", headers=h,
                                 json={"model": gem, "messages": image(f"data:image/png;base64,{PNG}")})
        assert r.status_code == 200, r.text
        sent = json.dumps([c.json for c in gemini.calls()])
        assert "inlineData" in sent or "inline_data" in sent
        assert SECRET_FILE not in sent

        # an OpenAI-protocol agent gets the link (its provider fetches it anonymously)
        oai.clear()
        r = await apps.user.post("/v1/chat/completions", headers=h,
                                 json={"model": other, "messages": image("https://example.com/cat.png")})
        assert r.status_code == 200, r.text
        assert "https://example.com/cat.png" in json.dumps([c.json for c in oai.calls()])


async def test_the_admin_may_allow_them(tmp_path: Path, gemini: FakeServer, oai: FakeServer) -> None:
    async with running_apps(tmp_path / "d", config={"allow_client_file_uris": True}) as apps:
        gem, _, h = await setup(apps, gemini, oai)
        gemini.clear()
        r = await apps.user.post(f"{U}/run", headers=h, json=run(gem, {"fileData": {"fileUri": SECRET_FILE,
                                                                                  "mimeType": "image/png"}}))
        assert r.status_code == 200, r.text
        assert SECRET_FILE in json.dumps([c.json for c in gemini.calls()])
