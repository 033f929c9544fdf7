"""The Voice UI end to end: Chromium (phone viewport, fake microphone playing espeak-ng speech)
against a real ``magec serve`` with a loopback OpenAI fake for chat, STT and TTS."""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.voice_ui.conftest import ADMIN, Setup, spoken_wav


def pair(page: Any, setup: Setup) -> None:
    page.goto(setup.server.user_url + "/")
    expect(page.get_by_test_id("pairing")).to_be_visible()
    page.get_by_test_id("token").fill(setup.token)
    page.get_by_test_id("pair").click()
    expect(page.get_by_test_id("agent")).to_be_visible()


def wait_for(page: Any, check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (the fake records requests off-thread).
    Waiting through the page lets Playwright deliver its events (WebSocket frames) meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / w.getframerate()


def test_pairing_text_turn_and_unpair(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    page = phone()
    page.goto(setup.server.user_url + "/")
    expect(page.get_by_test_id("pairing")).to_be_visible()
    page.screenshot(path=str(artifacts / "01-pairing.png"))
    page.get_by_test_id("token").fill("mgc_not_a_token")
    page.get_by_test_id("pair").click()
    expect(page.get_by_test_id("pair-error")).to_contain_text("not valid")
    page.get_by_test_id("token").fill(setup.token)
    page.get_by_test_id("pair").click()
    # allowed agents only, default = the first allowed one
    expect(page.get_by_test_id("agent").locator("option")).to_have_text(["Helper", "Typist", "Duo (flow)"])
    expect(page.get_by_test_id("agent")).to_have_value(setup.helper)
    setup.fake.clear()
    page.get_by_test_id("text").fill("hello there")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: hello there")
    expect(page.get_by_test_id("status")).to_contain_text("Ready")
    chat = setup.sent("chat")
    assert chat and chat[-1].json["stream"] is True  # the answer was streamed
    assert not setup.sent("tts")  # a typed turn is not spoken
    page.screenshot(path=str(artifacts / "02-text-turn.png"))
    # the token survives a reload (stored on the device)
    page.reload()
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: hello there")
    page.get_by_test_id("menu").click()
    page.get_by_test_id("unpair").click()
    expect(page.get_by_test_id("pairing")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("pairing")).to_be_visible()
    assert page.js_errors == []


def test_hands_free_wake_word_to_spoken_answer(setup: Setup, phone: Callable[..., Any], artifacts: Path,
                                               tmp_path: Path) -> None:
    wav = spoken_wav(tmp_path, "hey mycroft. what is the weather?")
    page = phone(wav, loop=False)
    events: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda p: events.append(
        json.loads(p)["type"]) if isinstance(p, str) else None))
    pair(page, setup)
    setup.script_voice("what is the weather")
    page.get_by_test_id("hands-free").click()
    expect(page.get_by_test_id("status")).to_contain_text("Hey Mycroft")
    page.screenshot(path=str(artifacts / "03-hands-free-listening.png"))
    # wake word → record → VAD end → the agent's STT
    stt = wait_for(page, lambda: setup.sent("stt"), "the transcription request")
    assert stt[0].form["model"] == "stt-helper"
    seconds = wav_seconds(stt[0].files["file"][2])
    assert 1.0 < seconds < 8.0, seconds
    expect(page.get_by_test_id("message").nth(0)).to_have_text("what is the weather")
    assert events[:1] == ["capabilities"] and "wakeword" in events, events
    assert events.index("speech_start") < events.index("wakeword") < events.index("speech_end")
    expect(page.get_by_test_id("message").nth(1)).to_contain_text("voice-llm says: what is the weather")
    # the answer is spoken with the agent's TTS, then the UI listens again
    expect(page.get_by_test_id("status")).to_have_attribute("data-played", "1")
    tts = setup.sent("tts")
    assert tts[0].json["input"] == "voice-llm says: what is the weather" and tts[0].json["model"] == "tts-helper"
    expect(page.get_by_test_id("status")).to_contain_text("Listening for the wake word")
    page.screenshot(path=str(artifacts / "04-hands-free-answered.png"))
    # the wake word can be changed (setModel; the server confirms with capabilities) and is kept
    page.get_by_test_id("menu").click()
    page.get_by_test_id("wakeword").select_option("okay_nabu")
    expect(page.get_by_test_id("status")).to_contain_text("Okay Nabu")
    assert page.evaluate("localStorage.getItem('magec.voice.wakeword')") == "okay_nabu"
    assert page.js_errors == []


def test_push_to_talk(setup: Setup, phone: Callable[..., Any], artifacts: Path, tmp_path: Path) -> None:
    page = phone(spoken_wav(tmp_path, "turn on the lights", before=0.3, after=0.3))
    pair(page, setup)
    setup.script_voice("turn on the lights")
    box = page.get_by_test_id("ptt").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    expect(page.get_by_test_id("ptt")).to_have_text("Release to send")
    expect(page.get_by_test_id("status")).to_contain_text("Listening…")
    page.screenshot(path=str(artifacts / "05-push-to-talk.png"))
    page.wait_for_timeout(2000)  # the user holds the button while speaking
    page.mouse.up()
    stt = wait_for(page, lambda: setup.sent("stt"), "the transcription request")
    assert 1.5 < wav_seconds(stt[0].files["file"][2]) < 6.0
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: turn on the lights")
    expect(page.get_by_test_id("status")).to_have_attribute("data-played", "1")
    assert page.js_errors == []


def test_flow_spokesperson_and_no_voice_notice(setup: Setup, phone: Callable[..., Any], artifacts: Path,
                                               tmp_path: Path) -> None:
    page = phone(spoken_wav(tmp_path, "plan a trip", before=0.2, after=0.2))
    pair(page, setup)
    expect(page.get_by_test_id("no-voice")).to_have_count(0)
    page.get_by_test_id("agent").select_option(setup.typist)
    expect(page.get_by_test_id("no-voice")).to_contain_text("no voice configured")
    expect(page.get_by_test_id("ptt")).to_be_disabled()
    page.screenshot(path=str(artifacts / "06-no-voice.png"))
    page.get_by_test_id("agent").select_option(setup.duo)
    # the spokesperson defaults to the flow's response agent
    expect(page.get_by_test_id("spokesperson")).to_have_value(setup.helper)
    expect(page.get_by_test_id("no-voice")).to_have_count(0)
    page.get_by_test_id("spokesperson").select_option(setup.typist)
    # the flow is not "text only": the banner names who lacks a voice and who has one
    expect(page.get_by_test_id("no-voice")).to_have_text(
        'Typist has no voice configured: pick another "Voice of" (Helper has a voice).')
    page.get_by_test_id("spokesperson").select_option(setup.helper)
    # a spoken turn on the flow goes through the spokesperson's STT and TTS
    urls: list[str] = []
    page.on("request", lambda rq: urls.append(rq.url) if "/api/v1/voice/" in rq.url else None)
    setup.script_voice("plan a trip by voice")
    page.get_by_test_id("ptt").hover()
    page.mouse.down()
    expect(page.get_by_test_id("status")).to_contain_text("Listening…")
    page.wait_for_timeout(1000)  # the user holds the button while speaking
    page.mouse.up()
    expect(page.get_by_test_id("status")).to_have_attribute("data-played", "1")
    assert [u.split("/api/v1/voice/")[1] for u in urls] == [
        f"{setup.duo}/transcription?spokesperson={setup.helper}", f"{setup.duo}/speech?spokesperson={setup.helper}"]
    assert setup.sent("stt")[0].form["model"] == "stt-helper" and setup.sent("tts")[0].json["model"] == "tts-helper"
    setup.fake.clear()
    page.get_by_test_id("text").fill("plan a trip")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says:")
    expect(page.locator(".msg.agent .author").last).to_have_text("Helper")
    page.screenshot(path=str(artifacts / "07-flow.png"))
    # the choice is kept for this flow
    page.reload()
    expect(page.get_by_test_id("spokesperson")).to_have_value(setup.helper)
    assert page.js_errors == []


def test_conversations_round_trip(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.typist)
    page.get_by_test_id("conversations-toggle").click()
    page.get_by_test_id("new-conversation").click()
    page.get_by_test_id("text").fill("first conversation")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("says: first conversation")
    page.get_by_test_id("conversations-toggle").click()
    expect(page.get_by_test_id("conversation")).to_have_count(1)
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("message")).to_have_count(0)
    page.get_by_test_id("text").fill("second conversation")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("says: second conversation")
    page.get_by_test_id("conversations-toggle").click()
    expect(page.get_by_test_id("conversation")).to_have_count(2)
    page.screenshot(path=str(artifacts / "08-conversations.png"))
    # read back: open the other one
    page.locator("[data-testid=conversation]:not(.active) .open").click()
    expect(page.get_by_test_id("message").first).to_have_text("first conversation")
    expect(page.get_by_test_id("message")).to_have_count(2)
    # delete it; the server agrees
    page.get_by_test_id("conversations-toggle").click()
    page.locator("[data-testid=conversation].active [data-testid=delete-conversation]").click()
    expect(page.get_by_test_id("conversation")).to_have_count(1)
    expect(page.get_by_test_id("message")).to_have_count(0)
    user = page.evaluate("localStorage.getItem('magec.voice.user')")
    listed = httpx.get(f"{setup.server.user_url}/api/v1/agent/apps/{setup.typist}/users/{user}/sessions",
                       headers={"Authorization": f"Bearer {setup.token}"}, timeout=60).json()
    assert len(listed) == 1
    assert page.js_errors == []


def test_pwa_manifest_service_worker_and_disabled_ui(setup: Setup, phone: Callable[..., Any]) -> None:
    page = phone()
    page.goto(setup.server.user_url + "/")
    manifest = page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["start_url"] == "./"
    assert {i["sizes"] for i in manifest["icons"]} >= {"192x192", "512x512"}
    for icon in manifest["icons"]:
        assert httpx.get(f"{setup.server.user_url}/{icon['src'].lstrip('./')}", timeout=60).status_code == 200
    # the service worker installs and controls the page after a reload
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")
    # the API is untouched by the UI's catch-all route
    assert httpx.get(f"{setup.server.user_url}/api/v1/nope", timeout=60).status_code == 404
    assert httpx.get(f"{setup.server.user_url}/docs", timeout=60).status_code == 200


def test_connection_lost_and_regained(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    page = phone()
    pair(page, setup)
    page.context.set_offline(True)
    page.get_by_test_id("text").fill("are you there?")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("offline")).to_have_text("Connection lost. Retrying…")
    expect(page.get_by_test_id("notice").first).to_be_visible()
    page.screenshot(path=str(artifacts / "09-offline.png"))
    page.context.set_offline(False)
    page.get_by_test_id("text").fill("and now?")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("offline")).to_have_count(0)
    expect(page.get_by_test_id("notice").filter(has_text="Connection regained.")).to_be_visible()
    expect(page.get_by_test_id("message").last).to_contain_text("voice-llm says: and now?")


def test_a_message_sent_while_a_new_conversation_opens_goes_to_it(setup: Setup, phone: Callable[..., Any]) -> None:
    """New conversation, then a message before the server has answered the create (a slow network):
    one new conversation holding the message, not a second one opened by the send."""
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.typist)
    page.get_by_test_id("conversations-toggle").click()
    before = page.get_by_test_id("conversation").count()
    held: list[Any] = []

    def hold_creates(route: Any) -> None:
        if route.request.method == "POST":
            held.append(route)  # answered below, after the message was sent
        else:
            route.continue_()

    page.route("**/sessions", hold_creates)
    page.get_by_test_id("new-conversation").click()
    page.get_by_test_id("text").fill("sent while opening")
    page.get_by_test_id("send").click()
    wait_for(page, lambda: held, "the conversation create")
    for route in held:
        route.continue_()
    page.unroute("**/sessions")
    expect(page.get_by_test_id("message").last).to_contain_text("says: sent while opening")
    page.get_by_test_id("conversations-toggle").click()
    expect(page.get_by_test_id("conversation")).to_have_count(before + 1)
    assert len(held) == 1, "the send opened a conversation of its own"
    assert page.js_errors == []


def test_a_disabled_client_keeps_its_devices_paired(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    """An administrator disables the device's client for a while: the device says so and keeps its
    token (shown once, at creation), so enabling the client again brings it back without pairing."""
    admin = httpx.Client(base_url=f"{setup.server.admin_url}/api/v1/admin",
                         headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    r = admin.post("/clients", json={"name": "Tablet", "allowedAgents": [setup.typist]})
    assert r.status_code == 201, r.text
    tablet = r.json()

    def enable(on: bool) -> None:
        body = {"name": "Tablet", "type": "direct", "allowedAgents": [setup.typist], "enabled": on}
        assert admin.put(f"/clients/{tablet['id']}", json=body).status_code == 200

    page = phone()
    page.goto(setup.server.user_url + "/")
    page.get_by_test_id("token").fill(tablet["token"])
    page.get_by_test_id("pair").click()
    expect(page.get_by_test_id("agent")).to_have_value(setup.typist)
    try:
        enable(False)
        page.reload()
        expect(page.get_by_test_id("pair-error")).to_contain_text("disabled on the server")
        page.screenshot(path=str(artifacts / "11-client-disabled.png"))
        assert page.evaluate("localStorage.getItem('magec.voice.token')") == tablet["token"]
        enable(True)
        page.get_by_test_id("retry").click()
        expect(page.get_by_test_id("agent")).to_have_value(setup.typist)
        page.reload()
        expect(page.get_by_test_id("agent")).to_have_value(setup.typist)
    finally:
        admin.delete(f"/clients/{tablet['id']}")
    assert page.js_errors == []


def test_conversations_are_listed_by_what_was_said(setup: Setup, phone: Callable[..., Any], artifacts: Path) -> None:
    """Picking a conversation up later: each is listed by its first message (as Magec's Voice UI
    does), not only by a time stamp that tells two conversations apart by nothing a person
    remembers. The name is ADK's session name (``__session_metadata__.displayName``), so ADK's
    web UI shows the same one; a long first message is cut."""
    page = phone()
    pair(page, setup)
    page.get_by_test_id("agent").select_option(setup.typist)
    long = "plan a week in Tenerife with two hikes, a whale watching trip and a day on the beach"
    page.get_by_test_id("text").fill(long)  # no conversation open yet: the send creates it
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("says: plan a week")
    page.get_by_test_id("conversations-toggle").click()
    page.get_by_test_id("new-conversation").click()  # created before anything is said
    page.get_by_test_id("text").fill("what is the weather tomorrow")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("says: what is the weather tomorrow")
    page.get_by_test_id("text").fill("and the day after")
    page.get_by_test_id("send").click()
    expect(page.get_by_test_id("message").last).to_contain_text("says: and the day after")
    page.get_by_test_id("conversations-toggle").click()
    items = page.get_by_test_id("conversation")
    expect(items).to_have_count(2)
    expect(items.first.locator(".open .name")).to_have_text("what is the weather tomorrow")
    expect(items.last.locator(".open .name")).to_have_text(long[:60].rstrip() + "…")
    page.screenshot(path=str(artifacts / "09-conversation-names.png"))
    items.last.locator(".open").click()
    expect(page.get_by_test_id("message").first).to_have_text(long)
    user = page.evaluate("localStorage.getItem('magec.voice.user')")
    listed = httpx.get(f"{setup.server.user_url}/api/v1/agent/apps/{setup.typist}/users/{user}/sessions",
                       headers={"Authorization": f"Bearer {setup.token}"}, timeout=60).json()
    assert sorted(c["state"]["__session_metadata__"]["displayName"] for c in listed) == sorted(
        [long[:60].rstrip() + "…", "what is the weather tomorrow"])
    assert page.js_errors == []


def test_a_device_left_open_follows_the_clients_agents(setup: Setup, phone: Callable[..., Any]) -> None:
    """An installed app is resumed, not reloaded: the agents an administrator gives the device's
    client after it paired appear when the app comes back to the foreground, and an agent taken
    away is dropped from the switcher at the refusal (it stayed listed, refusing every message,
    until the user thought of reloading)."""
    admin = httpx.Client(base_url=f"{setup.server.admin_url}/api/v1/admin",
                         headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    r = admin.post("/clients", json={"name": "Kitchen", "allowedAgents": [setup.typist]})
    assert r.status_code == 201, r.text
    kitchen = r.json()

    def allow(*agents: str) -> None:
        body = {"name": "Kitchen", "type": "direct", "allowedAgents": list(agents), "enabled": True}
        assert admin.put(f"/clients/{kitchen['id']}", json=body).status_code == 200

    try:
        page = phone()
        page.goto(setup.server.user_url + "/")
        page.get_by_test_id("token").fill(kitchen["token"])
        page.get_by_test_id("pair").click()
        options = page.get_by_test_id("agent").locator("option")
        expect(options).to_have_text(["Typist"])
        allow(setup.typist, setup.duo)
        # the app comes back to the foreground (the browser fires visibilitychange as it shows it)
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        expect(options).to_have_text(["Typist", "Duo (flow)"])
        page.get_by_test_id("agent").select_option(setup.duo)
        allow(setup.typist)
        page.get_by_test_id("text").fill("are you there?")
        page.get_by_test_id("send").click()
        expect(page.get_by_test_id("notice").first).to_contain_text("not allowed")
        expect(options).to_have_text(["Typist"])
        expect(page.get_by_test_id("agent")).to_have_value(setup.typist)
        page.get_by_test_id("text").fill("and now?")
        page.get_by_test_id("send").click()
        expect(page.get_by_test_id("message").last).to_contain_text("says: and now?")
        assert page.js_errors == [] or all("403" in e for e in page.js_errors), page.js_errors
    finally:
        admin.delete(f"/clients/{kitchen['id']}")
