"""End-to-end Admin UI journeys in a real Chromium against a real ``magec serve`` and fake providers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.ui

PAGES = ["overview", "playground", "backends", "agents", "flows", "memory", "mcps", "commands", "clients", "secrets", "settings"]


def shot(page: Page, artifacts: Path, name: str, full: bool = True) -> None:
    page.wait_for_timeout(150)  # let transitions settle
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=full)


def login(page: Page, server: ServerProcess, artifacts: Path | None = None) -> None:
    """Sign in through the login screen (each failed attempt counts against the server's rate limit)."""
    page.goto(server.admin_url + "/")
    pw = page.get_by_label("Admin password")
    expect(pw).to_be_visible()
    if artifacts:
        shot(page, artifacts, "login")
        pw.fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong password")
    pw.fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("nav")).to_be_visible()


def signed_in(page: Page, server: ServerProcess) -> None:
    """Open the UI with the password already in this tab's sessionStorage (no failed auth attempts)."""
    page.add_init_script(f"sessionStorage.setItem('magec.adminPassword', {ADMIN_PASSWORD!r})")
    page.goto(server.admin_url + "/")
    expect(page.locator("nav")).to_be_visible()


def nav(page: Page, name: str) -> None:
    page.locator(f'[data-nav="{name}"]').click()
    expect(page.locator(".nav-item.active")).to_have_attribute("data-nav", name)


def create_backend(page: Page, name: str, url: str, artifacts: Path | None = None) -> None:
    nav(page, "backends")
    page.get_by_role("button", name="New backend").first.click()
    dlg = page.get_by_test_id("backend-dialog")
    expect(dlg).to_be_visible()
    dlg.get_by_label("Name").fill(name)
    expect(dlg.get_by_text("OpenAI-compatible")).to_be_visible()
    dlg.get_by_label("URL").fill(url)
    dlg.get_by_test_id("test-connection").click()
    results = dlg.get_by_test_id("test-results")
    expect(results).to_contain_text("Connection OK", timeout=20_000)
    expect(results).to_contain_text(f"{name.lower()}-chat")
    expect(results.locator("[data-role]").first).to_contain_text("ms")
    if artifacts:
        # Full probe: empty model fields are "auto" (the server picks from the listed models);
        # chat, tools and embeddings run with the models it picked.
        dlg.get_by_test_id("full-probe").check()
        expect(dlg.get_by_label("Chat model", exact=True)).to_have_attribute("placeholder", "auto")
        dlg.get_by_test_id("test-connection").click()
        expect(results.locator('[data-role="llm"] .dot.healthy')).to_have_count(1, timeout=20_000)
        expect(results.locator('[data-role="llm"]')).to_contain_text(f"{name.lower()}-chat")
        expect(results.locator('[data-role="embeddings"]')).to_contain_text(f"{name.lower()}-embed")
        expect(results.locator('[data-role="tools"] .dot.healthy')).to_have_count(1)
        expect(results.locator('[data-role="embeddings"] .dot.healthy')).to_have_count(1)
        expect(results).to_contain_text("Embedding dimension")
        shot(page, artifacts, "backend-dialog-tested", full=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id(f"backend-{name}")).to_be_visible()


def chat(page: Page, text: str) -> None:
    # A previous answer may still be streaming ("Stop" replaces "Send" until it ends).
    expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=30_000)
    box = page.get_by_test_id("pg-input")
    box.fill(text)
    box.press("Enter")


def test_backend_agent_playground_journey(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                          artifacts: Path) -> None:
    alpha, beta = fakes["alpha"], fakes["beta"]
    login(page, server, artifacts)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.get_by_role("link", name=re.compile("Add a backend")).click()  # getting-started checklist
    expect(page.get_by_test_id("backend-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("backend-dialog")).to_be_hidden()

    # Empty state first, then two backends created and tested through the dialog.
    nav(page, "backends")
    expect(page.get_by_text("No backends yet")).to_be_visible()
    shot(page, artifacts, "backends-empty")
    create_backend(page, "Alpha", alpha.url + "/v1", artifacts)
    create_backend(page, "Beta", beta.url + "/v1")
    assert any(r.route == "models" for r in alpha.requests)

    # An agent on Alpha; the model field offers Alpha's model list.
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.get_by_label("Name").first.fill("Helper")
    dlg.locator("#a-llm-backend").select_option(label="Alpha (openai)")
    model = dlg.locator("#a-llm-model")
    expect(dlg.locator("datalist option[value='alpha-chat']")).to_have_count(1, timeout=10_000)
    model.fill("alpha-chat")
    shot(page, artifacts, "agent-dialog", full=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.get_by_test_id("agent-Helper")
    expect(card).to_contain_text("Alpha")
    expect(card).to_contain_text("ready")

    # Backends now show who uses them, with the role.
    nav(page, "backends")
    expect(page.get_by_test_id("backend-Alpha")).to_contain_text("Helper · LLM")
    shot(page, artifacts, "backends")
    page.get_by_test_id("backend-Alpha").get_by_role("link", name="Helper · LLM").click()
    expect(page.get_by_test_id("agent-dialog")).to_be_visible()
    expect(page.get_by_test_id("agent-dialog").get_by_label("Name").first).to_have_value("Helper")
    page.keyboard.press("Escape")

    # Playground: the answer streams in from Alpha.
    nav(page, "playground")
    page.get_by_test_id("pg-app").select_option(label="Helper")
    chat(page, "hello there")
    answer = page.get_by_test_id("agent-text").last
    expect(answer).to_contain_text("alpha says: hello there", timeout=30_000)
    chats = [r for r in alpha.requests if r.route == "chat"]
    assert chats and chats[-1].json.get("stream") is True
    shot(page, artifacts, "playground")

    # Switch Helper to Beta; the very next answer comes from Beta, no restart.
    pid = server.proc.pid if server.proc else None
    nav(page, "agents")
    page.get_by_test_id("agent-Helper").click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.locator("#a-llm-backend").select_option(label="Beta (openai)")
    dlg.locator("#a-llm-model").fill("beta-chat")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id("agent-Helper")).to_contain_text("Beta")
    nav(page, "playground")
    page.get_by_test_id("pg-app").select_option(label="Helper")
    chat(page, "second question")
    expect(page.get_by_test_id("agent-text").last).to_contain_text("beta says: second question", timeout=30_000)
    assert any(r.route == "chat" for r in beta.requests)
    assert server.proc is not None and server.proc.pid == pid and server.proc.poll() is None
    page.get_by_test_id("pg-reset").click()
    expect(page.get_by_test_id("pg-log")).to_contain_text("Say something to Helper")
    expect(page.get_by_test_id("agent-text")).to_have_count(0)

    # Deleting the backend Helper uses: ONE dialog says who uses it, in user words; deleting scrubs it.
    nav(page, "backends")
    page.get_by_test_id("backend-Beta").get_by_role("button", name="Delete").click()
    confirm = page.get_by_test_id("confirm-delete")
    refs = confirm.get_by_test_id("reference-list")
    expect(refs).to_contain_text("Agent Helper uses it for chat")
    expect(confirm).not_to_contain_text("llm.backend")
    shot(page, artifacts, "backend-delete-references", full=False)
    confirm.get_by_role("button", name="Remove from it and delete").click()
    expect(page.get_by_test_id("backend-Beta")).to_have_count(0)
    nav(page, "agents")
    expect(page.get_by_test_id("agent-Helper")).to_contain_text("invalid")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def ensure_helper(server: ServerProcess, fakes: dict[str, FakeServer]) -> None:
    """Make the second test independent of the first one (e.g. under pytest-xdist)."""
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    b = api.post("/backends", json={"name": "Gamma", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    agent = {"name": "Helper", "llm": {"backend": b["id"], "model": "alpha-chat"}}
    existing = [a for a in api.get("/agents").json() if a["name"] == "Helper"]
    if existing:  # the first test leaves Helper without a backend
        api.put(f"/agents/{existing[0]['id']}", json={**existing[0], **agent}).raise_for_status()
    else:
        api.post("/agents", json=agent).raise_for_status()
    api.post("/agents", json={"name": "Critic", "llm": {"backend": b["id"], "model": "alpha-chat"}}).raise_for_status()


def test_flows_secrets_clients_and_shortcuts(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                             artifacts: Path) -> None:
    ensure_helper(server, fakes)
    signed_in(page, server)
    # Keyboard: "n" opens the new-item dialog on the current page; Ctrl+K opens search.
    nav(page, "secrets")
    page.locator("body").click()
    page.keyboard.press("n")
    dlg = page.get_by_test_id("secret-dialog")
    expect(dlg).to_be_visible()
    dlg.get_by_label("Name").fill("OpenAI API key")
    expect(dlg.get_by_label("Key")).to_have_value("OPENAI_API_KEY")
    dlg.get_by_label("Value").fill("sk-very-secret")
    dlg.get_by_role("button", name="Create").click()
    row = page.get_by_test_id("secret-OPENAI_API_KEY")
    expect(row).to_contain_text("${OPENAI_API_KEY}")
    expect(page.locator("body")).not_to_contain_text("sk-very-secret")

    page.keyboard.press("Control+k")
    palette = page.get_by_test_id("search-palette")
    expect(palette).to_be_visible()
    page.keyboard.type("helper")
    expect(palette.locator("li.sel")).to_contain_text("Helper")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("agent-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("agent-dialog")).to_be_hidden()

    # Flow editor: nested steps, response agent, loop settings; server errors point at the step.
    nav(page, "flows")
    page.get_by_role("button", name="New flow").first.click()
    dlg = page.get_by_test_id("flow-dialog")
    dlg.get_by_label("Name").first.fill("Review")
    tree = dlg.locator(".flow-tree > .fstep")
    tree.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Parallel").click()
    par = tree.locator(":scope > .fstep-children > .fstep").first
    par.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    tree.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    # A loop with an early-exit CEL expression, then moved above the last agent.
    tree.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Loop").click()
    loop = tree.locator(":scope > .fstep-children > .fs-loop")
    loop.get_by_role("spinbutton", name="Max iterations").fill("2")
    loop.get_by_role("combobox", name="Exit mode").select_option("expression")
    loop.get_by_label("CEL expression").fill("state.approved == true")
    loop.locator(":scope > .fstep-children > .add-row").get_by_role("button", name="Agent").click()
    loop.locator(":scope > .fstep-head").get_by_role("button", name="Move up").click()
    dlg.get_by_role("button", name="Create").click()
    expect(dlg.get_by_test_id("flow-error")).to_have_text("Step 1.1: agent is required")  # words, not root.steps[0]…
    expect(dlg.locator(".fstep.error")).to_have_count(1)
    sels = dlg.locator("select[aria-label=Agent]").all()
    for sel, name in zip(sels, ["Helper", "Helper", "Critic"], strict=True):
        sel.select_option(value=sel.locator("option", has_text=name).first.get_attribute("value"))
    dlg.locator(".fstep.fs-agent").last.get_by_label("Response").check()
    shot(page, artifacts, "flow-editor", full=False)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id("flow-Review")).to_contain_text("seq(par(Helper), loop×2(Helper), Critic★)")
    saved = next(f for f in httpx.get(server.admin_url + "/api/v1/admin/flows",
                                      headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}).json() if f["name"] == "Review")
    assert saved["root"]["steps"][1]["exit"] == {"mode": "expression", "expression": "state.approved == true"}

    # Run the flow from the playground: each agent's text is labelled with its author.
    page.get_by_test_id("flow-Review").get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("pg-app")).to_have_value(re.compile(".+"))
    chat(page, "review this")
    log = page.get_by_test_id("pg-log")
    expect(log.locator(".msg.agent")).to_have_count(4, timeout=30_000)  # Helper, Helper ×2 (loop), Critic
    expect(log.locator(".msg.agent").first.locator(".author")).to_contain_text("Helper")
    expect(log.locator(".msg.agent").last.locator(".author")).to_contain_text("Critic")
    expect(log.locator(".msg.agent").last.locator(".author")).to_contain_text("response")
    # Tool calls are shown with their arguments and result (agents in flows get set_state).
    chat(page, 'call set_state {"key": "topic", "value": "ui"}')
    call = log.locator("details.tool-call", has_text="set_state").first
    expect(call).to_contain_text("done", timeout=30_000)
    call.locator("summary").click()
    expect(call).to_contain_text('"topic"')
    shot(page, artifacts, "playground-flow")

    # Client: the token is shown once, then only its preview.
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").fill("Mobile app")
    dlg.get_by_role("button", name="Helper").click()
    dlg.get_by_role("button", name="Create").click()
    token = page.get_by_test_id("client-token")
    expect(token).to_contain_text("mgc_")
    full_token = token.inner_text()
    shot(page, artifacts, "client-token", full=False)
    page.get_by_test_id("token-dialog").get_by_role("button", name="Done").click()
    card = page.get_by_test_id("client-Mobile app")
    expect(card).to_be_visible()
    expect(card).not_to_contain_text(full_token)
    card.get_by_role("button", name="New token").click()
    page.get_by_test_id("ask-dialog").get_by_role("button", name="Generate").click()
    expect(token).to_contain_text("mgc_")
    assert token.inner_text() != full_token
    page.get_by_test_id("token-dialog").get_by_role("button", name="Done").click()

    # MCP server and command dialogs; the agent dialog then offers the MCP server as a chip.
    nav(page, "mcps")
    page.get_by_role("button", name="New MCP server").first.click()
    dlg = page.get_by_test_id("mcp-dialog")
    dlg.get_by_label("Name").fill("Files")
    dlg.get_by_text("Stdio").click()
    dlg.get_by_label("Command").fill("npx")
    dlg.get_by_label("Arguments").fill("-y, @modelcontextprotocol/server-filesystem, /data")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    expect(page.locator(".card.mcp")).to_contain_text("npx -y @modelcontextprotocol/server-filesystem /data")
    nav(page, "commands")
    page.keyboard.press("n")
    dlg = page.get_by_test_id("command-dialog")
    dlg.get_by_label("Name").fill("Daily summary")
    dlg.get_by_label("Prompt").fill("Summarise today.")
    dlg.get_by_role("button", name="Create").click()
    expect(page.locator(".card.command")).to_contain_text("Summarise today.")
    nav(page, "agents")
    page.get_by_test_id("agent-Helper").click()
    dlg = page.get_by_test_id("agent-dialog")
    dlg.locator("summary", has_text="MCP servers").click()
    dlg.get_by_role("button", name="Files").click()
    dlg.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("agent-Helper")).to_contain_text("Files")

    # Every page at desktop width, then a few at phone width.
    for name in PAGES:
        nav(page, name)
        page.wait_for_timeout(400)
        shot(page, artifacts, f"page-{name}")
    page.set_viewport_size({"width": 390, "height": 844})
    for name in ["backends", "agents", "playground"]:
        page.goto(f"{server.admin_url}/#/{name}")
        page.wait_for_timeout(400)
        shot(page, artifacts, f"mobile-{name}")
    page.get_by_role("button", name="Menu").click()
    expect(page.locator(".sidebar")).to_be_in_viewport()
    shot(page, artifacts, "mobile-drawer", full=False)
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_memory_provider_and_settings(page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                                      artifacts: Path) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"},
                       timeout=30)  # a loaded machine exceeds httpx's 5 s
    api.post("/backends", json={"name": "Embedder", "type": "openai", "url": fakes["alpha"].url + "/v1"}).raise_for_status()
    api.post("/backends", json={"name": "Claude only", "type": "anthropic", "url": "http://127.0.0.1:9"}).raise_for_status()
    signed_in(page, server)
    nav(page, "memory")
    page.get_by_test_id("memory-longterm").get_by_role("button", name="Add").click()
    dlg = page.get_by_test_id("memory-dialog")
    dlg.get_by_label("Name").fill("Notes")
    expect(dlg.get_by_label("Long-term")).to_be_checked()
    # Only embedding-capable backends are offered.
    backend = dlg.locator("#m-emb-backend")
    expect(backend.locator("option", has_text="Embedder")).to_have_count(1)
    expect(backend.locator("option", has_text="Claude only")).to_have_count(0)
    backend.select_option(label="Embedder")
    dlg.locator(".model-input input").fill("alpha-embed")
    dlg.get_by_test_id("use-now").locator("input").uncheck()  # selected from its card below (test_memory_ui: from the dialog)
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    card = page.get_by_test_id("provider-Notes")
    expect(card).to_contain_text("Embedder")
    card.get_by_role("radio").check()
    expect(page.locator(".toast")).to_contain_text(["Long-term memory: Notes"])
    provider_id = next(m["id"] for m in api.get("/memory").json() if m["name"] == "Notes")
    assert api.get("/settings").json()["longTermProvider"] == provider_id
    card.get_by_role("button", name="Health").click()
    expect(card).to_contain_text("Healthy")

    # An agent saves a fact with its memory tool; the browser lists it.
    emb = next(b for b in api.get("/backends").json() if b["name"] == "Embedder")
    agent = api.post("/agents", json={"name": "Rememberer", "llm": {"backend": emb["id"], "model": "alpha-chat"}}).json()
    nav(page, "playground")
    page.get_by_test_id("pg-app").select_option(value=agent["id"])
    expect(page.locator("#pg-app option:checked")).to_have_text("Rememberer", timeout=10_000)  # built and valid
    chat(page, 'call save_to_memory {"content": "The user\'s cat is called Tigre"}')
    expect(page.locator("details.tool-call", has_text="save_to_memory")).to_contain_text("done", timeout=30_000)
    nav(page, "memory")
    browser = page.get_by_test_id("memory-browser")
    expect(browser).to_contain_text("cat is called Tigre", timeout=10_000)
    expect(browser).to_contain_text("Rememberer")
    expect(browser).to_contain_text("Embedder · alpha-embed")

    # Switching the embedding model: the card says memories need re-embedding; the job runs to the end.
    page.get_by_test_id("provider-Notes").get_by_role("button", name="Edit").click()
    dlg = page.get_by_test_id("memory-dialog")
    dlg.locator(".model-input input").fill("alpha-embed-v2")
    expect(dlg).to_contain_text("re-embedded")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    card = page.get_by_test_id("provider-Notes")
    page.wait_for_timeout(1500)  # the runtime reopens the store with the new model
    page.reload()
    expect(card.get_by_test_id("reembed-needed")).to_contain_text("1 stored memory", timeout=10_000)
    # what that means, truly: the memory is still found meanwhile (the search embeds with both models)
    expect(card.get_by_test_id("reembed-needed")).to_contain_text("still found")
    card.get_by_role("button", name="Re-embed").click()
    job = card.get_by_test_id("reembed-job")
    expect(job).to_contain_text("done", timeout=30_000)
    expect(job).to_contain_text("1/1")
    expect(card.get_by_test_id("reembed-needed")).to_have_count(0)
    shot(page, artifacts, "memory")

    # A session provider with a write-only connection string: never shown back, kept on save.
    page.get_by_test_id("memory-session").get_by_role("button", name="Add").click()
    dlg = page.get_by_test_id("memory-dialog")
    dlg.get_by_label("Name").fill("Cache")
    dlg.get_by_label("Type").select_option("redis")
    dlg.get_by_label("Connection string").fill("redis://:hunter2@127.0.0.1:6399/0")
    dlg.get_by_role("button", name="Create").click()
    expect(dlg).to_be_hidden()
    page.get_by_test_id("provider-Cache").get_by_role("button", name="Edit").click()
    conn = dlg.get_by_label("Connection string")
    expect(conn).to_have_value("")
    expect(conn).to_have_attribute("placeholder", re.compile("stored"))
    dlg.get_by_label("Session TTL").fill("12h")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    cache = next(m for m in api.get("/memory").json() if m["name"] == "Cache")
    assert cache["config"]["ttl"] == "12h" and cache["config"].get("connectionStringSet") is True
    assert "hunter2" not in page.content()

    # Delete the memory from the browser.
    row = browser.locator("tr", has_text="Tigre")
    row.get_by_role("button", name="Delete memory").click()
    page.get_by_test_id("ask-dialog").get_by_role("button", name="Delete").click()
    expect(browser).not_to_contain_text("Tigre")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_playground_voice(voice_page: Page, server: ServerProcess, fakes: dict[str, FakeServer],
                          artifacts: Path) -> None:
    page = voice_page
    alpha = fakes["alpha"]
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"},
                       timeout=30)  # a loaded machine exceeds httpx's 5 s
    b = api.post("/backends", json={"name": "Voice", "type": "openai", "url": alpha.url + "/v1"}).json()
    talker = api.post("/agents", json={
        "name": "Talker", "llm": {"backend": b["id"], "model": "alpha-chat"},
        "transcription": {"backend": b["id"], "model": "whisper-1"},
        "tts": {"backend": b["id"], "model": "tts-1", "voice": "nova"},
    }).json()
    signed_in(page, server)
    nav(page, "playground")
    page.get_by_test_id("pg-app").select_option(value=talker["id"])
    expect(page.locator("#pg-app option:checked")).to_have_text("Talker", timeout=10_000)
    expect(page.get_by_text("Speech-to-text ready")).to_be_visible()

    # Record from the (fake) microphone: the transcript lands in the message box; Enter sends it.
    page.get_by_role("button", name="Record").click()
    page.wait_for_timeout(1200)
    page.get_by_role("button", name="Stop recording").click()
    box = page.get_by_test_id("pg-input")
    expect(box).to_have_value(re.compile("^audio of"), timeout=30_000)
    box.press("Enter")
    answer = page.get_by_test_id("agent-text").last
    expect(answer).to_contain_text("alpha says: audio of", timeout=30_000)
    stt = [r for r in alpha.requests if r.route == "stt"]
    assert stt and stt[-1].form.get("model") == "whisper-1" and stt[-1].files

    # Play the answer: the text goes to the agent's TTS backend with its model and voice.
    page.locator(".msg.agent").last.get_by_role("button", name="Play answer").click()
    for _ in range(50):
        tts = [r for r in alpha.requests if r.route == "tts"]
        if tts:
            break
        page.wait_for_timeout(100)
    assert tts and tts[-1].json["voice"] == "nova" and tts[-1].json["model"] == "tts-1"
    assert tts[-1].json["input"].startswith("alpha says: audio of")
    shot(page, artifacts, "playground-voice")


def test_offline_demo_one_click(page: Page, tmp_path: Path, artifacts: Path) -> None:
    # a fresh server: the offer is only made to a user with no backend yet (this module's server has some)
    server = ServerProcess(data_dir=tmp_path, admin_password=ADMIN_PASSWORD,
                           database_url=f"sqlite+aiosqlite:///{tmp_path / 'magec.db'}").start()
    try:
        _offline_demo_one_click(page, server, artifacts)
    finally:
        server.stop()


def _offline_demo_one_click(page: Page, server: ServerProcess, artifacts: Path) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"},
                       timeout=30)  # a fresh server on a loaded machine
    if not any(t["type"] == "local" for t in api.get("/backends/types").json()):
        pytest.skip("this server has no local backend type")
    signed_in(page, server)
    panel = page.get_by_test_id("demo-panel")
    expect(panel).to_be_visible()
    panel.get_by_test_id("demo-setup").click()
    expect(page.locator(".nav-item.active")).to_have_attribute("data-nav", "playground", timeout=60_000)
    expect(page.locator("#pg-app option:checked")).to_contain_text("Local assistant")
    expect(page.get_by_text("Speech-to-text ready")).to_be_visible()
    backends = {b["name"]: b for b in api.get("/backends").json()}
    assert backends["Local"]["type"] == "local"
    agent = next(a for a in api.get("/agents").json() if a["name"] == "Local assistant")
    assert agent["llm"]["backend"] == agent["tts"]["backend"] == agent["transcription"]["backend"] == backends["Local"]["id"]
    memory = next(m for m in api.get("/memory").json() if m["name"] == "Local memory")
    assert memory["embedding"]["backend"] == backends["Local"]["id"]
    shot(page, artifacts, "offline-demo")
    nav(page, "overview")
    expect(page.get_by_test_id("demo-panel")).to_have_count(0)  # offered once
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]


def test_backend_header_values_are_write_only_and_survive_an_edit(
    page: Page, server: ServerProcess, fakes: dict[str, FakeServer]
) -> None:
    """Header values come back blank (names visible); saving the dialog untouched keeps them, and a
    changed URL asks for them again instead of sending them to the new URL."""
    alpha, beta = fakes["alpha"], fakes["beta"]
    secret = "ui-header-canary-3c9d"
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin", headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"})
    b = api.post("/backends", json={"name": "Keyed", "type": "openai", "url": alpha.url + "/v1",
                                    "apiKey": "sk-ui-stored-key-1234", "headers": {"api-key": secret}}).json()
    signed_in(page, server)
    nav(page, "backends")
    page.get_by_test_id("backend-Keyed").click()
    dlg = page.get_by_test_id("backend-dialog")
    stored = dlg.get_by_placeholder("stored — leave empty to keep", exact=True)
    expect(stored).to_have_value("")
    expect(dlg.get_by_label("Key", exact=True)).to_have_value("api-key")
    dlg.get_by_label("Name").fill("Keyed 2")
    dlg.get_by_role("button", name="Save").click()
    expect(dlg).to_be_hidden()
    expect(page.get_by_test_id("backend-Keyed 2")).to_be_visible()
    alpha.clear()
    assert api.post(f"/backends/{b['id']}/test", json={}).status_code == 200
    assert alpha.requests and alpha.requests[-1].headers.get("api-key") == secret

    page.get_by_test_id("backend-Keyed 2").click()
    dlg.locator("#b-url").fill(beta.url + "/v1")
    expect(dlg.get_by_test_id("url-moved-hint")).to_be_visible()
    beta.clear()
    dlg.get_by_role("button", name="Save").click()
    expect(dlg.get_by_role("alert")).to_contain_text("url: changing it needs")
    assert beta.calls() == []
    assert secret not in page.content()
    page.keyboard.press("Escape")
    assert not page.js_errors, page.js_errors  # type: ignore[attr-defined]
