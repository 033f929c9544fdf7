"""In-process apps for tests: a context on a given database plus httpx clients for both apps.

```python
async with running_apps(tmp_path, database_url=None, admin_password="") as apps:
    r = await apps.admin.post("/api/v1/admin/backends", json={...})
    r = await apps.user.get("/api/v1/health")
```
Requests go through ASGI in-process (no ports); streaming responses work with ``client.stream``.
In-process ASGI has no connection: a response's background work finishes before the client sees
the response, and a client cannot hang up. :func:`serving` puts an app on a real loopback socket
(uvicorn, in the test's event loop, so it shares the context) for what needs one.
The context and both apps are composed by :mod:`magec.server` exactly as ``magec serve`` does.
The clients' base URLs are ``http://admin`` and ``http://user``, so the test config allows those
two ``Host`` names (on top of the defaults); ``config`` sets any other :class:`Config` field.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from magec.config import Config
from magec.context import AppContext


@dataclass
class Apps:
    ctx: AppContext
    admin: httpx.AsyncClient
    user: httpx.AsyncClient


@contextlib.asynccontextmanager
async def running_apps(
    data_dir: Path,
    database_url: str = "",
    admin_password: str = "",
    encryption_key: str = "test-encryption-key",
    start_runtime: bool = True,
    config: dict[str, Any] | None = None,
    start_clients: bool | None = None,
) -> AsyncIterator[Apps]:
    from magec.heap import collection_paused
    from magec.server import admin_app, open_context, user_app

    settings: dict[str, Any] = {"allowed_hosts": ["admin", "user"], **(config or {})}
    cfg = Config(
        data_dir=data_dir,
        database_url=database_url,
        admin_password=admin_password,
        encryption_key=encryption_key,
        **settings,
    )
    # the client supervisor (bots, cron) runs with the runtime, as in ``magec serve``
    clients = start_runtime if start_clients is None else start_clients
    async with open_context(cfg, start_runtime=start_runtime, start_clients=clients) as ctx:
        admin_headers = {"Authorization": f"Bearer {admin_password}"} if admin_password else {}
        with collection_paused():  # as `magec serve` builds them (~14 % less CPU: magec.heap)
            admin_asgi, user_asgi = admin_app(ctx), user_app(ctx)
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=admin_asgi),
                base_url="http://admin",
                headers=admin_headers,
                timeout=30,
            ) as admin,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=user_asgi), base_url="http://user", timeout=30
            ) as user,
        ):
            yield Apps(ctx=ctx, admin=admin, user=user)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """``app`` on ``127.0.0.1:<free port>`` in this event loop (uvicorn); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
