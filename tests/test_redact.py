"""The redactor hides credentials but leaves help texts that only *name* a header readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from magec.redact import redact, register_secret
from magec.testing.apps import running_apps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # help texts: a scheme word, a <placeholder> or a "..." example is not a credential
        ("admin password required: send Authorization: Bearer <password>",
         "admin password required: send Authorization: Bearer <password>"),
        ("client token required: send Authorization: Bearer mgc_...",
         "client token required: send Authorization: Bearer mgc_..."),
        ("set the x-api-key: <your key> header", "set the x-api-key: <your key> header"),
        ("Authorization: Bearer", "Authorization: Bearer"),
        # real credentials, with and without a scheme
        ("Authorization: Bearer abcdefghij", "Authorization: Bearer ***"),
        ("Authorization: Token abcdefgh", "Authorization: Token ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("authorization=abcdefgh", "authorization=***"),
        ('{"authorization": "secretvalue1"}', '{"authorization": "***"}'),
        ('headers: {"Authorization": "Bearer zzzzzzzz"}', 'headers: {"Authorization": "Bearer ***"}'),
        ("Authorization: Bearer eyJhbGc.eyJzdWIi.sig_abc", "Authorization: Bearer ***"),
        ("x-api-key: k-12345678", "x-api-key: ***"),
        ("https://api.example/v1?key=AIzaSy123&x=1", "https://api.example/v1?key=***&x=1"),
        ("token sk-abcdefghijklmnop leaked", "token sk-*** leaked"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_known_secret_hidden_even_in_a_help_shaped_text() -> None:
    register_secret("Bearer-looking-but-registered")
    assert redact("send Authorization: Bearer-looking-but-registered") == "send Authorization: ***"


async def test_401_help_text_reads_right(tmp_path: Path) -> None:
    """The admin API's 401 tells the caller what to send, un-garbled by the redactor."""
    async with running_apps(tmp_path / "d", admin_password="s3cret-pass") as apps:
        anon = apps.admin.build_request("GET", "/api/v1/admin/backends")
        anon.headers.pop("authorization")
        r = await apps.admin.send(anon)
        assert r.status_code == 401
        assert "Authorization: Bearer <password>" in r.json()["error"], r.text
        # a wrong password is neither echoed nor turned into the help text's placeholder
        r = await apps.admin.get("/api/v1/admin/backends", headers={"Authorization": "Bearer wrong-guess-123"})
        assert r.status_code == 401 and "wrong-guess-123" not in r.text
