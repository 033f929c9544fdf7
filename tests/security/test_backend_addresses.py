"""A client never learns where a backend lives from an error.

When a provider cannot be reached, the transport's own text names the address it tried
(``Cannot connect to host 10.0.0.5:8443 ssl:default [Connect call failed ('10.0.0.5', 8443)]``).
Clients of the user API read these errors (the run API's error event, ``/v1``'s error body, a
stream's error): the backend's address, an internal host name and its port are the operator's, not
theirs. The error says which backend failed (its name) and why (``Connection refused``, a name that
does not resolve), nothing of where. Each vendor, each chat route, a refused port and an unknown name.
"""

from __future__ import annotations

import socket

import pytest

from magec.testing.apps import Apps

A = "/api/v1/admin"
U = "/api/v1/agent"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "gemini"])
async def test_unreachable_backend_errors_name_no_address(sqlite_apps: Apps, vendor: str) -> None:
    apps = sqlite_apps
    port = closed_port()
    where = {f"http://127.0.0.1:{port}": ("127.0.0.1", str(port)),
             "http://magec-private-backend.invalid:7431": ("magec-private-backend", "7431")}
    for i, (url, secrets) in enumerate(where.items()):
        b = await apps.admin.post(f"{A}/backends", json={"name": f"down {i}", "type": vendor, "url": url,
                                                          "apiKey": "k", "maxAttempts": 1})
        assert b.status_code == 201, b.text
        a = await apps.admin.post(f"{A}/agents", json={"name": f"x {i}", "llm": {"backend": b.json()["id"], "model": "m"}})
        assert a.status_code == 201, a.text
        aid = a.json()["id"]
        r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": f"s{i}",
                                                   "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})
        errors = [e for e in r.json() if e.get("errorCode")]
        assert [e["errorCode"] for e in errors] == ["connection"], r.text
        seen = [errors[0]["errorMessage"]]
        assert seen[0].startswith(f"down {i}: cannot connect"), seen
        for stream in (False, True):
            r = await apps.user.post("/v1/chat/completions", json={
                "model": aid, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code in (502, 503), r.text
            seen.append(r.text)
        for text in seen:
            for secret in secrets:
                assert secret not in text, (secret, text)
