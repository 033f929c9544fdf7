"""One failure, one log line: a failed turn is logged once, with its code and the provider's
error text, in both log formats (JSON and console), with no traceback at info level — read from a
real ``magec serve``'s log as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply
from magec.testing.server import ServerProcess

A = "/api/v1/admin"


def _fail_once(srv: ServerProcess, fake: FakeServer, marker: str) -> None:
    admin = httpx.Client(base_url=srv.admin_url, timeout=30)
    b = admin.post(f"{A}/backends", json={"name": "broken", "type": "openai", "url": fake.url + "/v1"}).json()
    a = admin.post(f"{A}/agents", json={"name": "unlucky", "llm": {"backend": b["id"], "model": "m"}}).json()
    fake.script(Reply.fail(501, f"upstream says {marker}"))  # 501: permanent, not retried
    r = httpx.post(f"{srv.user_url}/api/v1/agent/run", timeout=30,
                   json={"appName": a["id"], "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}})
    errors = [e for e in r.json() if e.get("errorCode")]
    assert len(errors) == 1 and marker in errors[0]["errorMessage"], r.text
    # a request after the failure, so the log surely holds the failure's records
    assert httpx.get(f"{srv.user_url}/api/v1/health", timeout=10).status_code == 200


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_failed_turn_is_one_log_line(tmp_path: Path, fmt: str) -> None:
    marker = f"kaboom-{fmt}-7731"
    with FakeServer(OpenAIFake("broken")) as fake, ServerProcess(
        data_dir=tmp_path / "data", env={"MAGEC_LOG_FORMAT": fmt}
    ).start() as srv:
        _fail_once(srv, fake, marker)
        assert srv.log_path is not None
        lines = srv.log_path.read_text().splitlines()
    hits = [line for line in lines if marker in line]
    assert len(hits) == 1, "\n".join(hits)
    assert not any("Traceback" in line for line in lines), "no traceback at info level"
    line = hits[0]
    if fmt == "json":
        record = json.loads(line)
        assert record["level"] == "warning" and "http_error" in record["msg"] and "unlucky" in record["msg"]
    else:
        assert "WARNING" in line and "http_error" in line and "unlucky" in line


def test_a_healthy_turn_from_the_source_checkout_logs_no_warning(tmp_path: Path) -> None:
    """Run as the README runs it (the working directory holds magec's source): building and running
    an agent warns about nothing — ADK used to guess the app name "agents" from the agent class's
    file and warn "App name mismatch" on every build."""
    with FakeServer(OpenAIFake("fine")) as fake, ServerProcess(
        data_dir=tmp_path / "data", admin_password="pw-for-logs", log_level="info"
    ).start() as srv:
        admin = httpx.Client(base_url=srv.admin_url, timeout=30, headers={"Authorization": "Bearer pw-for-logs"})
        b = admin.post(f"{A}/backends", json={"name": "fine", "type": "openai", "url": fake.url + "/v1"}).json()
        a = admin.post(f"{A}/agents", json={"name": "calm", "llm": {"backend": b["id"], "model": "m"}}).json()
        fake.script(Reply(text="all good"))
        r = httpx.post(f"{srv.user_url}/api/v1/agent/run", timeout=30,
                       json={"appName": a["id"], "userId": "u", "newMessage": {"parts": [{"text": "hi"}]}})  # fmt: skip
        assert "all good" in r.text, r.text
        assert httpx.get(f"{srv.user_url}/api/v1/health", timeout=10).status_code == 200
        assert srv.log_path is not None
        records = [json.loads(line) for line in srv.log_path.read_text().splitlines() if line.startswith("{")]
    assert Path.cwd().joinpath("magec", "agents").is_dir()  # the case: run from the source checkout
    noisy = [r for r in records if r["level"] in ("warning", "error")]
    assert not noisy, noisy
