"""The API docs at ``/docs`` render on both ports with nothing fetched from anywhere but magec
itself (Swagger UI's assets are served locally): every other address is blocked in the browser,
and the page's Content-Security-Policy lets it run (a console error would fail the test)."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from magec.testing.server import ServerProcess


def test_docs_render_offline_on_both_ports(page: Page, server: ServerProcess) -> None:
    foreign: list[str] = []

    def only_magec(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost"):
            foreign.append(url)
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route("**/*", only_magec)
    for base, title in ((server.user_url, "magec API"), (server.admin_url, "magec Admin API")):
        answer = page.goto(base + "/docs")
        # the page runs its own scripts only (its inline one by hash) and loads nothing elsewhere
        policy = answer.headers["content-security-policy"] if answer else ""
        assert "default-src 'none'" in policy and "script-src 'self' 'sha256-" in policy, policy
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(title, timeout=30_000)
        expect(page.locator(".opblock").first).to_be_visible()
    assert foreign == []
    assert page.js_errors == []  # type: ignore[attr-defined]
