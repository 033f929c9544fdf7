"""The Voice UI when ``magec serve`` is stopped cleanly (SIGTERM) in the middle of an answer: the
answer streams to its end in the browser, as it does for curl (real Chromium, a real server, a
paced fake model)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from magec.testing.fake_providers import Reply
from tests.voice_ui.conftest import Setup
from tests.voice_ui.test_voice_ui import pair

WORDS = [f"word{i}" for i in range(40)]


@pytest.mark.parametrize("hands_free", [False, True])
def test_a_clean_stop_mid_answer_lets_the_browser_read_it_whole(setup: Setup, phone: Callable[..., Any],
                                                               hands_free: bool) -> None:
    """curl gets all 40 words of an answer streaming at a SIGTERM (the server drains it like any
    in-flight request); a browser must too — on its pooled keep-alive connection, with idle ones
    closed by the stopping server around it and, hands-free, the voice channel's WebSocket closed
    (1012) in the middle — and the answer is not marked cut off. Reported as ending after about
    one more word; not reproduced on this code, pinned here (a 1 s graceful timeout fails it)."""
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.helper)
    if hands_free:
        page.get_by_test_id("hands-free").click()
        expect(page.get_by_test_id("status")).to_contain_text("Hey Mycroft")
    setup.fake.clear()
    setup.fake.script(Reply(chunks=[w + " " for w in WORDS], chunk_delay=0.1), route="chat")  # ~4 s
    page.get_by_test_id("text").fill("count to forty")
    page.get_by_test_id("send").click()
    answer = page.get_by_test_id("message").last
    expect(answer).to_contain_text("word3")
    assert setup.server.proc is not None
    setup.server.proc.send_signal(signal.SIGTERM)  # a clean stop, the answer in flight
    try:
        expect(answer).to_contain_text(" ".join(WORDS), timeout=15_000)
        expect(answer.get_by_test_id("cut")).to_have_count(0)
        assert setup.server.proc.wait(20) == 0
    finally:
        setup.server.stop()
        setup.server.start()  # the module's other tests go on with it
