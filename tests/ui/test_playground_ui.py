"""Playground in a real Chromium against a real ``magec serve`` and a loopback OpenAI fake.

What is pinned: the conversation survives leaving the page and a full reload (the session id is kept
per agent/flow in sessionStorage and the history is read back from the server, so the next turn
continues it); "Run" on a flow opens that flow; the message box has the focus; a toast never covers
the top of the chat; recording shows a running timer and a live level meter (Chromium's fake
microphone), and the transcript lands in the message box to be edited before sending, with Cancel
and Discard.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer, Reply
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import chat, nav, shot, signed_in
from .test_axe_ui import audit

pytestmark = pytest.mark.ui


def admin(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                        headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)


def make(server: ServerProcess, fake: FakeServer, prefix: str, **voice: Any) -> dict[str, Any]:
    """A backend on ``fake``, two agents and a sequential flow of both (the second one answers)."""
    api = admin(server)
    b = api.post("/backends", json={"name": f"{prefix} backend", "type": "openai", "url": fake.url + "/v1"}).json()
    llm = {"backend": b["id"], "model": "alpha-chat"}
    first = api.post("/agents", json={"name": f"{prefix} One", "llm": llm, **voice}).json()
    second = api.post("/agents", json={"name": f"{prefix} Two", "llm": llm}).json()
    flow = api.post("/flows", json={"name": f"{prefix} Pair", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": first["id"]}, {"type": "agent", "agentId": second["id"], "responseAgent": True}]}})
    assert flow.status_code == 201, flow.text
    return {"backend": b, "one": first, "two": second, "flow": flow.json()}


def pick(page: Page, app: dict[str, Any]) -> None:
    page.get_by_test_id("pg-app").select_option(value=app["id"])
    expect(page.locator("#pg-app option:checked")).to_have_text(app["name"], timeout=15_000)  # built and valid


def sent_to(fake: FakeServer, route: str) -> list[Any]:
    return [r for r in fake.requests if r.route == route]


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_conversation_survives_leaving_and_run_opens_the_flow(page: Page, server: ServerProcess,
                                                               fakes: dict[str, FakeServer], artifacts: Path) -> None:
    alpha = fakes["alpha"]
    res = make(server, alpha, "Keep")
    one, two, flow = res["one"], res["two"], res["flow"]
    signed_in(page, server)
    nav(page, "playground")
    box = page.get_by_test_id("pg-input")
    pick(page, one)
    expect(box).to_be_focused()
    chat(page, "remember the blue door")
    log = page.get_by_test_id("pg-log")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("alpha says: remember the blue door", timeout=30_000)
    expect(box).to_be_focused()  # ready for the next message
    session_id = page.locator(".pg-side code").inner_text()

    # Leave and come back: the same session and its history, read from the server.
    nav(page, "backends")
    nav(page, "playground")
    expect(page.locator("#pg-app option:checked")).to_have_text(one["name"])
    expect(log).to_contain_text("remember the blue door")
    expect(log.get_by_test_id("agent-text")).to_have_count(1)
    expect(page.locator(".pg-side code")).to_have_text(session_id)
    # A full reload keeps nothing in memory: what is shown can only come from the server's session.
    page.reload()
    expect(page.get_by_test_id("agent-text")).to_contain_text(["alpha says: remember the blue door"])
    assert admin(server).get(f"/agent/apps/{one['id']}/users/admin/sessions/{session_id}").json()["events"]

    # Per agent: another agent has its own (empty) conversation; switching back brings the first one back.
    pick(page, two)
    expect(page.get_by_test_id("agent-text")).to_have_count(0)
    expect(log).to_contain_text("Say something to")
    chat(page, "only for two")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("alpha says: only for two", timeout=30_000)
    pick(page, one)
    expect(log).to_contain_text("remember the blue door")
    expect(log).not_to_contain_text("only for two")
    # The next turn continues the restored session: the model sees the earlier exchange.
    alpha.clear()
    chat(page, "which door?")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("alpha says: which door?", timeout=30_000)
    sent = [m.get("content") for m in sent_to(alpha, "chat")[-1].json["messages"]]
    assert any("remember the blue door" in str(c) for c in sent), sent

    # A message sent while the history is still loading is kept, after the history.
    held: list[Any] = []
    page.route(re.compile(r".*/agent/apps/[^/]+/users/admin/sessions/pg-[^/]+$"),
               lambda route: held.append(route) if route.request.method == "GET" else route.continue_())
    nav(page, "overview")
    nav(page, "playground")
    expect(log).to_contain_text("Loading the conversation")
    chat(page, "sent while loading")
    expect(log).to_contain_text("sent while loading")
    assert held, "the history read was not held"
    for route in held:
        route.continue_()
    page.unroute(re.compile(r".*/agent/apps/[^/]+/users/admin/sessions/pg-[^/]+$"))
    expect(page.get_by_test_id("agent-text").last).to_contain_text("alpha says: sent while loading", timeout=30_000)
    expect(log).to_contain_text("remember the blue door")
    bubbles = log.locator(".msg.user .bubble").all_inner_texts()
    assert bubbles[0] == "remember the blue door" and bubbles[-1] == "sent while loading", bubbles

    # A draft typed but not sent is also kept per app.
    box.fill("half a thought")
    nav(page, "overview")
    nav(page, "playground")
    expect(page.get_by_test_id("pg-input")).to_have_value("half a thought")
    page.get_by_test_id("pg-input").fill("")

    # "Run" on a flow opens that flow (not the last agent), focused, with author labels.
    nav(page, "flows")
    page.get_by_test_id(f"flow-{flow['name']}").get_by_role("button", name="Run").click()
    expect(page.locator(".nav-item.active")).to_have_attribute("data-nav", "playground")
    expect(page.get_by_test_id("pg-app")).to_have_value(flow["id"])
    expect(page.locator("#pg-app option:checked")).to_have_text(flow["name"], timeout=15_000)
    expect(page.get_by_test_id("pg-input")).to_be_focused()
    chat(page, "flow question")
    expect(log.locator(".msg.agent")).to_have_count(2, timeout=30_000)
    expect(log.locator(".msg.agent").last.locator(".author")).to_contain_text(two["name"])
    # Back from another page, the flow's conversation keeps its authors.
    nav(page, "agents")
    nav(page, "playground")
    expect(page.get_by_test_id("pg-app")).to_have_value(flow["id"])
    expect(log.locator(".msg.agent")).to_have_count(2, timeout=45_000)  # a turn on a loaded CI machine
    expect(log.locator(".msg.agent").first.locator(".author")).to_contain_text(one["name"])
    expect(log.locator(".msg.agent").last.locator(".author")).to_contain_text("response")

    # Leaving while a turn still answers is not "Stop": it goes on, and is shown live on return.
    alpha.script(Reply(text="first step done"), Reply(text="the slow final answer", delay=4), route="chat")
    chat(page, "a slow question")
    expect(log).to_contain_text("first step done", timeout=30_000)
    nav(page, "agents")
    nav(page, "playground")
    expect(page.get_by_test_id("pg-app")).to_have_value(flow["id"])
    expect(log).to_contain_text("a slow question")
    expect(log.locator(".msg.agent").last).to_contain_text("the slow final answer", timeout=45_000)
    expect(log.locator(".msg.agent")).to_have_count(4)
    expect(page.get_by_role("button", name="Send")).to_be_visible()  # the page is not left busy
    assert "the slow final answer" in str(admin(server).get(
        f"/agent/apps/{flow['id']}/users/admin/sessions/{page.locator('.pg-side code').inner_text()}").json()["events"])

    # A toast (here: the reset's) never covers the top of the chat.
    page.get_by_test_id("pg-reset").click()
    toast = page.locator(".toast", has_text="Session reset")
    expect(toast).to_be_visible()
    chat_box = page.locator(".pg-chat").bounding_box()
    tb = toast.bounding_box()
    assert chat_box and tb
    top = {**chat_box, "height": min(160.0, chat_box["height"])}
    assert not overlaps(tb, top), (tb, chat_box)
    shot(page, artifacts, "playground-toast", full=False)
    # ... nor on a phone, where the picker sits above the chat (here: the top bar's "Refreshed").
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name="Refresh").click()
    toast = page.locator(".toast", has_text="Refreshed")
    expect(toast).to_be_visible()
    chat_box, tb = page.locator(".pg-chat").bounding_box(), toast.bounding_box()
    assert chat_box and tb
    assert not overlaps(tb, {**chat_box, "height": min(160.0, chat_box["height"])}), (tb, chat_box)
    shot(page, artifacts, "playground-toast-phone", full=False)
    page.set_viewport_size({"width": 1280, "height": 860})
    expect(page.get_by_test_id("agent-text")).to_have_count(0)
    # After a reset, leaving and coming back shows the new, empty session.
    nav(page, "overview")
    nav(page, "playground")
    expect(page.get_by_test_id("pg-app")).to_have_value(flow["id"])
    expect(log).to_contain_text("Say something to")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_recording_timer_meter_and_editable_transcript(voice_page: Page, server: ServerProcess,
                                                       fakes: dict[str, FakeServer], artifacts: Path) -> None:
    page = voice_page
    alpha = fakes["alpha"]
    res = make(server, alpha, "Rec")
    b = res["backend"]
    talker = admin(server).put(f"/agents/{res['one']['id']}", json={
        **res["one"], "transcription": {"backend": b["id"], "model": "whisper-1"},
        "tts": {"backend": b["id"], "model": "tts-1", "voice": "nova"}}).json()
    signed_in(page, server)
    nav(page, "playground")
    pick(page, talker)
    expect(page.get_by_text("Speech-to-text ready")).to_be_visible()

    # Recording: a running timer and a level meter that moves with the (fake) microphone's beep.
    alpha.clear()
    alpha.script(Reply(text="turn on the lights"), route="stt")
    page.get_by_role("button", name="Record").click()
    rec = page.get_by_test_id("pg-rec")
    expect(rec).to_be_visible()
    timer = page.get_by_test_id("pg-rec-timer")
    expect(timer).to_have_text("0:00")
    expect(timer).to_have_text("0:01", timeout=10_000)
    meter = page.get_by_test_id("pg-rec-level")
    # The level falls back to 0 between beeps: one sample of the bar, taken after the level was
    # seen, could land in a gap. The meter must move at least once: a level announced and its bar
    # drawn at the same moment.
    page.wait_for_function("""m => Number(m.getAttribute('aria-valuenow')) > 0
        && m.querySelector('span').getBoundingClientRect().width > 0""", arg=meter.element_handle(), timeout=10_000)
    shot(page, artifacts, "playground-recording", full=False)
    violations = audit(page, "recording")  # axe-core: no serious/critical issue in the recording bar

    # Stop: the transcript is in the message box, not sent; the user edits it and sends it.
    page.get_by_role("button", name="Stop recording").click()
    box = page.get_by_test_id("pg-input")
    expect(box).to_have_value("turn on the lights", timeout=30_000)
    expect(box).to_be_focused()
    expect(page.get_by_test_id("pg-transcript")).to_be_visible()
    stt = sent_to(alpha, "stt")
    assert len(stt) == 1 and stt[0].form.get("model") == "whisper-1" and stt[0].files
    assert sent_to(alpha, "chat") == []  # no auto-send
    expect(page.get_by_test_id("agent-text")).to_have_count(0)
    shot(page, artifacts, "playground-transcript", full=False)
    violations += audit(page, "transcript")
    assert not violations, "\n".join(violations)
    box.fill("turn on the kitchen lights")
    box.press("Enter")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("alpha says: turn on the kitchen lights", timeout=30_000)
    expect(page.get_by_test_id("pg-transcript")).to_have_count(0)

    # Cancel while recording: nothing is uploaded, nothing typed.
    alpha.clear()
    box.fill("typed first")
    page.get_by_role("button", name="Record").click()
    expect(timer).to_be_visible()
    page.get_by_test_id("pg-rec-cancel").click()
    expect(rec).to_have_count(0)
    expect(box).to_have_value("typed first")
    expect(page.get_by_role("button", name="Record")).to_be_enabled()
    # Escape cancels too (the focus is on the stop button).
    page.get_by_role("button", name="Record").click()
    expect(timer).to_be_visible()
    page.keyboard.press("Escape")
    expect(rec).to_have_count(0)
    expect(box).to_have_value("typed first")
    assert sent_to(alpha, "stt") == []

    # A transcript is appended to what was typed; Discard restores the typed text.
    alpha.script(Reply(text="and the radio"), route="stt")
    page.get_by_role("button", name="Record").click()
    expect(timer).to_have_text("0:01", timeout=10_000)
    # On a phone the recording bar fits: timer, meter, stop and cancel all on screen.
    page.set_viewport_size({"width": 390, "height": 844})
    for part in (page.get_by_role("button", name="Stop recording"), timer, meter, page.get_by_test_id("pg-rec-cancel"),
                 page.get_by_role("button", name="Send")):
        expect(part).to_be_in_viewport(ratio=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sticks out sideways
    shot(page, artifacts, "playground-recording-phone", full=False)
    page.get_by_role("button", name="Stop recording").click()
    expect(box).to_have_value("typed first and the radio", timeout=30_000)
    page.get_by_test_id("pg-transcript").get_by_role("button", name="Discard").click()
    expect(box).to_have_value("typed first")
    assert sent_to(alpha, "chat") == []
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_agent_markdown_never_injects_attributes(page: Page, server: ServerProcess,
                                                 fakes: dict[str, FakeServer]) -> None:
    # alpha answers "alpha says: <the message>", so a message is the agent's markdown
    res = make(server, fakes["alpha"], "Marks")
    signed_in(page, server)
    nav(page, "playground")
    pick(page, res["one"])
    # a bare URL inside a link's URL: its pattern once matched across the generated href's closing
    # quote and turned the rest into a style attribute (a page-covering invisible overlay)
    target = ("https://evil.example/(https://x/style=position:fixed;top:0;left:0;width:100vw;height:100vh;"
              "opacity:0;z-index:9999/")
    chat(page, f"[x]({target})")
    answer = page.get_by_test_id("agent-text").last
    expect(answer).to_contain_text("alpha says:", timeout=30_000)
    expect(answer.locator("a")).to_have_count(1)
    assert answer.locator("a").get_attribute("href") == target
    assert answer.locator("a").evaluate("a => a.getAttributeNames().sort()") == ["href", "rel", "target"]
    assert page.locator("[data-testid=pg-log] [style]").count() == 0

    # the rest of the subset, and what never becomes a link
    chat(page, "**bold** *it* `code [l](https://c.example/)` see https://a.example/x?y=1&z=2 and "
               "[**m**](mailto:a@b.example) [j](javascript:alert(1)) [q](https://b.example/\"onmouseover=alert(1))")
    answer = page.get_by_test_id("agent-text").last
    expect(answer).to_contain_text("see", timeout=30_000)
    assert answer.locator("strong").all_inner_texts() == ["bold", "m"]
    assert answer.locator("em").all_inner_texts() == ["it"]
    assert answer.locator("code").inner_text() == "code [l](https://c.example/)"
    links = answer.locator("a").evaluate_all("as => as.map(a => [a.getAttribute('href'), a.textContent])")
    assert links == [["https://a.example/x?y=1&z=2", "https://a.example/x?y=1&z=2"], ["mailto:a@b.example", "m"],
                     ['https://b.example/"onmouseover=alert(1', "q"]]
    assert answer.locator("[onmouseover], [style]").count() == 0
    expect(answer).to_contain_text("[j](javascript:alert(1))")


def test_agent_markdown_of_many_brackets_renders_at_once(page: Page, server: ServerProcess,
                                                         fakes: dict[str, FakeServer]) -> None:
    """An agent can be made to echo anything (a client steers it). With ``[`` allowed in a link's
    label, every ``[`` of a line of them began a scan to the line's end: 120 KB of ``[a`` froze the
    tab for about a minute (the playground here; the Conversations page renders the same)."""
    res = make(server, fakes["alpha"], "Brackets")
    signed_in(page, server)
    nav(page, "playground")
    pick(page, res["one"])
    chat(page, "[a" * 60_000 + " x\n[end](https://e.example/)")  # no ']' on the brackets' line
    answer = page.get_by_test_id("agent-text").last
    expect(answer.locator("a")).to_have_attribute("href", "https://e.example/", timeout=20_000)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_a_stopped_answer_is_marked_interrupted_live_and_in_the_history(page: Page, server: ServerProcess,
                                                                         fakes: dict[str, FakeServer]) -> None:
    """Stop (or a client hanging up) mid-answer: the server keeps the words said so far as ADK's
    ``interrupted`` event, and the agent remembers just those. The playground showed them as an
    ordinary, whole answer, live and when the history was read back: it marks them "interrupted"."""
    alpha = fakes["alpha"]
    one = make(server, alpha, "Cut")["one"]
    signed_in(page, server)
    nav(page, "playground")
    pick(page, one)
    log = page.get_by_test_id("pg-log")
    chat(page, "a whole answer")
    expect(log.get_by_test_id("agent-text").last).to_contain_text("alpha says: a whole answer", timeout=30_000)
    alpha.script(Reply(chunks=["Once ", "upon ", "a ", "time "] + [f"w{i} " for i in range(60)], chunk_delay=0.5))
    chat(page, "tell me a long story")
    expect(log.get_by_test_id("agent-text").last).to_contain_text("Once upon a time", timeout=30_000)
    page.get_by_role("button", name="Stop").click()
    answers = log.locator(".msg.agent")
    expect(answers.last.get_by_test_id("interrupted")).to_be_visible()
    expect(answers.first.get_by_test_id("interrupted")).to_have_count(0)  # a whole answer is not marked

    # The history read back from the server (a reload keeps nothing in memory) shows the mark too,
    # once the server has kept the cut answer (it learns of the hang-up after the browser left).
    session_id = page.locator(".pg-side code").inner_text()
    url = f"/agent/apps/{one['id']}/users/admin/sessions/{session_id}"
    with admin(server) as api:
        deadline = time.monotonic() + 20
        while not any(ev.get("interrupted") for ev in api.get(url).json()["events"]):
            assert time.monotonic() < deadline, "the interrupted answer was not kept"
            time.sleep(0.1)
    page.reload()
    expect(log.locator(".msg.agent")).to_have_count(2)
    expect(log.locator(".msg.agent").last).to_contain_text("Once upon a time")
    expect(log.locator(".msg.agent").last.get_by_test_id("interrupted")).to_be_visible()
    expect(log.locator(".msg.agent").first.get_by_test_id("interrupted")).to_have_count(0)
