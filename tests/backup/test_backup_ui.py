"""Settings → Backup & restore in a real Chromium against a real ``magec serve``: download a backup,
dry-run it after a change (the table says what would change), then restore it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, Route, expect, sync_playwright

from magec.testing.server import ServerProcess

CHROMIUM = os.environ.get("MAGEC_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "backup-ui-pw"
A = "/api/v1/admin"
pytestmark = pytest.mark.ui


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        assert not errors, errors
        browser.close()


def test_download_dry_run_restore(tmp_path: Path, page: Page) -> None:
    expect.set_options(timeout=15_000)
    with ServerProcess(tmp_path / "srv", admin_password=PASSWORD) as srv:
        api = httpx.Client(base_url=srv.admin_url + A, headers={"Authorization": f"Bearer {PASSWORD}"}, timeout=60)
        keep = api.post("/commands", json={"name": "Keep me", "prompt": "x"}).json()
        page.add_init_script(f"sessionStorage.setItem('magec.adminPassword', {PASSWORD!r})")
        page.goto(srv.admin_url + "/")
        expect(page.locator("nav")).to_be_visible()
        page.locator('[data-nav="settings"]').click()
        section = page.get_by_test_id("backup-section")
        expect(section).to_be_visible()
        page.get_by_test_id("include-sessions").check()
        with page.expect_download() as info:
            page.get_by_test_id("backup-download").click()
        download = info.value
        assert download.suggested_filename.startswith("magec-backup-")
        archive = tmp_path / download.suggested_filename
        download.save_as(archive)

        # a change after the backup: the dry run shows it would be undone, and changes nothing
        extra = api.post("/commands", json={"name": "Added later", "prompt": "y"}).json()
        page.get_by_test_id("restore-file").set_input_files(str(archive))
        page.get_by_test_id("restore-dry-run").click()
        expect(page.get_by_test_id("restore-result")).to_contain_text("Dry run")
        expect(page.get_by_test_id("change-commands")).to_contain_text("commands")
        cells = page.get_by_test_id("change-commands").locator("td")
        expect(cells.nth(3)).to_have_text("1")  # deleted
        expect(cells.nth(4)).to_have_text("1")  # unchanged
        assert {c["id"] for c in api.get("/commands").json()} == {keep["id"], extra["id"]}
        # and what it does to conversation data: the sessions it carries replace the server's,
        # the memories it lacks are kept (the page said "the included data" and nothing more)
        expect(page.get_by_test_id("data-sessions")).to_contain_text("Sessions: would be replaced by the backup's (")
        expect(page.get_by_test_id("data-memories")).to_have_text("Long-term memories: not in this backup, would be left as they are")

        page.get_by_test_id("restore-start").click()
        page.get_by_test_id("restore-confirm-yes").click()
        expect(page.get_by_test_id("restore-result")).to_contain_text("Restored")
        expect(page.get_by_test_id("data-memories")).to_have_text("Long-term memories: not in this backup, left as they are")
        assert [c["id"] for c in api.get("/commands").json()] == [keep["id"]]
        # the page's lists were reloaded from the restored server
        page.locator('[data-nav="commands"]').click()
        expect(page.get_by_text("Keep me")).to_be_visible()
        expect(page.get_by_text("Added later")).to_have_count(0)


def test_the_page_says_what_it_is_doing_while_it_waits(tmp_path: Path, page: Page) -> None:
    """A backup with conversation data takes a while to build and to arrive, a restore to upload and
    check: the page showed a disabled button and nothing else until it was over."""
    expect.set_options(timeout=15_000)
    with ServerProcess(tmp_path / "srv", admin_password=PASSWORD) as srv:
        page.add_init_script(f"sessionStorage.setItem('magec.adminPassword', {PASSWORD!r})")
        page.goto(srv.admin_url + "/")
        page.locator('[data-nav="settings"]').click()
        held: list[Route] = []
        page.route("**/settings/backup*", lambda route: held.append(route))
        page.route("**/settings/restore*", lambda route: held.append(route))
        progress = page.get_by_test_id("backup-progress")

        page.get_by_test_id("include-sessions").check()
        with page.expect_download() as info:
            page.get_by_test_id("backup-download").click()
            expect(progress).to_have_text("Preparing the backup (with sessions)…")  # the server builds it
            held.pop().continue_()
        archive = tmp_path / info.value.suggested_filename
        info.value.save_as(archive)
        expect(progress).to_have_count(0)

        page.get_by_test_id("restore-file").set_input_files(str(archive))
        page.get_by_test_id("restore-dry-run").click()
        expect(progress).to_have_text(re.compile(
            rf"^Checking {re.escape(archive.name)} \(\d+ kB\): uploading, then validating…$"))
        expect(page.get_by_test_id("restore-dry-run")).to_be_disabled()
        held.pop().continue_()
        expect(page.get_by_test_id("restore-result")).to_contain_text("Dry run")
        expect(progress).to_have_count(0)
