"""The environment of the programs magec starts: enough to run, nothing that holds a credential.

Contract of :func:`minimal_env`: the variables of :data:`INHERITED_ENV` found in ``source``
(default: this process's environment; a value starting with ``()`` — an exported shell function,
code rather than data — is dropped) plus ``declared``, which wins. Nothing else is passed on: not
``MAGEC_*`` (the admin password, the encryption key, the database URL), not provider keys, not
anything a deployment put in magec's environment.

Used for every child process: stdio MCP servers (:func:`magec.tools.mcp.stdio_env`, with the
resource's ``env`` declared) and ``ffmpeg``, which decodes audio a provider sent
(:func:`magec.clients.botkit.to_ogg_opus`, the local backend's encoder) — a decoder fed hostile
input is where an exploit would run, and it needs none of magec's secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: what a child process inherits from magec's environment: enough to find programs, write temp
#: files and format text — nothing that can hold a credential (magec's own settings and every
#: provider key stay here; a stdio MCP server that needs one declares it in its ``env``)
INHERITED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
    "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY", "TZ", "TMPDIR", "TEMP", "TMP", "TERM",
    "SYSTEMROOT", "PYTHONIOENCODING",
)


def minimal_env(declared: Mapping[str, str] | None = None, source: Mapping[str, str] | None = None) -> dict[str, str]:
    """:data:`INHERITED_ENV` from ``source`` (default: this process) plus ``declared`` (which wins)."""
    base = os.environ if source is None else source
    inherited = {k: base[k] for k in INHERITED_ENV if k in base and not base[k].startswith("()")}
    return {**inherited, **(declared or {})}
