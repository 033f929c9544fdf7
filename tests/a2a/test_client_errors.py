"""Hostile: a client's malformed A2A requests are its own errors — answered, never logged as ours.

Against a real ``magec serve`` (its logging set-up, its log file): a2a-sdk logs every request it
cannot validate at ERROR with a traceback, and answers a 0.3 file part whose ``bytes`` is not
base64 as an *internal* error. Any client token could thus fill the error log with its typos.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess
from tests.a2a.conftest import rpc

pytestmark = pytest.mark.service

A = "/api/v1/admin"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


def _errors_logged(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [r for r in lines if r.get("level") in ("error", "critical")]


def test_malformed_a2a_requests_are_answered_not_logged_as_errors(tmp_path: Path, llm: FakeServer) -> None:
    with ServerProcess(data_dir=tmp_path / "data") as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30)
        b = admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": llm.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "m"},
                                                 "a2a": {"enabled": True}}).json()["id"]
        token = admin.post(f"{A}/clients", json={"name": "c", "allowedAgents": [agent]}).json()["token"]
        user = httpx.Client(base_url=srv.user_url, timeout=30, headers={"Authorization": f"Bearer {token}"})
        url = f"/api/v1/a2a/{agent}"

        def text(t: str) -> dict[str, Any]:
            return {"kind": "text", "text": t}

        # a file part whose bytes are no base64: invalid params naming the part, not an internal error
        bad_file = {"message": {"role": "user", "messageId": "m", "parts": [
            text("look"), {"kind": "file", "file": {"bytes": "!!!notb64", "mimeType": "image/png"}}]}}
        for method in ("message/send", "message/stream"):
            r = user.post(url, json=rpc(method, bad_file, rid=3))
            assert r.status_code == 200 and r.headers["content-type"].startswith("application/json"), r.text
            error = r.json()["error"]
            assert error["code"] == -32602, error
            assert error["message"].startswith("params.message.parts[1].file.bytes"), error
        # wrong types and missing fields: a2a-sdk's own answers (invalid request / params)
        malformed = [
            rpc("message/send", {"message": {"role": "user", "messageId": "m", "parts": [text("x")], "taskId": 5}}),
            rpc("message/send", {"message": "text"}),
            rpc("tasks/get", {}),
            rpc("tasks/cancel", {"id": ["x"]}),
        ]
        for body in malformed:
            r = user.post(url, json=body)
            assert r.status_code == 200 and r.json()["error"]["code"] in (-32600, -32602), r.text
        r = user.post(url, json=rpc("GetTask", {"id": 5}), headers={"A2A-Version": "1.0"})
        assert r.json()["error"]["code"] == -32602, r.text
        # a well-formed file part still gets through
        good = {"message": {"role": "user", "messageId": "m2", "parts": [
            text("look"), {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain"}}]}}
        r = user.post(url, json=rpc("message/send", good))
        assert r.json()["result"]["status"]["state"] == "completed", r.text
        assert srv.log_path is not None
        assert _errors_logged(srv.log_path) == []
