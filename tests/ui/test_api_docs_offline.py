"""The API docs at ``/docs`` render on both ports with nothing fetched from anywhere but magec
itself (Swagger UI's assets are served locally): every other address is blocked in the browser."""

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
        page.goto(base + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text(title, timeout=30_000)
        expect(page.locator(".opblock").first).to_be_visible()
    assert foreign == []
    assert page.js_errors == []  # type: ignore[attr-defined]
