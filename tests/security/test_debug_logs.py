"""Conversations stay out of the log, even at ``log.level: debug``.

The libraries magec speaks its protocols through log what they send and receive at DEBUG: a2a-sdk
every JSON-RPC request body and every task event (the user's message, the agent's answer, whole
task histories), python-telegram-bot every Bot API call with its parameters and answer, slack_sdk
its request and response bodies, the MCP SDK every message to and from a tool server, websockets
every frame (Discord's gateway). Turned on to chase a problem, debug logging would copy users'
conversations into the log files — what the SDK and ADK loggers are kept at WARNING for
(docs/security.md). A real ``magec serve`` at debug level is driven over A2A and by a Telegram user,
and the log is read for the words they exchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_platforms import TelegramFake
from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
ANSWER = "ANSWER-CANARY-5c1e"  # what the model says
A2A_WORDS = "A2A-USER-CANARY-9f3b"  # what an A2A client asks
TG_WORDS = "TG-USER-CANARY-27d0"  # what a Telegram user writes


def answer(req: RecordedRequest) -> str | None:
    return f"{ANSWER} to your message" if req.route == "chat" else None


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("quiet", responder=answer)) as s:
        yield s


def test_debug_logs_carry_no_conversation(tmp_path: Path, llm: FakeServer) -> None:
    with ServerProcess(tmp_path / "debug", log_level="debug") as srv, TelegramFake() as tg, \
            httpx.Client(base_url=srv.admin_url, timeout=60) as admin:
        backend = admin.post(f"{A}/backends", json={"name": "L", "type": "openai", "url": llm.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Talker", "llm": {"backend": backend["id"], "model": "m"},
                                                "a2a": {"enabled": True}}).json()
        a2a_client = admin.post(f"{A}/clients", json={"name": "peer", "allowedAgents": [agent["id"]]})
        assert a2a_client.status_code == 201, a2a_client.text
        bot = admin.post(f"{A}/clients", json={
            "name": "tg", "type": "telegram", "allowedAgents": [agent["id"]],
            "config": {"telegram": {"botToken": tg.token, "apiBaseUrl": tg.url}}})
        assert bot.status_code == 201, bot.text

        rpc = {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": {
            "role": "user", "messageId": "m1", "parts": [{"kind": "text", "text": A2A_WORDS}]}}}
        r = httpx.post(f"{srv.user_url}/api/v1/a2a/{agent['id']}", json=rpc, timeout=60,
                       headers={"Authorization": f"Bearer {a2a_client.json()['token']}"})
        assert ANSWER in json.dumps(r.json()), r.text

        tg.send_text(chat_id=42, user_id=7, text=TG_WORDS)
        [reply] = tg.wait_sent(42, "sendMessage", timeout=60)
        assert ANSWER in reply.text, reply

    assert srv.log_path is not None
    log = srv.log_path.read_text()
    assert '"level": "debug"' in log  # the server did log at debug level
    leaked = [line[:300] for line in log.splitlines() if any(w in line for w in (ANSWER, A2A_WORDS, TG_WORDS))]
    assert leaked == [], "\n".join(leaked[:10])
