"""The error tree drawn in ``magec/errors.py`` is the real one: classes, parents, codes, statuses."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import magec.errors as errors

LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)\s+(?P<code>[a-z_]+)\s+.*→ (?P<status>\d{3})\s*$")


def drawn() -> list[tuple[int, str, str, int]]:
    doc = errors.__doc__ or ""
    rows = []
    for line in doc.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((len(m.group("indent")), m.group("name"), m.group("code"), int(m.group("status"))))
    return rows


def test_drawing_matches_the_classes() -> None:
    rows = drawn()
    real = {c.__name__: c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MagecError)}
    assert sorted(name for _, name, _, _ in rows) == sorted(real), "every error class is drawn, once"
    stack: list[tuple[int, str]] = []
    for depth, name, code, status in rows:
        while stack and stack[-1][0] >= depth:
            stack.pop()
        cls = real[name]
        parent = stack[-1][1] if stack else None
        assert (cls.__bases__[0].__name__ if parent else None) == parent, f"{name} drawn under {parent}"
        assert cls.code == code, f"{name}.code is {cls.code!r}, drawn {code!r}"
        assert cls.status_code == status, f"{name}.status_code is {cls.status_code}, drawn {status}"
        assert "code" in cls.__dict__, f"{name} must declare its own code"
        stack.append((depth, name))


def test_codes_are_one_vocabulary() -> None:
    codes = [c.code for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MagecError)]
    assert len(codes) == len(set(codes)), "codes are unique"
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", c) for c in codes), "codes are snake_case"


def test_budget_exceeded_is_a_402_refusal() -> None:
    """A spent budget (magec.costs) is 402, not 429: waiting does not help, so SDKs must not retry."""
    err = errors.BudgetExceededError("spent", scope="client", resets_at="2026-12-01T00:00:00Z")
    assert (err.code, err.status_code, err.scope) == ("budget_exceeded", 402, "client")
    assert isinstance(err, errors.ConfigError) and err.resets_at == "2026-12-01T00:00:00Z"


def test_overloaded_is_a_503_with_retry_after() -> None:
    """Over a concurrent-turn limit (magec.runtime.admission): transient, so 503 + Retry-After."""
    err = errors.OverloadedError("busy", retry_after=2)
    assert (err.code, err.status_code, err.retry_after) == ("overloaded", 503, 2)
    assert isinstance(err, errors.RunError)


#: an error code written as a string where a body, a callback, an event or a task carries it
EMITTED = re.compile(
    r"""(?:["'](?:code|errorCode)["']\s*:\s*|\b(?:code|error_code)\s*=\s*)["'](?P<code>[a-z]+(?:_[a-z]+)*)["']"""
)


def test_emitted_codes_are_the_trees() -> None:
    """Every error code a module spells out (``"code": …`` of an HTTP body or a webhook callback,
    ``errorCode`` of an event or an A2A task) is a code of the tree: a client reads one vocabulary,
    whichever surface answered. ``magec/testing`` speaks the vendors' own codes and is left out; the
    realtime voice channel's codes are its protocol's (docs/voice.md), passed positionally."""
    codes = {c.code for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MagecError)}
    root = Path(errors.__file__).parent
    strays = [
        f"{path.relative_to(root.parent)}:{n}: {m.group('code')}"
        for path in sorted(root.rglob("*.py"))
        if path != Path(errors.__file__) and "testing" not in path.relative_to(root).parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for m in EMITTED.finditer(line)
        if m.group("code") not in codes
    ]
    assert not strays, "error codes outside magec/errors.py's tree:\n" + "\n".join(strays)
