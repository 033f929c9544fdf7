"""Nobody outside the operator writes a line of their own into magec's console log.

The console log (``log.format: console``, the default) is one line per record, read by an operator
in a terminal or by a log shipper splitting on newlines. Values from outside reach its records: the
session id a client sends (``turn of agent 'X' (session <id>) failed``) and the error text a
provider answers with. A CR/LF in them started a line that looked like magec's own (a forged
``admin DELETE … → 204`` record for an audit trail that never happened), and terminal escape
sequences in them were written raw: whoever views the log with ``tail -f`` has them run by the
terminal (clear the screen, retitle the window, hide the lines before). A real ``magec serve``
in console format is driven by a client token holder and a hostile provider; the log is read
back as an operator would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, RecordedRequest, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"
#: what a forged record would say: an admin deleting an agent, from an address of the attacker's choosing
FORGED = "2026-01-01 00:00:00,000 INFO    magec.api.admin.app: admin DELETE /api/v1/admin/agents/a → 204"
#: clear the screen, set the terminal's title, then red text by the one-byte CSI: what a terminal runs
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x9b31m"
#: the first line of every record of the console format
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ +[\w.]+: ")


def fail_with_lines(req: RecordedRequest) -> Reply | None:
    """The provider's error text carries a line of its own and escapes."""
    return Reply.fail(500, f"overloaded\r\n{FORGED} (provider)\n{ESCAPES}") if req.route == "chat" else None


@pytest.fixture(scope="module")
def hostile() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("hostile", responder=fail_with_lines)) as s:
        yield s


def test_outside_text_cannot_forge_a_log_line_or_reach_the_terminal(tmp_path: Path, hostile: FakeServer) -> None:
    console = {"log": {"level": "info", "format": "console"}}
    with ServerProcess(tmp_path / "srv", config=console) as srv, \
            httpx.Client(base_url=srv.admin_url, timeout=60) as admin:
        backend = admin.post(f"{A}/backends", json={"name": "H", "type": "openai", "url": hostile.url}).json()
        agent = admin.post(f"{A}/agents", json={"name": "Talker", "llm": {"backend": backend["id"], "model": "m"}}).json()
        client = admin.post(f"{A}/clients", json={"name": "app", "allowedAgents": [agent["id"]]})
        assert client.status_code == 201, client.text
        token = client.json()["token"]

        session = f"s1\n{FORGED} (client){ESCAPES}"
        r = httpx.post(f"{srv.user_url}/api/v1/agent/run", timeout=60, headers={"Authorization": f"Bearer {token}"},
                       json={"appName": agent["id"], "userId": "u", "sessionId": session,
                             "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
        assert r.status_code == 200, r.text
        assert any(e.get("errorCode") for e in r.json()), r.text  # the turn failed, and was logged

    assert srv.log_path is not None
    log = srv.log_path.read_text(encoding="utf-8", errors="replace")
    failed = [line for line in log.split("\n") if "turn of agent 'Talker'" in line]
    assert failed, log[-3000:]  # the record is there, whole, on one line
    assert "(client)" in failed[0] and "(provider)" in failed[0], failed
    # every line that does not continue a record (a traceback's indented lines) is magec's own record
    strays = [line for line in log.split("\n") if line and not line[0].isspace() and not RECORD.match(line)]
    assert strays == [], strays
    assert not [line for line in log.split("\n") if line.startswith(FORGED)]
    assert not {c for c in log if c in "\x1b\x07\x9b\r"}, "control characters reached the log"
