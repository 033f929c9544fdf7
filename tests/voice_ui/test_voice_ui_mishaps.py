"""The Voice UI on a phone when things go wrong: a tap instead of a hold, a microphone refused or
missing, the server stopping in the middle of an answer and coming back (real Chromium, touch, a
real ``magec serve`` restarted on its own data).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from magec.testing.fake_providers import Reply
from magec.testing.server import ServerProcess
from tests.voice_ui.conftest import ADMIN, Setup
from tests.voice_ui.test_voice_ui import pair, wait_for

CUT_OFF = "The connection was lost before the answer was complete."


def touch(page: Any, testid: str, kind: str) -> None:
    """A finger on (``touchStart``) or off (``touchEnd``) the middle of an element, as a phone sends it."""
    box = page.get_by_test_id(testid).bounding_box()
    points = [{"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}] if kind == "touchStart" else []
    if not hasattr(page, "cdp"):  # one session: a touch's end must come where its start came
        page.cdp = page.context.new_cdp_session(page)
    page.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def test_a_tap_on_push_to_talk_records_nothing(setup: Setup, phone: Callable[..., Any]) -> None:
    """The first press starts the microphone, which takes a moment (the permission prompt, the audio
    graph). A tap released meanwhile left a recording running with nobody holding the button —
    "Listening… / Release to send" for 20 s, then whatever the room said went to the agent."""
    page = phone()
    pair(page, setup)
    held: list[Any] = []
    # the microphone's audio graph is still loading when the finger comes off
    page.context.route("**/js/capture.worklet.js", lambda route: held.append(route))
    touch(page, "ptt", "touchStart")
    expect(page.get_by_test_id("ptt")).to_have_text("Release to send")  # the press is seen at once
    touch(page, "ptt", "touchEnd")
    expect(page.get_by_test_id("ptt")).to_have_text("Hold to talk")
    wait_for(page, lambda: held, "the microphone's audio graph being asked for")
    held[0].continue_()
    expect(page.get_by_test_id("notice").filter(has_text="Hold the button while you speak")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Ready")
    expect(page.get_by_test_id("ptt")).to_have_text("Hold to talk")
    assert setup.sent("stt") == []
    assert page.js_errors == []


def test_a_refused_or_missing_microphone_is_explained(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    """The browser's words ("Requested device not found") or a bare "permission was denied" left the
    person without a next step."""
    page = phone(microphone="denied")
    pair(page, setup)
    touch(page, "ptt", "touchStart")
    notice = page.get_by_test_id("notice").filter(has_text="microphone is blocked")
    expect(notice).to_contain_text("Allow it in the browser's site settings")
    expect(notice).to_contain_text("Typing works meanwhile")
    touch(page, "ptt", "touchEnd")
    expect(page.get_by_test_id("ptt")).to_have_text("Hold to talk")
    expect(page.get_by_test_id("status")).to_have_text("Ready")
    page.screenshot(path=str(artifacts / "12-microphone-blocked.png"))

    page = phone(microphone="none")
    pair(page, setup)
    page.get_by_test_id("hands-free").click()
    expect(page.get_by_test_id("notice")).to_have_text("No microphone was found on this device. Connect one, or type instead.")
    expect(page.get_by_test_id("hands-free")).to_have_text("Hands-free")


def test_the_server_stopping_mid_answer_and_coming_back(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    """A crash mid-answer said "network error" and left the half answer looking finished; the
    "Connection lost. Retrying…" banner then stayed after the server was back, until the person
    happened to send something (nothing retried)."""
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.typist)
    setup.fake.clear()
    setup.fake.script(Reply(chunks=[f"word{i} " for i in range(200)], chunk_delay=0.1), route="chat")
    page.get_by_test_id("text").fill("tell me a long story")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("word3")
    setup.server.kill()  # a crash: no clean end of the stream
    answer = page.get_by_test_id("message").last
    expect(answer.get_by_test_id("cut")).to_have_text("Cut off: this answer is incomplete.")
    expect(page.get_by_test_id("notice").filter(has_text=CUT_OFF)).to_be_visible()
    expect(page.get_by_test_id("offline")).to_have_text("Connection lost. Retrying…")
    page.screenshot(path=str(artifacts / "13-server-gone-mid-answer.png"))

    setup.server.start()  # same ports, same data
    # nobody touches the phone: the app finds the server again by itself (its probe backs off to 15 s)
    expect(page.get_by_test_id("offline")).to_have_count(0, timeout=30_000)
    expect(page.get_by_test_id("notice").filter(has_text="Connection regained.")).to_be_visible()
    page.get_by_test_id("text").fill("are you back?")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: are you back?")
    # the conversation goes on after a reload: what the server kept of it is read back
    page.reload()
    expect(page.get_by_test_id("message").first).to_have_text("tell me a long story")
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: are you back?")


def test_no_agent_to_talk_to_says_who_can_change_that(setup: Setup, phone: Callable[..., Any], tmp_path: Path) -> None:
    """"No agents are available to this device." was a dead end (who gives it one, where?), and the
    message box took text that went nowhere."""
    api = httpx.Client(base_url=f"{setup.server.admin_url}/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    client = api.post("/clients", json={"name": "Hall tablet", "allowedAgents": []}).json()
    page = phone()
    page.goto(setup.server.user_url + "/")
    page.get_by_test_id("token").fill(client["token"])
    page.get_by_test_id("pair").click()
    expect(page.get_by_test_id("no-agents")).to_contain_text(
        "This device's client may use no agent yet. An administrator picks its agents in the Admin UI")
    expect(page.get_by_test_id("text")).to_be_disabled()
    expect(page.get_by_test_id("send")).to_be_disabled()
    r = api.put(f"/clients/{client['id']}", json={"name": "Hall tablet", "allowedAgents": [setup.typist]})
    assert r.status_code == 200, r.text
    page.reload()
    expect(page.get_by_test_id("agent")).to_have_value(setup.typist)
    expect(page.get_by_test_id("no-agents")).to_have_count(0)
    expect(page.get_by_test_id("text")).to_be_enabled()

    # a fresh install (no client, so open to this machine) with no agent at all
    with ServerProcess(data_dir=tmp_path / "fresh") as fresh:
        page = phone()
        page.goto(fresh.user_url + "/")
        expect(page.get_by_test_id("no-agents")).to_contain_text("There are no agents yet. Create one in the Admin UI")
        expect(page.get_by_test_id("text")).to_be_disabled()
    assert page.js_errors == []


def test_a_stopped_answer_is_still_shown_cut_off_after_a_reload(setup: Setup, phone: Callable[..., Any]) -> None:
    """Stop (or a hang-up) keeps the words read so far in the conversation as an interrupted answer;
    read back after a reload it looked like a finished one."""
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.typist)
    page.get_by_test_id("conversations-toggle").click()
    page.get_by_test_id("new-conversation").click()
    setup.fake.clear()
    setup.fake.script(Reply(chunks=[f"step{i} " for i in range(200)], chunk_delay=0.1), route="chat")
    page.get_by_test_id("text").fill("count slowly")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("step3")
    page.get_by_test_id("stop").click()
    expect(page.get_by_test_id("message").last.get_by_test_id("cut")).to_be_visible()
    # the server keeps what was said once it has seen the hang-up (read as this device would)
    user = page.evaluate("localStorage.getItem('magec.voice.user')")
    sessions = f"{setup.server.user_url}/api/v1/agent/apps/{setup.typist}/users/{user}/sessions"
    auth = {"Authorization": f"Bearer {setup.token}"}

    def kept() -> bool:
        for listed in httpx.get(sessions, headers=auth, timeout=60).json():
            events = httpx.get(f"{sessions}/{listed['id']}", headers=auth, timeout=60).json()["events"]
            if any(e.get("interrupted") for e in events):
                return True
        return False

    wait_for(page, kept, "the interrupted answer in the session")
    page.reload()
    answer = page.get_by_test_id("message").last
    expect(answer).to_contain_text("step0 step1 step2 step3")
    expect(answer.get_by_test_id("cut")).to_have_text("Cut off: this answer is incomplete.")
    assert page.js_errors == []
