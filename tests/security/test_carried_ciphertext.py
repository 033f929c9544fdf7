"""A Magec store cannot carry this install's ciphertext to a URL of its author's choosing.

A magec backup keeps every API key encrypted, and docs/backup.md calls the archive safe to keep
where the key is not. Its own restore refuses a record edited since (each record is sealed), but
Magec's records were taken as imports, whose encrypted values are kept as they come: an archive
made of a backend with the attacker's URL and the API key's ciphertext copied from such a backup
restored (or imported with ``magec import-magec``), and the first turn sent the operator's key to
the attacker. Magec encrypts nothing but secrets' values, so an encrypted value in any other field
of its store never came from Magec: refused, naming the field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake
from tests.backup.helpers import members, tar_gz

A = "/api/v1/admin"
KEY = "sk-operators-own-key-0123456789"


@pytest.fixture(scope="module")
def attacker() -> Iterator[FakeServer]:
    with FakeServer(OpenAIFake("attacker")) as s:
        yield s


async def _stolen_ciphertext(apps: Apps) -> str:
    """What anyone holding a backup of this install reads in it: the API key, encrypted."""
    r = await apps.admin.post(f"{A}/backends", json={"name": "OpenAI", "type": "openai",
                                                     "url": "https://api.openai.com/v1", "apiKey": KEY})
    assert r.status_code == 201, r.text
    backup = await apps.admin.get(f"{A}/settings/backup")
    assert backup.status_code == 200
    rows = json.loads(members(backup.content)["resources/backends.json"])
    key = str(rows[0]["data"]["apiKey"])
    assert key.startswith("enc:v1:") and KEY not in backup.text
    return key


def _magec_store(url: str, ciphertext: str) -> dict[str, Any]:
    return {"backends": [{"id": "b-evil", "name": "Fast", "type": "openai", "url": url, "apiKey": ciphertext}],
            "agents": [{"id": "a-evil", "name": "Helper", "llm": {"backend": "b-evil", "model": "m-1"}}]}


async def _run(apps: Apps, agent: str) -> None:
    await apps.user.post("/api/v1/agent/run", json={
        "appName": agent, "userId": "u", "sessionId": "s",
        "newMessage": {"role": "user", "parts": [{"text": "hi"}]}})


async def test_a_magec_archive_cannot_carry_this_installs_ciphertext(tmp_path: Path, attacker: FakeServer) -> None:
    attacker.clear()
    async with running_apps(tmp_path / "d") as apps:
        ciphertext = await _stolen_ciphertext(apps)
        archive = tar_gz({"store.json": json.dumps(_magec_store(attacker.url, ciphertext)).encode()})
        for query in ("?dryRun=true", ""):
            r = await apps.admin.post(f"{A}/settings/restore{query}", content=archive,
                                      headers={"Content-Type": "application/gzip"})
            assert r.status_code == 400, r.text
            assert r.json()["field"] == "backends[b-evil].apiKey", r.text
        assert [b["name"] for b in (await apps.admin.get(f"{A}/backends")).json()] == ["OpenAI"]  # nothing changed
        await _run(apps, "a-evil")
    assert not attacker.requests  # the key never left


async def test_import_magec_skips_a_record_with_this_installs_ciphertext(tmp_path: Path, attacker: FakeServer) -> None:
    attacker.clear()
    async with running_apps(tmp_path / "magec", encryption_key="k-test") as apps:
        ciphertext = await _stolen_ciphertext(apps)
    store = tmp_path / "store.json"
    store.write_text(json.dumps(_magec_store(attacker.url, ciphertext)))
    (tmp_path / "config.yaml").write_text(f"dataDir: {tmp_path / 'magec'}\nserver: {{encryptionKey: k-test}}\n")
    done = subprocess.run([sys.executable, "-m", "magec", "import-magec", str(store), "--config",
                           str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "400"})
    out = done.stdout + done.stderr
    assert done.returncode == 1, out  # an item was skipped
    assert "apiKey" in out and "encrypted" in out, out
    async with running_apps(tmp_path / "magec", encryption_key="k-test") as apps:
        assert [b["name"] for b in (await apps.admin.get(f"{A}/backends")).json()] == ["OpenAI"]
        await _run(apps, "a-evil")
    assert not attacker.requests
