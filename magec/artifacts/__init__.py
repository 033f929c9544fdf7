"""Artifacts: files agents save for their users, stored in the database, downloadable by link.

* :mod:`.tables` — the ``artifacts`` and ``artifact_signing`` tables (migration ``0004_artifacts``);
* :mod:`.service` — :class:`~.service.SqlArtifactService`, ADK's ``BaseArtifactService`` with limits;
* :mod:`.signing` — HMAC-signed, expiring download tokens bound to one version;
* :mod:`.tools` — the agents' ``save_artifact`` / ``load_artifact`` / ``list_artifacts`` /
  ``get_artifact_url`` tools (Magec's names and shapes);
* :mod:`.runtime_hook` — :class:`~.runtime_hook.Artifacts`, what the composition root creates once
  and hands to the runtime (every runner gets the service; agents get the tools when
  ``artifacts.agentTools`` is on) and to the API routes (``ctx.extras["artifacts"]``).

The HTTP routes are :mod:`magec.api.user.artifacts` (ADK's artifact routes on sessions) and
:mod:`magec.api.user.ephemeral` (signed downloads). See docs/artifacts.md.
"""
