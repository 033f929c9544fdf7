"""A small MCP server for the tool tests: run as a script it serves stdio (the HTTP tests mount
``server`` in a FastAPI app, see ``conftest.py``).

Tools: ``add(a, b)``, ``env_value(name)``, ``environ()`` (the whole environment), ``cwd()``, ``pid()``, ``slow(seconds)`` and
``fail(message)`` (raises, so the client gets an ``isError`` result).
"""

from __future__ import annotations

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
def fail(message: str) -> str:
    """Always fails with ``message``."""
    raise ValueError(message)


if __name__ == "__main__":
    server.run("stdio")
