"""ADK's own dev web UI (the Angular app shipped inside ``google-adk``) driven in a real Chromium
against a real ``magec serve``: what a user gets who serves ``adk web``'s frontend with its
``backendUrl`` set to magec's run API (journey 6).

The UI's files are served from the installed package by a loopback static server (a real
origin: Chromium lets only a loopback page call a loopback API), which magec allows cross-origin
(``server.corsOrigins``); every request that is not to loopback is refused, so nothing reaches
the internet (the UI's web fonts simply fail).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.adk import cli as adk_cli
from playwright.sync_api import Page, expect, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.ui

BROWSER = Path(adk_cli.__file__).parent / "browser"
U = "/api/v1/agent"


@dataclass
class DevUI:
    page: Page
    url: str  # the dev UI's page
    api: str  # magec's run API, as the UI calls it


@pytest.fixture(scope="module")
def dev_ui_server(tmp_path_factory: pytest.TempPathFactory, compat_fake: FakeServer) -> Iterator[tuple[str, str]]:
    """(UI origin, magec user URL): the dev UI served as ``adk web`` serves it, and a magec that
    allows that origin, with the agents Helper and Writer (``outputKey: draft``)."""
    assert (BROWSER / "index.html").exists(), f"ADK's dev web UI not found at {BROWSER}"
    backend: dict[str, str] = {}

    async def runtime_config(_: Request) -> Response:  # what adk web answers, with magec's URL
        return JSONResponse({"backendUrl": backend["url"]})

    async def root(_: Request) -> Response:
        return RedirectResponse("/dev-ui/")

    static = Starlette(routes=[Route("/dev-ui/assets/config/runtime-config.json", runtime_config),
                               Route("/", root), Mount("/dev-ui", StaticFiles(directory=BROWSER, html=True))])
    with FakeServer(static) as ui:
        origin = f"http://localhost:{ui.port}"
        data = tmp_path_factory.mktemp("adk-web-ui")
        with ServerProcess(data_dir=data, server_config={"corsOrigins": [origin]}) as server:
            backend["url"] = f"{server.user_url}{U}"
            admin = httpx.Client(base_url=f"{server.admin_url}/api/v1/admin", timeout=30)
            b = admin.post("/backends", json={"name": "compat", "type": "openai", "url": compat_fake.url}).json()
            admin.post("/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "fake-chat"}}).raise_for_status()
            admin.post("/agents", json={"name": "Writer", "outputKey": "draft",
                                        "llm": {"backend": b["id"], "model": "fake-chat"}}).raise_for_status()
            yield origin, server.user_url


@pytest.fixture
def dev_ui(dev_ui_server: tuple[str, str]) -> Iterator[DevUI]:
    origin, user_url = dev_ui_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # fonts, telemetry: never the internet
        page.route(re.compile(r"^https?://(?!localhost[:/]|127\.0\.0\.1[:/])"), lambda route: route.abort())
        yield DevUI(page, f"{origin}/dev-ui/", f"{user_url}{U}")
        browser.close()


def _sessions(api: str, user: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api}/apps/Helper/users/{user}/sessions", timeout=10)
    r.raise_for_status()
    return list(r.json())


def test_adk_dev_web_ui_opens_a_session_and_chats(dev_ui: DevUI) -> None:
    """ADK 2.13's UI creates each session with ``state: {"__session_metadata__": {"displayName":
    <first message>}}``; refused as a non-``client:`` key, the UI said "Failed to create session"
    and no message could be sent."""
    page = dev_ui.page
    created: list[int] = []
    page.on("response", lambda r: created.append(r.status)
            if r.request.method == "POST" and re.search(r"/users/[^/]+/sessions$", r.url) else None)
    page.goto(dev_ui.url + "?app=Helper")
    expect(page.get_by_role("button", name="Helper")).to_be_visible(timeout=30_000)  # the app the link names
    box = page.get_by_placeholder("Type a message...")
    expect(box).to_be_visible()
    box.fill("hello from the adk web ui")
    box.press("Enter")
    expect(page.get_by_text("compat says: hello from the adk web ui")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Failed to create session")).to_have_count(0)
    assert created == [200]
    # the UI lists the session by the name it gave it
    names = [s["state"].get("__session_metadata__", {}).get("displayName") for s in _sessions(dev_ui.api, "user")]
    assert "hello from the adk web ui" in names


def test_a_fresh_browser_is_not_asked_for_telemetry_consent(dev_ui: DevUI) -> None:
    """``adk web`` answers the UI's ``GET /config/telemetry``; magec answered 404, so every fresh
    browser was asked to let Google Analytics run. magec answers "off", as ``adk web`` does for a
    user who declined: no question, no analytics."""
    page = dev_ui.page
    asked: list[int] = []
    page.on("response", lambda r: asked.append(r.status) if r.url.endswith("/config/telemetry") else None)
    page.goto(dev_ui.url + "?app=Helper")
    expect(page.get_by_placeholder("Type a message...")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Helper")).to_be_visible()
    expect(page.get_by_role("button", name="No Thanks")).to_have_count(0)
    assert asked and set(asked) == {200}
    # the UI's switch: turning it off is kept, turning it on is refused (the UI keeps it off)
    url = f"{dev_ui.api}/config/telemetry"
    head = {"X-ADK-Telemetry-Request": "true"}
    assert httpx.post(url, json={"telemetry": False}, headers=head, timeout=10).json() == {"telemetry": False}
    r = httpx.post(url, json={"telemetry": True}, headers=head, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "telemetry", r.text
    assert httpx.get(url, timeout=10).json() == {"telemetry": False}


def test_session_metadata_must_be_an_object(dev_ui_server: tuple[str, str]) -> None:
    """The one un-prefixed key a client may write is ADK's session name, and only as ADK writes it."""
    url = f"{dev_ui_server[1]}{U}/apps/Helper/users/meta-user/sessions"
    r = httpx.post(url, json={"state": {"__session_metadata__": "rename me"}}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "state.__session_metadata__", r.text
    r = httpx.post(url, json={"state": {"__session_metadata__": {"displayName": "x"}, "plain": 1}}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "state.plain", r.text


def test_renaming_a_session_as_the_dev_ui_does(dev_ui_server: tuple[str, str]) -> None:
    """The UI renames a session with ``PATCH stateDelta`` = the whole state it read plus the new
    name; the keys it only echoes (an agent's ``outputKey``) write nothing and are not refused,
    while changing one still is."""
    base = f"{dev_ui_server[1]}{U}/apps/Writer/users/rename-user/sessions"
    sid = httpx.post(base, json={"state": {"__session_metadata__": {"displayName": "first"}}}, timeout=10).json()["id"]
    r = httpx.post(f"{dev_ui_server[1]}{U}/run", timeout=30, json={
        "appName": "Writer", "userId": "rename-user", "sessionId": sid,
        "newMessage": {"role": "user", "parts": [{"text": "write it"}]}})
    assert r.status_code == 200, r.text
    state = httpx.get(f"{base}/{sid}", timeout=10).json()["state"]
    assert state["draft"] == "compat says: write it"
    renamed = {**state, "__session_metadata__": {**state["__session_metadata__"], "displayName": "renamed"}}
    r = httpx.patch(f"{base}/{sid}", json={"stateDelta": renamed}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["state"]["__session_metadata__"] == {"displayName": "renamed"}
    assert r.json()["state"]["draft"] == "compat says: write it"
    r = httpx.patch(f"{base}/{sid}", json={"stateDelta": {**state, "draft": "forged"}}, timeout=10)
    assert r.status_code == 400 and r.json()["field"] == "stateDelta.draft", r.text
