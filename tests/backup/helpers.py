"""Shared pieces of the backup tests: a populated server, and what the Admin API shows of it."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from magec.resources import KINDS
from magec.testing.apps import Apps

A = "/api/v1/admin"
U = "/api/v1/agent"


async def create(apps: Apps, segment: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await apps.admin.post(f"{A}/{segment}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def populate(apps: Apps, provider_url: str) -> dict[str, Any]:
    """One of every kind (secrets with values, sensitive headers, references between them),
    settings changed, and a client whose token is returned."""
    secret = await create(apps, "secrets", {"name": "Key", "key": "FAKE_KEY", "value": "sk-backup-secret-1"})
    backend = await create(apps, "backends", {"name": "Fake", "type": "openai", "url": provider_url,
                                              "apiKey": "${FAKE_KEY}", "headers": {"X-Team": "t-secret-42"}})
    mem = await create(apps, "memory", {"name": "Sessions", "type": "sqlite", "category": "session"})
    mcp = await create(apps, "mcps", {"name": "Tools", "type": "http", "endpoint": "http://127.0.0.1:9/mcp",
                                      "headers": {"Authorization": "Bearer mcp-secret-7"}})
    cmd = await create(apps, "commands", {"name": "Daily", "prompt": "Summarise"})
    agent = await create(apps, "agents", {"name": "Helper", "systemPrompt": "Be brief.",
                                          "llm": {"backend": backend["id"], "model": "m-1"},
                                          "mcpServers": [mcp["id"]]})
    plain = await create(apps, "agents", {"name": "Plain", "llm": {"backend": backend["id"], "model": "m-1"}})
    flow = await create(apps, "flows", {"name": "Pipeline", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": plain["id"]}]}})
    client = await create(apps, "clients", {"name": "App", "type": "direct",
                                            "allowedAgents": [plain["id"], flow["id"]]})
    r = await apps.admin.put(f"{A}/settings", json={"sessionProvider": mem["id"],
                                                    "flows": {"executionTimeoutMs": 5000}})
    assert r.status_code == 200, r.text
    skill = await create(apps, "skills", {"name": "Style", "description": "house style", "instructions": "Be kind."})
    r = await apps.admin.post(f"{A}/skills/{skill['id']}/references",
                              files={"file": ("guide.md", b"# Guide\nUse short words.", "text/markdown")})
    assert r.status_code == 201, r.text
    # the MCP endpoint does not exist: unlink it so "Helper" is a working agent too
    r = await apps.admin.delete(f"{A}/agents/{agent['id']}/mcps/{mcp['id']}")
    assert r.status_code in (200, 204), r.text
    return {"secret": secret, "backend": backend, "memory": mem, "mcp": mcp, "command": cmd, "agent": agent,
            "plain": plain, "flow": flow, "client": client, "token": client["token"], "skill": skill}


#: fields of the Admin API views that describe this process, not the configuration
VOLATILE = {"health", "pending", "breaker", "modelsAt", "models", "capabilities"}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


async def admin_view(apps: Apps) -> dict[str, Any]:
    """Every list and every item of every kind, plus the settings, as the Admin API answers them."""
    out: dict[str, Any] = {"settings": (await apps.admin.get(f"{A}/settings")).json()}
    for model in KINDS.values():
        r = await apps.admin.get(f"{A}/{model.path}")
        assert r.status_code == 200, r.text
        out[model.path] = _clean(r.json())
        for item in r.json():
            one = await apps.admin.get(f"{A}/{model.path}/{item['id']}")
            assert one.status_code == 200, one.text
            out[f"{model.path}/{item['id']}"] = _clean(one.json())
    return out


def members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def with_resource(archive: bytes, kind: str, item: dict[str, Any]) -> bytes:
    """``archive`` with one more item appended (last) to ``resources/<kind>.json``."""
    files = members(archive)
    items = json.loads(files[f"resources/{kind}.json"])
    items.append(item)
    files[f"resources/{kind}.json"] = json.dumps(items).encode()
    return tar_gz(files)


async def restore(apps: Apps, archive: bytes, query: str = "") -> Any:
    return await apps.admin.post(f"{A}/settings/restore{query}", content=archive,
                                 headers={"content-type": "application/gzip"})


async def backup(apps: Apps) -> bytes:
    """A backup archive of the server, as the Admin UI downloads it."""
    r = await apps.admin.get(f"{A}/settings/backup")
    assert r.status_code == 200, r.text
    return r.content


async def restored(apps: Apps, archive: bytes) -> None:
    """``archive`` restored; the restore must succeed."""
    r = await restore(apps, archive)
    assert r.status_code == 200, r.text
