"""Admin backend extras: types table, test connection (saved / unsaved), models cache, used-by."""

from __future__ import annotations

from datetime import datetime, timedelta

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
    # a browser reads a time without an offset as its own local time: both say it is UTC
    cached = (await apps.admin.get(f"{A}/backends/{b['id']}/models")).json()
    for answer in (models, fresh, cached):
        assert datetime.fromisoformat(answer["fetchedAt"]).utcoffset() == timedelta(0), answer
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


async def test_a_key_naming_a_missing_secret_is_a_warning_of_the_test(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """``${NAME}`` with no such secret expands to nothing: the test says which name, instead of
    leaving the user with the provider's bare 401."""
    apps = sqlite_apps
    body = {"name": "X", "type": "openai", "url": openai_x.url, "apiKey": "${OPENAI_KEY_TYPO}",
            "headers": {"X-Team": "Bearer ${TEAM_TOKEN_TYPO}", "X-Fine": "${ALSO_UNSET:-fallback}"}}
    for result in [(await apps.admin.post(f"{A}/backends/test", json=body)).json()]:
        joined = " | ".join(result["warnings"])
        assert "apiKey: ${OPENAI_KEY_TYPO} names no secret" in joined, result
        assert "headers.X-Team: ${TEAM_TOKEN_TYPO} names no secret" in joined, result
        assert "ALSO_UNSET" not in joined
    b = (await apps.admin.post(f"{A}/backends", json=body)).json()
    saved = (await apps.admin.post(f"{A}/backends/{b['id']}/test", json={})).json()
    assert any("${OPENAI_KEY_TYPO}" in w and "OPENAI_KEY_TYPO" in w for w in saved["warnings"]), saved
    assert (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["lastTest"]["warnings"] == saved["warnings"]
    # once the secret exists (and the header's too) the warnings go
    for key in ("OPENAI_KEY_TYPO", "TEAM_TOKEN_TYPO"):
        r = await apps.admin.post(f"{A}/secrets", json={"name": key, "key": key, "value": "sk-now-there-1234"})
        assert r.status_code == 201, r.text
    again = (await apps.admin.post(f"{A}/backends/{b['id']}/test", json={})).json()
    assert not [w for w in again["warnings"] if "names no secret" in w], again


async def test_a_404_from_a_url_without_v1_suggests_the_v1_url(sqlite_apps: Apps, openai_x: FakeServer) -> None:
    """Ollama's native ``…:11434/api`` (or a proxy prefix without ``/v1``) answers the model list
    with a 404: the test names the URL that would have answered."""
    apps = sqlite_apps
    for url, meant in ((f"{openai_x.url}/api", f"{openai_x.url}/v1"), (f"{openai_x.url}/openai", f"{openai_x.url}/openai/v1")):
        r = await apps.admin.post(f"{A}/backends/test", json={"name": "X", "type": "openai", "url": url})
        result = r.json()
        assert r.status_code == 200 and result["ok"] is False, r.text
        assert result["error"].endswith(f"did you mean {meant}?"), result["error"]
        assert "404" in result["error"]
    ok = (await apps.admin.post(f"{A}/backends/test", json={"name": "X", "type": "openai", "url": openai_x.url,
                                                            "apiKey": "sk-x-key-1234"})).json()
    assert ok["ok"] is True and "did you mean" not in str(ok)


async def test_the_model_suggestions_and_live_health_of_a_url_without_v1_suggest_the_v1_url(
    sqlite_apps: Apps, openai_x: FakeServer
) -> None:
    """Saved anyway with Ollama's native ``…/api``: the agent dialog's model field (``GET
    /backends/{id}/models``) said only "HTTP 404: Not Found" and so did the backend's live health;
    both now name the URL that answers, as Test connection does."""
    apps = sqlite_apps
    url, meant = f"{openai_x.url}/api", f"{openai_x.url}/v1"
    b = (await apps.admin.post(f"{A}/backends", json={"name": "Ollama box", "type": "openai", "url": url})).json()
    listed = (await apps.admin.get(f"{A}/backends/{b['id']}/models", params={"refresh": "true"})).json()
    assert listed["models"] == [] and listed["error"].startswith("Ollama box: HTTP 404"), listed
    assert listed["error"].endswith(f"did you mean {meant}?"), listed
    tested = (await apps.admin.post(f"{A}/backends/{b['id']}/test", json={})).json()
    assert tested["error"].endswith(f"did you mean {meant}?") and tested["error"].count("did you mean") == 1
    health = (await apps.admin.get(f"{A}/backends/{b['id']}")).json()["health"]
    assert health["status"] == "unhealthy" and health["lastError"].endswith(f"did you mean {meant}?"), health
