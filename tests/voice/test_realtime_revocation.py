"""An open voice-events WebSocket ends when its client token stops being valid.

The token was checked once, at the handshake: a device whose client was then disabled, deleted or
given a new token (a lost tablet, a leaked token) kept its connection — and its share of
``voice.events.maxConnections`` — for as long as it kept sending. Now the next message after the
change is answered ``unauthorized`` and the connection closed (4401), as a new handshake would be.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from magec.server import user_app
from magec.testing.apps import running_apps, serving

A = "/api/v1/admin"


def _set_model(model: str) -> str:
    return json.dumps({"type": "setModel", "data": {"model": model}})


async def _answer(ws: Any, model: str) -> tuple[dict[str, Any], int | None]:
    """What the server answers a message with, and the close code when it then closes."""
    await ws.send(_set_model(model))
    msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if msg.get("type") != "error":
        return msg, None
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    return msg, closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.parametrize("change", ["disable", "delete", "regenerate"])
async def test_a_revoked_token_closes_its_open_connection(tmp_path: Path, change: str) -> None:
    async with running_apps(tmp_path / "d") as apps:
        c = (await apps.admin.post(f"{A}/clients", json={"name": "Tablet"})).json()
        other = (await apps.admin.post(f"{A}/clients", json={"name": "Kitchen"})).json()
        async with serving(user_app(apps.ctx)) as url:
            ws_url = url.replace("http://", "ws://") + "/api/v1/voice/events"
            headers = {"Authorization": f"Bearer {c['token']}"}
            async with websockets.connect(ws_url, additional_headers=headers) as ws, \
                    websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {other['token']}"}) as kept:
                model = json.loads(await ws.recv())["data"]["wakewords"]["active"]
                assert json.loads(await kept.recv())["type"] == "capabilities"
                assert (await _answer(ws, model))[0]["type"] == "capabilities"  # while the token is good
                if change == "disable":
                    r = await apps.admin.put(f"{A}/clients/{c['id']}", json={"name": "Tablet", "enabled": False})
                elif change == "delete":
                    r = await apps.admin.delete(f"{A}/clients/{c['id']}")
                else:
                    r = await apps.admin.post(f"{A}/clients/{c['id']}/regenerate-token")
                assert r.status_code in (200, 204), r.text
                answer, code = await _answer(ws, model)
                assert answer["data"]["code"] == "unauthorized" and code == 4401, (answer, code)
                # another client's connection goes on
                assert (await _answer(kept, model))[0]["type"] == "capabilities"
