"""Admin voice routes (under ``/api/v1/admin``): the playground's ``/voice/{agentId}/transcription``
and ``/voice/{agentId}/speech`` (admin auth from the app middleware, no client token), and
``GET /voice/types``: per backend type ``{type, displayName, supportsStt, supportsTts,
optionsSchema, voices, defaults}`` for the agent dialog's voice section, plus Magec G2's
``ttsConfigSchema`` / ``sttConfigSchema``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from magec.api.clients import OPEN
from magec.api.user.voice import voice_router
from magec.backends import registry
from magec.context import AppContext

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def voice_types() -> list[dict[str, Any]]:
    """One entry per importable backend type, in name order."""
    out = []
    for bt in registry.available():
        roles = bt.declared.roles
        defaults = bt.defaults
        out.append(
            {
                "type": bt.name,
                "displayName": bt.display_name,
                "supportsStt": "stt" in roles,
                "supportsTts": "tts" in roles,
                "optionsSchema": bt.voice_options_schema(),
                # Magec G2's names: the TTS options schema, and the STT one (none of magec's types
                # has STT options yet: an empty object schema, as Magec's providers answer)
                "ttsConfigSchema": bt.voice_options_schema() if "tts" in roles else _EMPTY_SCHEMA,
                "sttConfigSchema": _EMPTY_SCHEMA,
                "voices": list(bt.declared.voices),
                "defaults": {"sttModel": defaults.stt_model, "ttsModel": defaults.tts_model, "voice": defaults.tts_voice},
            }
        )
    return out


#: the admin voice routes' prefix (under ``/api/v1/admin``)
PREFIX = "/voice"


def router(ctx: AppContext) -> APIRouter:
    r = APIRouter(prefix=PREFIX)

    @r.get("/types", tags=["voice"], summary="Voice capabilities and provider option schemas per backend type")
    async def types() -> list[dict[str, Any]]:
        return voice_types()

    r.include_router(voice_router(ctx, lambda _req, _rt: OPEN))
    return r
