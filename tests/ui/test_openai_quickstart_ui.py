"""docs/openai.md's quick start, as a user follows it: create a Direct client in the Admin UI, paste
the two lines its token dialog shows into a shell, run the docs' Python blocks unchanged.

The dialog said only "use it as the API key of any OpenAI client pointed at …/v1" and the docs had
nothing to paste; now both give lines that are run here verbatim (the openai SDK streaming, and
LangChain's ``ChatOpenAI``) against a real ``magec serve``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from magec.testing.fake_providers import FakeServer
from magec.testing.server import ServerProcess

from .conftest import ADMIN_PASSWORD, ROOT
from .test_admin_ui import nav, signed_in


def _docs_blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "openai.md").read_text()
    start = text.index("**Quick start.**")
    section = text[start:text.index("**Model ids.**", start)]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_the_token_dialogs_lines_and_the_docs_quick_start_work_as_pasted(
        page: Page, server: ServerProcess, fakes: dict[str, FakeServer], tmp_path: Path) -> None:
    api = httpx.Client(base_url=server.admin_url + "/api/v1/admin",
                       headers={"Authorization": f"Bearer {ADMIN_PASSWORD}"}, timeout=30)
    b = api.post("/backends", json={"name": "Quick backend", "type": "openai", "url": fakes["alpha"].url + "/v1"}).json()
    if not any(a["name"] == "Helper" for a in api.get("/agents").json()):
        api.post("/agents", json={"name": "Helper", "llm": {"backend": b["id"], "model": "alpha-chat"}})

    signed_in(page, server)
    nav(page, "clients")
    page.get_by_role("button", name="New client").first.click()
    dlg = page.get_by_test_id("client-dialog")
    dlg.get_by_label("Name").first.fill("Notebook")
    dlg.get_by_role("button", name="Helper", exact=True).click()
    dlg.get_by_role("button", name="Create").click()
    tok = page.get_by_test_id("token-dialog")
    lines = tok.get_by_test_id("openai-env")
    expect(lines).to_contain_text("export OPENAI_BASE_URL=")
    token = tok.get_by_test_id("client-token").inner_text()
    pasted = lines.inner_text()
    assert pasted == f"export OPENAI_BASE_URL={server.user_url}/v1\nexport OPENAI_API_KEY={token}", pasted
    # the docs' shell block names the same two variables the dialog fills in
    assert [line.split("=")[0] for line in _docs_blocks("bash")[0].splitlines()] == [
        "export OPENAI_BASE_URL", "export OPENAI_API_KEY"]

    python = _docs_blocks("python")
    # the openai SDK lists the client's agents and streams; LangChain answers and streams
    expected = [["helper-", "alpha says: Hello!"], ["alpha says: Hello!", "alpha says: Tell me more"]]
    assert len(python) == len(expected)
    for number, (block, says) in enumerate(zip(python, expected, strict=True)):
        script = tmp_path / f"quickstart_{number}.py"
        script.write_text(block)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        # a shell running the pasted lines, then the docs' block as a file
        run = subprocess.run(["bash", "-c", f'{pasted}\nexec "$0" "$1"', sys.executable, str(script)],
                             env=clean, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        assert all(word in run.stdout for word in says), run.stdout
    assert page.js_errors == []  # type: ignore[attr-defined]
