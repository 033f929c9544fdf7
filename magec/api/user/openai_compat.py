"""The OpenAI-compatible surface's entry point (kept for the composition root): see
:mod:`magec.api.user.openai`."""

from __future__ import annotations

from magec.api.user.openai import router

__all__ = ["router"]
