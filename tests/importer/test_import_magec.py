"""``import-magec`` loses nothing: Magec's example seed and a G2-shaped store import with every item
reported, zero skipped, zero fields dropped; Magec-encrypted secrets are read with Magec's key (or
reported "reenter" without it); client tokens keep working; the imported agents and flows answer
on fake providers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from magec.import_check import encrypt_magec
from magec.importer import KEY_ENV, import_store
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import AnthropicFake, FakeServer, OpenAIFake

A = "/api/v1/admin"
SEED = Path(__file__).resolve().parents[1] / "clients" / "data" / "magec-examples.json"  # vendored from Magec
KINDS = ["secrets", "backends", "memoryProviders", "mcpServers", "commands", "agents", "flows", "clients", "skills"]
MAGEC_KEY = "magec-source-key"


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeServer]]:
    with FakeServer(OpenAIFake("seed-oai")) as oai, FakeServer(AnthropicFake("seed-claude")) as claude:
        yield {"openai": oai, "anthropic": claude}


def _on_fakes(store: dict[str, Any], fakes: dict[str, FakeServer]) -> dict[str, Any]:
    """The store with every backend pointed at the fake of its type (the only change)."""
    store = json.loads(json.dumps(store))
    for b in store["backends"]:
        b["url"] = fakes[b["type"]].url
    return store


def _count(store: dict[str, Any]) -> int:
    return sum(len(store.get(k) or []) for k in KINDS) + (1 if store.get("settings") else 0)


async def _answers(apps: Apps, app_id: str) -> list[str]:
    r = await apps.admin.post(f"{A}/agent/run", json={
        "appName": app_id, "userId": "u1", "sessionId": f"s-{app_id}",
        "newMessage": {"role": "user", "parts": [{"text": "hello"}]}})
    assert r.status_code == 200, r.text
    events = r.json()
    assert not [e for e in events if "errorCode" in e], (app_id, events)
    return [p["text"] for e in events for p in (e.get("content") or {}).get("parts", []) if p.get("text")]


async def test_magecs_example_seed_imports_with_nothing_dropped_and_runs(
    tmp_path: Path, fakes: dict[str, FakeServer]
) -> None:
    seed = _on_fakes(json.loads(SEED.read_text()), fakes)
    async with running_apps(tmp_path / "data") as apps:
        counts = await import_store(apps.ctx.store, seed)
        report = counts.report
        assert [i for i in report.items if i.status != "imported"] == []
        assert report.dropped == [] and report.unknown_sections == []
        assert len(report.items) == _count(seed)
        for kind in ("backends", "agents", "flows", "clients"):
            assert counts[kind] == len(seed[kind])
        # the seed's TTS speed (Magec G1's flat field) is kept, and shown back in Magec's form
        magec_agent = next(a for a in seed["agents"] if (a.get("tts") or {}).get("speed"))
        view = (await apps.admin.get(f"{A}/agents/{magec_agent['id']}")).json()
        assert view["tts"]["speed"] == magec_agent["tts"]["speed"]
        assert view["tts"]["config"]["openai"]["speed"] == magec_agent["tts"]["speed"]
        # clients keep their tokens (stored hashed): the seed's VoiceUI token still authenticates
        voice_ui = seed["clients"][0]
        r = await apps.user.get("/api/v1/client/info", headers={"Authorization": f"Bearer {voice_ui['token']}"})
        assert r.status_code == 200, r.text
        # every imported agent and flow answers (on the fakes)
        for item in [*seed["agents"], *seed["flows"]]:
            assert await _answers(apps, item["id"]), item["name"]


def g2_store() -> dict[str, Any]:
    """A store.json in Magec G2's shape, with every kind and the fields a careless import drops."""
    return {
        "settings": {"sessionProvider": "mem-s", "longTermProvider": "", "temporaryDir": "/tmp/magec-artifacts",
                     "flows": {"executionTimeoutMs": 2000, "maxOutputBytes": 65536, "disabledLibraries": ["print"]}},
        "secrets": [
            {"id": "sec-1", "name": "Weather key", "key": "WEATHER_KEY",
             "value": encrypt_magec("weather-secret-1", MAGEC_KEY, b"\x01" * 12), "description": "encrypted by Magec"},
            {"id": "sec-2", "name": "Plain", "key": "PLAIN_KEY", "value": "plain-secret-2"},
        ],
        "backends": [{"id": "b-oai", "name": "OAI", "type": "openai", "url": "", "apiKey": "sk-g2-oai",
                      "headers": {"X-Org": "g2-org"}},
                     {"id": "b-claude", "name": "Claude", "type": "anthropic", "url": "", "apiKey": "sk-g2-claude"}],
        "memoryProviders": [{"id": "mem-r", "name": "Redis sessions", "type": "redis", "category": "session",
                             "config": {"connectionString": "redis://:g2pw@127.0.0.1:1/0"}},
                            {"id": "mem-s", "name": "Sessions", "type": "sqlite", "category": "session"}],
        "mcpServers": [{"id": "mcp-1", "name": "Tools", "type": "stdio", "command": "python", "args": ["-V"],
                        "env": {"TOKEN": "g2-env-secret"}, "workDir": "/tmp", "systemPrompt": "Use tools."}],
        "commands": [{"id": "cmd-1", "name": "Daily", "description": "d", "prompt": "Summarise the day"}],
        "agents": [
            {"id": "classifier", "name": "Classifier", "llm": {"backend": "b-oai", "model": "m"},
             "secrets": ["WEATHER_KEY"], "allowAllSecrets": False, "tags": ["g2"],
             "tts": {"backend": "b-oai", "model": "tts-1", "voice": "alloy", "speed": 1.1},
             "contextGuard": {"enabled": True, "strategy": "sliding_window", "maxTurns": 9},
             "mcpServers": ["mcp-1"], "a2a": {"enabled": True}},
            {"id": "billing", "name": "Billing", "llm": {"backend": "b-claude", "model": "m"}, "allowAllSecrets": True},
            {"id": "general", "name": "General", "llm": {"backend": "b-oai", "model": "m"}},
        ],
        "flows": [
            {"id": "triage", "name": "Triage", "entry": "classify", "startX": 40, "startY": 80, "nodes": [
                {"id": "classify", "type": "agent", "agentId": "classifier", "x": 100, "y": 80, "w": 180, "h": 60},
                {"id": "route", "type": "router", "defaultRoute": "fallback",
                 "rules": [{"when": 'input.contains("billing")', "route": "billing"}]},
                {"id": "billing-desk", "type": "agent", "agentId": "billing", "responseAgent": True},
                {"id": "helpdesk", "type": "subflow", "flowId": "general-desk"},
            ], "edges": [{"from": "classify", "to": "route"},
                         {"from": "route", "to": "billing-desk", "route": "billing"},
                         {"from": "route", "to": "helpdesk", "route": "fallback"}]},
            {"id": "general-desk", "name": "General desk", "entry": "answer", "nodes": [
                {"id": "answer", "type": "agent", "agentId": "general", "responseAgent": True}], "edges": []},
            {"id": "tree", "name": "Tree", "root": {"type": "loop", "maxIterations": 2, "steps": [
                {"type": "agent", "agentId": "general", "responseAgent": True}]}},
        ],
        "clients": [
            {"id": "cl-direct", "name": "Voice", "type": "direct", "token": "mgc_g2_direct_token_0123456789",
             "allowedAgents": ["triage", "classifier"], "enabled": True, "config": {}},
            {"id": "cl-tg", "name": "Telegram", "type": "telegram", "token": "mgc_g2_tg_token_0123456789", "enabled": False,
             "allowedAgents": ["general"], "config": {"telegram": {"botToken": "123456:g2-bot-token",
                                                                   "allowedUsers": [42], "responseMode": "text",
                                                                   "defaultAgent": "general"}}},
            {"id": "cl-cron", "name": "Cron", "type": "cron", "token": "mgc_g2_cron_token_0123456789", "enabled": False,
             "allowedAgents": ["general"], "config": {"cron": {"schedule": "0 9 * * *", "commandId": "cmd-1"}}},
            {"id": "cl-hook", "name": "Hook", "type": "webhook", "token": "mgc_g2_hook_token_0123456789", "enabled": True,
             "allowedAgents": ["tree"], "config": {"webhook": {"passthrough": False, "commandId": "cmd-1"}}},
        ],
        "skills": [],
    }


async def test_g2_store_imports_with_nothing_dropped_secrets_read_and_flows_answer(
    tmp_path: Path, fakes: dict[str, FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _on_fakes(g2_store(), fakes)
    monkeypatch.setenv(KEY_ENV, MAGEC_KEY)
    async with running_apps(tmp_path / "data") as apps:
        counts = await import_store(apps.ctx.store, store, allow_stdio=True)  # it has a stdio MCP server
        report = counts.report
        assert [(i.kind, i.name, i.status, i.detail) for i in report.items if i.status != "imported"] == []
        assert report.dropped == [] and report.unknown_sections == []
        assert len(report.items) == _count(store)
        # Magec's encrypted secret was read with Magec's key and is stored under magec's own
        snap = await apps.ctx.store.snapshot()
        assert snap.secret_values == {"WEATHER_KEY": "weather-secret-1", "PLAIN_KEY": "plain-secret-2"}
        raw = await apps.ctx.store.get("secrets", "sec-1")
        assert raw["value"].startswith("enc:") and "weather-secret-1" not in json.dumps(raw)
        settings = (await apps.admin.get(f"{A}/settings")).json()
        assert settings["temporaryDir"] == "/tmp/magec-artifacts" and settings["sessionProvider"] == "mem-s"
        assert settings["flows"]["disabledLibraries"] == ["print"]
        agent = (await apps.admin.get(f"{A}/agents/classifier")).json()
        assert agent["secrets"] == ["WEATHER_KEY"] and agent["tts"]["speed"] == 1.1
        r = await apps.user.get("/api/v1/client/info", headers={"Authorization": "Bearer mgc_g2_direct_token_0123456789"})
        assert r.status_code == 200, r.text
        for app_id in ("triage", "general-desk", "tree", "classifier", "billing", "general"):
            assert await _answers(apps, app_id), app_id


async def test_magec_secret_without_its_key_is_reported_reenter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = {"secrets": g2_store()["secrets"]}
    for key in ("", "not-magecs-key"):
        monkeypatch.setenv(KEY_ENV, key) if key else monkeypatch.delenv(KEY_ENV, raising=False)
        assert os.environ.get(KEY_ENV, "") == key
        async with running_apps(tmp_path / f"data{len(key)}") as apps:
            report = (await import_store(apps.ctx.store, store)).report
            assert [(i.id, i.status) for i in report.items] == [("sec-1", "reenter"), ("sec-2", "imported")]
            assert "re-enter" in report.items[0].detail and report.dropped == []
            raw = await apps.ctx.store.get("secrets", "sec-1")
            assert raw["value"] == ""  # imported without a value, never Magec's ciphertext
            assert any("1 with a value to re-enter" in line for line in report.lines())
