"""Client tokens: issued once, stored as hash + preview only, kept on update, found by hash."""

from __future__ import annotations

from magec.resources import tokens


def test_a_token_is_stored_as_hash_and_preview_only() -> None:
    token = tokens.new_token()
    assert token.startswith(tokens.PREFIX) and len(token) > 40 and token != tokens.new_token()
    stored = tokens.stored_fields(token)
    assert set(stored) == {"tokenHash", "tokenPreview"} and token not in stored.values()
    assert stored["tokenPreview"] == token[:8] + "…" + token[-4:]


def test_save_rule_drops_the_clear_token_and_keeps_the_stored_one_on_update() -> None:
    old = {"tokenHash": "h", "tokenPreview": "mgc_abcd…wxyz"}
    data = {"name": "c", "token": "mgc_sent"}
    tokens.save_rule(data, {"token": "mgc_sent"}, old, importing=False)
    assert data == {"name": "c", **old}


def test_an_import_keeps_its_token_and_an_api_create_never_takes_the_sent_one() -> None:
    imported: dict[str, object] = {"token": "mgc_fromMagec123"}
    tokens.save_rule(imported, {"token": "mgc_fromMagec123"}, None, importing=True)
    assert imported == tokens.stored_fields("mgc_fromMagec123")
    created: dict[str, object] = {"token": "mgc_chosenByCaller"}
    tokens.save_rule(created, {"token": "mgc_chosenByCaller"}, None, importing=False)
    assert "token" not in created and created["tokenHash"] != tokens.hash_token("mgc_chosenByCaller")


def test_lookup_finds_a_client_by_its_token() -> None:
    token = tokens.new_token()
    by_hash = tokens.index({"c1": {"name": "a", **tokens.stored_fields(token)}, "c2": {"name": "no token"}})
    assert list(by_hash) == [tokens.hash_token(token)]
    found = tokens.lookup(by_hash, token)
    assert found is not None and found[0] == "c1"
    assert tokens.lookup(by_hash, token + "x") is None
