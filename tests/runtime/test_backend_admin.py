"""Admin backend extras: types table, test connection (saved / unsaved), models cache, used-by."""

from __future__ import annotations

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer
from magec.testing.services import free_port

A = "/api/v1/admin"


async def test_types_table(sqlite_apps: Apps) -> None:
    types = {t["type"]: t for t in (await sqlite_apps.admin.get(f"{A}/backends/types")).json()}
    assert set(types) >= {"openai", "anthropic", "gemini"}
    assert set(types["openai"]["capabilities"]["roles"]) == {"llm", "embeddings", "stt", "tts"}
    assert types["anthropic"]["capabilities"]["roles"] == ["llm"]
    assert types["openai"]["defaultUrl"] == "https://api.openai.com/v1"


async def test_test_connection_saved_and_unsaved(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    body = {"name": "X", "type": "openai", "url": openai_x.url, "apiKey": "sk-x-key-1234"}
    r = await apps.admin.post(f"{A}/backends/test", json=body)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["models"], r.text
    b = (await apps.admin.post(f"{A}/backends", json=body)).json()
    assert b["health"]["status"] == "unknown"
    r = await apps.admin.post(f"{A}/backends/{b['id']}/test",
                              json={"full": True, "model": "m-1", "embeddingModel": "e-1"})
    result = r.json()
    assert result["ok"] is True and result["roles"]["llm"]["ok"] is True
    assert result["capabilities"]["embeddingDimension"] == 8
    view = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()
    assert view["health"]["status"] == "healthy" and view["health"]["checkedAt"]
    assert view["capabilities"]["embeddingDimension"] == 8
    models = (await apps.admin.get(f"{A}/backends/{b['id']}/models")).json()
    assert models["cached"] is True and models["models"]
    fresh = (await apps.admin.get(f"{A}/backends/{b['id']}/models?refresh=true")).json()
    assert fresh["cached"] is False and fresh["error"] is None
    # unsaved body with an empty key re-uses the stored key when the id is given
    r = await apps.admin.post(f"{A}/backends/test", json={**body, "apiKey": "", "id": b["id"]})
    assert r.json()["ok"] is True


async def test_dead_backend_unhealthy_and_models_fast(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    dead = f"http://127.0.0.1:{free_port()}"
    b = (await apps.admin.post(f"{A}/backends", json={"name": "Dead", "type": "openai", "url": dead,
                                                       "apiKey": "sk-dead-key-77", "timeout": 2})).json()
    r = await apps.admin.post(f"{A}/backends/{b['id']}/test", json={})
    assert r.status_code == 200 and r.json()["ok"] is False
    assert "sk-dead-key-77" not in r.text
    view = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()
    assert view["health"]["status"] == "unhealthy" and view["health"]["lastError"]
    r = await apps.admin.get(f"{A}/backends/{b['id']}/models?refresh=true")
    assert r.status_code == 200 and r.json()["error"] and r.json()["models"] == []


async def test_used_by(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "B", "type": "openai", "url": openai_x.url})).json()
    a = (await apps.admin.post(f"{A}/agents", json={"name": "A", "llm": {"backend": b["id"], "model": "m"},
                                                     "tts": {"backend": b["id"], "model": "tts-1", "voice": "nova"}})).json()
    m = (await apps.admin.post(f"{A}/memory", json={"name": "M", "type": "sqlite", "category": "longterm",
                                                     "embedding": {"backend": b["id"], "model": "e"}})).json()
    used = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["usedBy"]
    assert {(u["kind"], u["id"], u["role"]) for u in used} == {
        ("agent", a["id"], "llm"), ("agent", a["id"], "tts"), ("memoryProvider", m["id"], "embeddings")}


async def test_voice_role_rejected_for_anthropic(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    b = (await apps.admin.post(f"{A}/backends", json={"name": "Claude", "type": "anthropic"})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "A", "tts": {"backend": b["id"], "model": "x"}})
    assert r.status_code == 400 and "anthropic backends have no text-to-speech" in r.json()["error"]
    r = await apps.admin.post(f"{A}/memory", json={"name": "M", "type": "sqlite", "category": "longterm",
                                                    "embedding": {"backend": b["id"], "model": "e"}})
    assert r.status_code == 400 and "embedding.backend" in r.json()["error"]
