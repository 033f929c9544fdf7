"""simonw's ``llm`` CLI against ``magec serve`` (an ``extra-openai-models.yaml`` entry per agent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.compat.conftest import Magec

LLM = str(Path(sys.executable).with_name("llm"))


def run_llm(m: Magec, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    (home / "extra-openai-models.yaml").write_text(yaml.safe_dump([
        {"model_id": "magec-helper", "model_name": "Helper", "api_base": m.v1},
        {"model_id": "magec-nope", "model_name": "Nope", "api_base": m.v1},
    ]))
    env = {**os.environ, "LLM_USER_PATH": str(home), "OPENAI_API_KEY": "none"}
    return subprocess.run([LLM, *args], capture_output=True, text=True, env=env, timeout=120)


def test_prompt_system_and_conversation(magec: Magec, tmp_path: Path) -> None:
    out = run_llm(magec, tmp_path / "llm", "-m", "magec-helper", "hello from llm")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "compat says: hello from llm"
    out = run_llm(magec, tmp_path / "llm", "-m", "magec-helper", "--system", "be terse", "again")
    assert out.returncode == 0, out.stderr
    sent = magec.fake.requests[-1].json["messages"]
    assert "be terse" in sent[0]["content"] and sent[-1] == {"role": "user", "content": "again"}
    out = run_llm(magec, tmp_path / "llm", "-c", "and a follow-up")  # llm resends the conversation
    assert out.returncode == 0, out.stderr
    assert [m["content"] for m in magec.fake.requests[-1].json["messages"] if m["role"] == "user"] == [
        "again", "and a follow-up"]


def test_error_message(magec: Magec, tmp_path: Path) -> None:
    out = run_llm(magec, tmp_path / "llm", "-m", "magec-nope", "hi")
    assert out.returncode != 0
    assert "The model 'Nope' does not exist or you do not have access to it." in out.stderr
