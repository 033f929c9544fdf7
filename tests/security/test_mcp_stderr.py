"""A stdio MCP server's stderr goes through magec's log, not around it.

MCP servers log to stderr (the protocol keeps stdout for its messages), and many log the calls
they get — arguments a client steers the model into writing, and ``{{secret:KEY}}`` values magec
fills in just before the call. The server process wrote that stream straight into magec's own
stderr: a CR/LF in an argument started a line that looked like one of magec's records, terminal
escapes reached whoever tails the log, and a filled secret was written out in clear — around the
escaping and redaction every record of magec's gets. A real ``magec serve`` (console log), a
stdio MCP server that logs its arguments, and a client steering the model (the fake provider
scripts the call); the log is read back as an operator would.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply, ToolCall
from magec.testing.server import ServerProcess
from tests.security.test_log_injection import ESCAPES, FORGED, RECORD

A = "/api/v1/admin"
TOKEN = "tok-4b1d-secret-value-77"

SERVER = '''
import sys
from mcp.server.mcpserver import MCPServer

server = MCPServer("logs-its-calls")


@server.tool()
def note(text: str) -> str:
    """Take a note."""
    print(f"note called with: {text}", file=sys.stderr, flush=True)
    return "noted"


if __name__ == "__main__":
    print("logs-its-calls ready", file=sys.stderr, flush=True)
    server.run("stdio")
'''


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("llm")) as s:
        yield s


def test_a_stdio_servers_stderr_is_logged_as_magecs_records(tmp_path: Path, llm: FakeServer) -> None:
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    console = {"log": {"level": "info", "format": "console"}}
    with ServerProcess(tmp_path / "srv", config=console) as srv, \
            httpx.Client(base_url=srv.admin_url, timeout=60) as admin:
        assert admin.post(f"{A}/secrets", json={"name": "Token", "key": "API_TOKEN", "value": TOKEN}).status_code == 201
        b = admin.post(f"{A}/backends", json={"name": "b", "type": "openai", "url": llm.url}).json()
        m = admin.post(f"{A}/mcps", json={"name": "notes", "type": "stdio", "command": sys.executable,
                                          "args": [str(script)]}).json()
        a = admin.post(f"{A}/agents", json={"name": "Scribe", "llm": {"backend": b["id"], "model": "m"},
                                            "mcpServers": [m["id"]], "secrets": ["API_TOKEN"]}).json()
        token = admin.post(f"{A}/clients", json={"name": "app", "allowedAgents": [a["id"]]}).json()["token"]

        # what the client steered the model into writing: a line of its own, escapes, a secret
        steered = f"x\n{FORGED} (mcp){ESCAPES} key={{{{secret:API_TOKEN}}}}"
        llm.script(Reply(tool_calls=[ToolCall("note", {"text": steered})]))
        r = httpx.post(f"{srv.user_url}/api/v1/agent/run", timeout=60, headers={"Authorization": f"Bearer {token}"},
                       json={"appName": a["id"], "userId": "u", "sessionId": "s1",
                             "newMessage": {"role": "user", "parts": [{"text": "take a note"}]}})
        assert r.status_code == 200, r.text
        assert "noted" in r.text, r.text  # the tool ran: its stderr line was written

        assert srv.log_path is not None
        log = srv.log_path.read_text(encoding="utf-8", errors="replace")
        # the server's lines are in the log, as records naming the server; the steered text's own
        # line is one of them, not a record of its own
        lines = log.split("\n")
        called = [line for line in lines if "note called with" in line]
        assert called and RECORD.match(called[0]) and "MCP server 'notes': " in called[0], log[-3000:]
        forged = [line for line in lines if "(mcp)" in line]
        assert forged and forged[0].index("MCP server 'notes': ") < forged[0].index(FORGED), forged
        strays = [line for line in log.split("\n") if line and not line[0].isspace() and not RECORD.match(line)]
        assert strays == [], strays
        assert not [line for line in log.split("\n") if line.startswith(FORGED)]
        assert not {c for c in log if c in "\x1b\x07\x9b\r"}, "control characters reached the log"
        assert TOKEN not in log, "a filled secret reached the log in clear"
