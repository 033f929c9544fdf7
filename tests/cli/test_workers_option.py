"""``server.workers`` / ``MAGEC_WORKERS`` / ``magec serve --workers``: loaded, validated, refused with
the field named (no server is started here; tests/runtime/test_workers.py runs real ones)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from magec.config import load_config
from magec.errors import ConfigError


def test_workers_from_config_and_env(tmp_path: Path) -> None:
    assert load_config(None, env={}).workers == 1
    cfg = tmp_path / "c.yaml"
    cfg.write_text("server: {workers: 3}\n")
    assert load_config(cfg, env={}).workers == 3
    assert load_config(cfg, env={"MAGEC_WORKERS": "2"}).workers == 2  # the environment wins
    for bad in ("0", "-1", "257"):
        cfg.write_text(f"server: {{workers: {bad}}}\n")
        with pytest.raises(ConfigError, match="server.workers"):
            load_config(cfg, env={})
    cfg.write_text("server: {workers: many}\n")
    with pytest.raises(ConfigError, match="server.workers"):
        load_config(cfg, env={})
    with pytest.raises(ConfigError, match="MAGEC_WORKERS"):
        load_config(None, env={"MAGEC_WORKERS": "two"})


def test_serve_refuses_a_bad_workers_option(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "magec", "serve", "--workers", "0"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--workers" in r.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened
