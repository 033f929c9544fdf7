"""An API path no route serves answers the API's error body even with the Voice UI's catch-all on
the user port: ``{"error", "code": "not_found"}`` under ``/api/``, OpenAI's error object under
``/v1/`` (docs/openai.md)."""

from __future__ import annotations

from pathlib import Path

from magec.testing.apps import running_apps


async def test_unknown_api_routes_answer_the_error_vocabulary(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data") as apps:
        assert apps.ctx.config.voice_ui_enabled  # its catch-all answers every unknown GET
        for path in ("/api/v1/nope", "/api/v1/agent/nope/deeper", "/api"):
            r = await apps.user.get(path)
            assert r.status_code == 404, path
            body = r.json()  # (under /api/v1/agent also ADK's "detail")
            assert (body["error"], body["code"]) == (f"no route for {path}", "not_found"), path
        r = await apps.user.get("/v1/nope")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        assert r.json()["error"]["type"] == "invalid_request_error"


async def test_a_root_well_known_path_is_a_json_404_not_the_ui(tmp_path: Path) -> None:
    """An A2A client pointed at the server's root reads ``/.well-known/agent-card.json``: the UIs'
    catch-all answered their HTML with a 200, which the client then failed to parse. Magec serves
    cards only under ``/api/v1/a2a/`` (docs/a2a.md); the root answers a JSON 404 that says where."""
    async with running_apps(tmp_path / "data") as apps:
        assert apps.ctx.config.voice_ui_enabled
        for client in (apps.user, apps.admin):
            for path in ("/.well-known/agent-card.json", "/.well-known/agent.json", "/.well-known/security.txt"):
                r = await client.get(path)
                assert r.status_code == 404, (path, r.text[:100])
                assert r.headers["content-type"].startswith("application/json"), path
                assert r.json()["code"] == "not_found", path
        r = await apps.user.get("/.well-known/agent-card.json")
        assert "/api/v1/a2a/.well-known/agent-card.json" in r.json()["error"]
        assert (await apps.user.get("/api/v1/a2a/.well-known/agent-card.json")).status_code == 200
        assert "<html" in (await apps.user.get("/some/ui/route")).text.lower()  # the UI still answers the rest


async def test_a_get_on_a_post_route_is_405_not_no_route(tmp_path: Path) -> None:
    """A webhook URL opened in a browser, or ``curl`` without ``-X POST`` on the run API: the path
    is right, the method is not — 405 with ``Allow``, not "no route" (the catch-all GET matched)."""
    async with running_apps(tmp_path / "data") as apps:
        assert apps.ctx.config.voice_ui_enabled
        for path in ("/api/v1/agent/run", "/api/v1/agent/run_sse", "/api/v1/webhooks/some-client",
                     "/api/v1/voice/some-agent/speech", "/v1/chat/completions"):
            r = await apps.user.get(path)
            assert r.status_code == 405, (path, r.text)
            assert r.headers["allow"] == "POST", path
            body = r.json()
            code = body["error"]["code"] if path.startswith("/v1/") else body["code"]
            assert code == "invalid_request", path
        assert (await apps.user.get("/api/v1/agent/nope")).status_code == 404  # still 404 when no route has it


async def test_a_get_on_a_post_admin_route_is_405(tmp_path: Path) -> None:
    """The Admin UI's catch-all GET hid the same mismatch on the admin port."""
    async with running_apps(tmp_path / "data") as apps:
        backend = (await apps.admin.post("/api/v1/admin/backends", json={
            "name": "B", "type": "openai", "url": "http://127.0.0.1:9/v1"})).json()
        r = await apps.admin.get(f"/api/v1/admin/backends/{backend['id']}/test")
        assert r.status_code == 405, r.text
        assert r.headers["allow"] == "POST"
        assert r.json()["code"] == "invalid_request"
        assert (await apps.admin.get("/api/v1/admin/nope")).status_code == 404


async def test_unknown_paths_are_404_for_every_method_on_both_ports(tmp_path: Path) -> None:
    """A POST (PUT, PATCH, DELETE) to a path no route has was a 405: the UIs' catch-all GET (and
    the docs' static mount) matched it but for the method. Unknown is 404 whatever the method;
    a known path with a wrong method stays 405 with ``Allow``."""
    async with running_apps(tmp_path / "data") as apps:
        assert apps.ctx.config.voice_ui_enabled
        unknown = ("/nope", "/nope/deeper", "/api/v1/nope", "/api/v1/admin/nope", "/v1/nope",
                   "/api/v1/agent/nope", "/docs-assets/nope")
        for client in (apps.user, apps.admin):
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                for path in unknown:
                    r = await client.request(method, path, json={})
                    assert r.status_code == 404, (method, path, r.text)
                    body = r.json()
                    code = body["error"]["code"] if (client is apps.user and path.startswith("/v1/")) else body["code"]
                    assert code == "not_found", (method, path, body)
        known = [(apps.user, "POST", "/api/v1/health", "GET"), (apps.user, "PUT", "/api/v1/agent/run", "POST"),
                 (apps.user, "DELETE", "/v1/chat/completions", "POST"), (apps.admin, "POST", "/api/v1/health", "GET"),
                 (apps.admin, "PATCH", "/api/v1/admin/backends", "GET, POST"), (apps.user, "POST", "/docs", "GET")]
        for client, method, path, allow in known:
            r = await client.request(method, path, json={})
            assert r.status_code == 405, (method, path, r.text)
            assert r.headers["allow"].replace(", HEAD", "") == allow, (method, path, r.headers["allow"])
