"""The redactor hides credentials but leaves help texts that only *name* a header readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from magec import redact as redact_module
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


# Pieces a credential-shaped text is built from, in cases and alphabets re.I treats as equal
# (ſ = s, K = k, ı and İ = i): the redactor skips a pattern whose literal the text lacks, and
# that shortcut must never change an answer.
_PIECES = st.sampled_from([
    "Authorization", "AUTHORIZATION", "authorİzation", "authorızation", "x-api-key", "X-API-KEY",
    "x-goog-api-Key", "api-key", "Bearer", "BEARER", "baſic", "Basic", "Token ", "sk-", "mgc_",
    "https://", "u:p@", "?key=", "&sig=", ";token=", ": ", "=", '"', "'", " ", "...", "<", ",",
    "abcdefgh12", "dXNlcjpwYXNz", "ÿ", "é", "\u0307", "\n",
])


@given(st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=14).map("".join))
@example("baſic dXNlcjpwYXNz")  # ſ: re.I's s
@example("authorızation: abcdefgh12")  # ı: re.I's i
@example("AUTHORİZATION=abcdefgh12")  # İ: folds to i + U+0307
@example("x-api-\u212aey: abcdefgh12")  # Kelvin sign: re.I's k
@settings(max_examples=400, deadline=None)
def test_pattern_shortcuts_never_change_the_answer(text: str) -> None:
    always = [(pattern, repl, lambda t, f: True) for pattern, repl, _ in redact_module._PATTERNS]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(redact_module, "_PATTERNS", always)
        expected = redact(text)  # every pattern scanned
    assert redact(text) == expected


def test_lone_surrogates_become_replacement_characters() -> None:
    """What is redacted is about to be encoded as UTF-8: a lone surrogate could not be."""
    from magec.redact import no_surrogates_in

    assert redact("bad \ud800 and \udfff end") == "bad \ufffd and \ufffd end"
    assert redact("ok 😀") == "ok 😀"  # a real astral character is untouched
    assert no_surrogates_in({"k\udc00": ["v\ud800", 3]}) == {"k\ufffd": ["v\ufffd", 3]}
