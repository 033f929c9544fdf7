"""Rendered contrast of the Admin UI in dark and light mode (real Chromium, a real ``magec serve``).

Every page of the sidebar is visited with data on it (a backend used by an agent, a flow, a command,
an MCP server, a client, a secret, a playground conversation with the user's bubble and the agent's
author label) and the main dialogs open. On each, a script MEASURES what is drawn: for every visible
element that renders text (and every form control's value), the computed text colour against the
effective background (the element's and its ancestors' background colours composited, translucent
layers included) — WCAG's contrast ratio must be at least 4.5:1. Icons drawn in a control's colour
(the icon-only buttons) are measured too, at the 3:1 that WCAG asks of non-text graphics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD
from .test_admin_ui import chat, nav, shot, signed_in

pytestmark = pytest.mark.ui

#: every page of the sidebar (magec/ui/js/nav.js)
PAGES = ["overview", "playground", "conversations", "backends", "agents", "flows", "memory", "mcps", "skills",
         "commands", "clients", "secrets", "costs", "settings"]

# Returns [{text, fg, bg, ratio, min, where}] for everything drawn below its minimum ratio, plus a count.
MEASURE = r"""
() => {
  const cv = document.createElement('canvas'); cv.width = cv.height = 1;
  const cx = cv.getContext('2d', { willReadFrequently: true });
  const cache = new Map();
  // any CSS colour (rgb(), color(srgb …), oklab, named) -> [r, g, b, a] with a in 0..1
  const rgba = (c) => {
    if (cache.has(c)) return cache.get(c);
    cx.clearRect(0, 0, 1, 1); cx.fillStyle = '#000'; cx.fillStyle = c; cx.fillRect(0, 0, 1, 1);
    const d = cx.getImageData(0, 0, 1, 1).data;
    const out = [d[0], d[1], d[2], d[3] / 255];
    cache.set(c, out); return out;
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  // background behind el: the colours of el and its ancestors composited from the page canvas up;
  // null when an image/gradient is in the way (not measurable from colours alone)
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const cs = getComputedStyle(n);
      if (cs.backgroundImage && cs.backgroundImage !== 'none') return null;
      const c = rgba(cs.backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const opacity = (el) => { let o = 1; for (let n = el; n && n.nodeType === 1; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; };
  const visible = (el) => {
    if (!el.getClientRects().length) return false;
    const cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || Number(cs.opacity) === 0) return false;
    if (el.closest('[aria-hidden="true"], [hidden], [inert]')) return false;
    if (typeof el.checkVisibility === 'function' && !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return false;
    // a modal dialog makes the page behind it inert
    const modal = document.querySelector('dialog[open]:modal');
    if (modal && !modal.contains(el)) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const disabled = (el) => !!el.closest(':disabled, [aria-disabled="true"]');
  const where = (el) => {
    const parts = [];
    for (let n = el; n && n.nodeType === 1 && parts.length < 4; n = n.parentElement) {
      parts.unshift(n.tagName.toLowerCase() + (n.id ? '#' + n.id : '') + (n.classList.length ? '.' + [...n.classList].join('.') : ''));
    }
    return parts.join(' > ');
  };
  const fails = [];
  let measured = 0;
  const check = (el, fgCss, min, text) => {
    const bg = background(el);
    if (!bg) return;
    let fg = rgba(fgCss);
    fg = [fg[0], fg[1], fg[2], fg[3] * opacity(el)];
    const r = ratio(over(fg, bg), bg);
    measured++;
    if (r < min) fails.push({ text: text.slice(0, 60), ratio: Math.round(r * 100) / 100, min, where: where(el),
      fg: fgCss, bg: 'rgb(' + bg.slice(0, 3).map(Math.round).join(',') + ')' });
  };
  for (const el of document.querySelectorAll('body *')) {
    if (['SCRIPT', 'STYLE', 'TEMPLATE', 'NOSCRIPT', 'OPTION', 'DATALIST'].includes(el.tagName)) continue;
    if (!visible(el) || disabled(el)) continue;
    const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join(' ').trim();
    if (own) check(el, getComputedStyle(el).color, 4.5, own);
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && el.value && !['checkbox', 'radio', 'file', 'range', 'color', 'hidden'].includes(el.type)
        && getComputedStyle(el).opacity !== '0') {
      check(el, getComputedStyle(el).color, 4.5, el.value);
    }
    if (el.tagName === 'svg' && el.classList.contains('icon') && el.closest('button, a, [role=button], [role=link]')) {
      check(el, getComputedStyle(el).color, 3, 'icon in ' + (el.closest('button, a, [role=button], [role=link]').getAttribute('aria-label') || 'control'));
    }
  }
  return { measured, fails };
}
"""


@pytest.fixture
def admin_api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                      headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30) as c:
        yield c


def seed(api: httpx.Client, fakes: dict[str, FakeServer], prefix: str) -> dict[str, Any]:
    """One of everything, so every page shows cards, badges and lists rather than empty states."""
    b = api.post("/backends", json={"name": f"{prefix}Alpha", "type": "openai", "url": fakes["alpha"].url + "/v1"})
    b.raise_for_status()
    backend = b.json()
    agent = api.post("/agents", json={"name": f"{prefix}Agent", "description": "Answers questions", "tags": ["demo"],
                                      "llm": {"backend": backend["id"], "model": "alpha-chat"}}).json()
    api.post("/flows", json={"name": f"{prefix}Flow", "root": {"type": "sequential", "steps": [
        {"type": "agent", "agentId": agent["id"]}]}}).raise_for_status()
    api.post("/commands", json={"name": f"{prefix}Command", "prompt": "Write the standup"}).raise_for_status()
    api.post("/mcps", json={"name": f"{prefix}Tools", "type": "http", "endpoint": "http://127.0.0.1:9/mcp"}).raise_for_status()
    api.post("/secrets", json={"name": f"{prefix} key", "key": f"{prefix.upper()}_KEY", "value": "v"}).raise_for_status()
    api.post("/clients", json={"name": f"{prefix}Bot", "type": "telegram", "enabled": False,
                               "allowedAgents": [agent["id"]], "config": {"telegram": {"botToken": "123:abc"}}})
    return {"backend": backend, "agent": agent}


def measure(page: Page, label: str) -> list[str]:
    page.wait_for_timeout(250)  # let transitions (toasts sliding in, hover fades) settle
    out = page.evaluate(MEASURE)
    assert out["measured"] > 5, f"{label}: nothing measured"
    return [f"{label}: {f['ratio']}:1 < {f['min']} {f['text']!r} fg={f['fg']} bg={f['bg']} at {f['where']}"
            for f in out["fails"]]


def tour(page: Page, server: ServerProcess, agent: dict[str, Any], artifacts: Path, scheme: str) -> list[str]:
    """Visit every page (and the main dialogs), returning every contrast failure found."""
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    signed_in(page, server)
    fails: list[str] = []
    for pid in PAGES:
        nav(page, pid)
        expect(page.locator(".skeleton")).to_have_count(0)
        if pid == "playground":
            page.get_by_test_id("pg-app").select_option(label=agent["name"])
            chat(page, "Hello there")
            expect(page.get_by_test_id("agent-text").last).to_contain_text("Hello there", timeout=30_000)
            expect(page.locator(".msg.user .bubble").last).to_be_visible()
            expect(page.get_by_role("button", name="Send")).to_be_visible(timeout=30_000)
        fails += measure(page, f"{scheme}/{pid}")
        shot(page, artifacts, f"contrast-{scheme}-{pid}", full=False)
    # the main dialogs: agent, backend, and the delete confirmation with its used-by list
    nav(page, "agents")
    page.get_by_role("button", name="New agent").first.click()
    expect(page.get_by_test_id("agent-dialog").locator(".modal-box")).to_be_visible()
    fails += measure(page, f"{scheme}/agent-dialog")
    page.keyboard.press("Escape")
    nav(page, "backends")
    page.get_by_role("button", name="New backend").first.click()
    expect(page.get_by_test_id("backend-dialog").locator(".modal-box")).to_be_visible()
    fails += measure(page, f"{scheme}/backend-dialog")
    shot(page, artifacts, f"contrast-{scheme}-backend-dialog", full=False)
    page.keyboard.press("Escape")
    return fails


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_contrast(page: Page, server: ServerProcess, fakes: dict[str, FakeServer], admin_api: httpx.Client,
                  artifacts: Path, scheme: str) -> None:
    seeded = seed(admin_api, fakes, f"C{scheme[0]}")
    fails = tour(page, server, seeded["agent"], artifacts, scheme)
    assert not fails, f"{len(fails)} contrast failures:\n" + "\n".join(fails)
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_the_measurement_catches_low_contrast(page: Page, server: ServerProcess) -> None:
    """The script is not a rubber stamp: a known 2.49:1 pair (white on the old dark accent) fails."""
    signed_in(page, server)
    page.evaluate("""() => { const b = document.createElement('button'); b.textContent = 'Low contrast';
        b.style.cssText = 'background:#22b3cf;color:#fff;border:0;position:fixed;top:0;left:0;z-index:99999';
        document.body.appendChild(b); }""")
    out = page.evaluate(MEASURE)
    low = [f for f in out["fails"] if f["text"] == "Low contrast"]
    assert low and 2.3 < low[0]["ratio"] < 2.7, out["fails"]
