"""The encryption-key warning is said once per start: ``magec serve --demo`` on a fresh data dir
(the demo's resources are created before the server opens its store) used to log it twice.
Read from the server's own log output, as an operator reads it."""

from __future__ import annotations

import json
from pathlib import Path

from magec.testing.server import ServerProcess

WARNING = "the encryption key lives in the data dir"


def key_warnings(log: Path, since: int) -> list[str]:
    lines = log.read_bytes()[since:].decode().splitlines()
    return [r["msg"] for r in map(json.loads, filter(str.strip, lines)) if WARNING in r.get("msg", "")]


def test_the_key_warning_is_logged_once_per_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start = 0
    for first in (True, False):  # the start that generates the key, then one that reads it
        # no server.encryptionKey: the key is generated into (then read from) the data dir
        with ServerProcess(data, extra_args=["--demo"], server_config={"encryptionKey": ""}) as server:
            assert server.log_path is not None
        said = key_warnings(server.log_path, start)
        assert len(said) == 1, said
        assert ("generated a new encryption key" in said[0]) is first, said
        start = server.log_path.stat().st_size
