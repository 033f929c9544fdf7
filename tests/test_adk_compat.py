"""The ADK shim (:mod:`magec._adk`) imports: an ADK upgrade that moves a private name fails here.

Also pins that nothing else in the package reaches a private ``google.adk`` module, so the shim
stays the one file an upgrade touches.
"""

from __future__ import annotations

import re
from pathlib import Path

import magec
from magec import _adk

_PRIVATE = re.compile(r"(from|import)\s+google\.adk[\w.]*\._\w+|from\s+google\.adk[\w.]*\s+import\s+_\w+")


def test_shim_exports_exist() -> None:
    for name in _adk.__all__:
        assert getattr(_adk, name) is not None, name
    assert issubclass(_adk.StaleSessionError, Exception)
    parts = _adk.extract_json_safe_state_delta({"app:a": 1, "user:b": 2, "c": 3, "temp:d": 4})
    assert parts == {"app": {"a": 1}, "user": {"b": 2}, "session": {"c": 3}}


def test_storage_marker_round_trip() -> None:
    from google.adk.sessions.session import Session

    session = Session(id="s", app_name="a", user_id="u")
    _adk.set_storage_marker(session, "rev:3")
    assert _adk.storage_marker(session) == "rev:3"


def test_no_private_adk_import_outside_the_shim() -> None:
    root = Path(magec.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "_adk.py" and _PRIVATE.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
