"""A small MCP server for the tool tests: run as a script it serves stdio (the HTTP tests mount
``server`` in a FastAPI app, see ``conftest.py``).

Tools: ``add(a, b)``, ``env_value(name)``, ``environ()`` (the whole environment), ``cwd()``, ``pid()``, ``slow(seconds)``,
``transform(text, how)`` (reverse, base64, hex, upper: what a tool may do to a secret it is handed) and
``fail(message)`` (raises, so the client gets an ``isError`` result).
"""

from __future__ import annotations

import base64
import os

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("magec-test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def env_value(name: str) -> str:
    """The value of an environment variable of the server process ('' when unset)."""
    return os.environ.get(name, "")


@server.tool()
def environ() -> dict[str, str]:
    """The server process's whole environment."""
    return dict(os.environ)


@server.tool()
def cwd() -> str:
    """The server's working directory."""
    return os.getcwd()


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def slow(seconds: float) -> str:
    """Answers after ``seconds``."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def transform(text: str, how: str) -> str:
    """``text`` reversed, base64-encoded (after a prefix), hex-encoded or upper-cased."""
    if how == "reverse":
        return text[::-1]
    if how == "base64":
        return base64.b64encode(b"prefix:" + text.encode()).decode()
    if how == "hex":
        return text.encode().hex()
    return text.upper()


@server.tool()
def fail(message: str) -> str:
    """Always fails with ``message``."""
    raise ValueError(message)


if __name__ == "__main__":
    server.run("stdio")
