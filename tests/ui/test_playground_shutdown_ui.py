"""The Admin UI Playground when ``magec serve`` is stopped cleanly (SIGTERM) mid-answer: the answer
streams to its end, as it does for curl (real Chromium, a real server, a paced fake model)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import chat, nav, signed_in
from .test_playground_ui import make, pick

pytestmark = pytest.mark.ui

WORDS = [f"word{i}" for i in range(40)]


def test_a_clean_stop_mid_answer_shows_the_whole_answer(page: Page, fakes: dict[str, FakeServer],
                                                         tmp_path: Path) -> None:
    """A SIGTERM while the Playground reads an answer over the admin port: the whole answer arrives
    (idle keep-alive connections closing around it do not end it) and it is not marked interrupted."""
    alpha = fakes["alpha"]
    srv = ServerProcess(data_dir=tmp_path / "data", admin_password=ADMIN_PASSWORD).start()
    try:
        one = make(srv, alpha, "Stop")["one"]
        signed_in(page, srv)
        nav(page, "playground")
        pick(page, one)
        log = page.get_by_test_id("pg-log")
        alpha.script(Reply(chunks=[w + " " for w in WORDS], chunk_delay=0.1))
        chat(page, "count to forty")
        answer = log.locator(".msg.agent").last
        expect(answer).to_contain_text("word3", timeout=30_000)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        expect(answer).to_contain_text(" ".join(WORDS), timeout=15_000)
        expect(answer.get_by_test_id("interrupted")).to_have_count(0)
        assert srv.proc.wait(20) == 0
    finally:
        srv.stop()
