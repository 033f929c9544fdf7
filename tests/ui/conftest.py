"""UI test fixtures: a real ``magec serve`` subprocess, two loopback fake providers and Debian Chromium.

Screenshots go to ``test-artifacts/ui/`` at the repository root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = os.environ.get("MAGEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_PASSWORD = "ui-test-password"

# The machine may be busy (2 cores shared with other suites): be patient before failing an expectation.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    alpha = FakeServer(OpenAIFake("alpha", models=["alpha-chat", "alpha-embed"], embedding_dim=16))
    beta = FakeServer(OpenAIFake("beta", models=["beta-chat"]))
    yield {"alpha": alpha, "beta": beta}
    alpha.stop()
    beta.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("ui-server")
    srv = ServerProcess(data_dir=data, admin_password=ADMIN_PASSWORD,
                        database_url=f"sqlite+aiosqlite:///{data / 'magec.db'}").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pw() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(pw: object) -> Iterator[object]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)  # type: ignore[attr-defined]
    yield b
    b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    yield _track_errors(ctx.new_page())
    ctx.close()


@pytest.fixture
def voice_page(pw: object) -> Iterator[object]:
    """A page whose microphone is Chromium's fake capture device (a beep), permission granted."""
    b = pw.chromium.launch(executable_path=CHROMIUM,  # type: ignore[attr-defined]
                           args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    ctx = b.new_context(viewport={"width": 1280, "height": 860}, permissions=["microphone"])
    yield _track_errors(ctx.new_page())
    ctx.close()
    b.close()


def _track_errors(pg: object) -> object:
    """Collect uncaught page errors and console errors in ``pg.js_errors``."""
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))  # type: ignore[attr-defined]
    # HTTP errors are expected in some steps (401 before login, 409 on delete); anything else is a bug.
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)  # type: ignore[attr-defined]
    pg.js_errors = errors  # type: ignore[attr-defined]
    return pg


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    """The Admin API of ``server``, signed in: to set up what a test then drives in the browser."""
    with httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                      headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30) as c:
        yield c
