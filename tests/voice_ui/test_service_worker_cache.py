"""The Voice UI's service worker caches its own shell and nothing else, in real Chromium.

It cached whatever same-origin GET a controlled page made, and every page load as its offline
shell: after the phone opened ``/docs`` (the user port's API docs) the Voice UI started offline as
Swagger UI, and API documents it fetched sat in its cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from magec.testing.server import ServerProcess

SHELL = {"/", "/index.html", "/css/voice.css", "/js/main.js", "/js/api.js", "/js/audio.js",
         "/js/capture.worklet.js", "/vendor/vue.esm-browser.prod.js", "/manifest.webmanifest",
         "/icons/icon.svg", "/icons/icon-192.png", "/icons/icon-512.png"}
CACHED = """async () => {
  const out = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const req of await cache.keys()) out.push(new URL(req.url).pathname + new URL(req.url).search);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(data_dir=tmp_path_factory.mktemp("sw")) as srv:
        yield srv


def test_only_the_shell_is_cached_and_served_offline(server: ServerProcess, phone: Callable[..., Any]) -> None:
    page = phone()
    base = server.user_url
    page.goto(base + "/")
    expect(page.get_by_test_id("text")).to_be_visible()
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    # the controlled page fetches documents of the user port that are not the Voice UI
    for path in ("/openapi.json", "/docs", "/api/v1/health", "/icons/icon.svg?v=2"):
        assert page.evaluate(f"fetch({path!r}).then(r => r.status)") == 200, path
    # and the phone opens another page of the same origin (the API docs), then comes back
    page.goto(base + "/docs")
    expect(page.locator("#swagger-ui")).to_be_attached()
    page.goto(base + "/")
    expect(page.get_by_test_id("text")).to_be_visible()
    cached = page.evaluate(CACHED)
    assert cached and set(cached) <= SHELL, cached
    # offline, the Voice UI starts as itself
    page.context.set_offline(True)
    page.goto(base + "/")
    expect(page.get_by_test_id("text")).to_be_visible()
    assert page.title() == "magec voice"
    page.context.set_offline(False)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_a_page_outside_the_ui_is_not_answered_from_the_cache(server: ServerProcess,
                                                              phone: Callable[..., Any]) -> None:
    page = phone()
    base = server.user_url
    page.goto(base + "/")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    page.context.set_offline(True)
    # /docs offline is the browser's own error, not the Voice UI (or a stale copy) in its place
    with pytest.raises(Exception, match="ERR_INTERNET_DISCONNECTED|ERR_FAILED"):
        page.goto(base + "/docs")
    page.context.set_offline(False)
