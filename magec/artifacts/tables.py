"""Tables of the artifact service (defined here, created by migration ``0004_artifacts``).

* ``artifacts`` — one row per artifact *version*: owner scope (``app_name``, ``user_id`` — the
  owner key ``<clientId>:<userId>`` for clients — and ``session_id``, ``""`` for user-scoped
  ``user:`` names), ``filename``, ``version`` (0, 1, 2… as ADK numbers them), the payload
  (``kind`` ``text`` / ``blob`` / ``file``: text as UTF-8 bytes, inline data as bytes, a file
  reference as its URI in ``file_uri``), ``mime_type``, ``size`` (what the version counts for in
  the quotas: :func:`magec.artifacts.service.stored_size`, recounted by :func:`recount` for rows
  older than ``0006_artifact_totals``), ``client`` (the client part of ``user_id``, :func:`magec.memory.owners.client_of`; ``""``
  for open mode's ids: the per-client total's key), JSON
  ``custom_metadata`` and ``created_at`` (Unix seconds). In the database, not on a local disk, so
  every replica sharing a PostgreSQL database serves every artifact.
* ``artifact_signing`` — one row: the HMAC key of ephemeral download URLs, generated once and
  stored encrypted with the store's cipher, so every replica signs and verifies alike.

Neither bumps the config epoch: artifacts are conversation data, not configuration.
"""

from __future__ import annotations

import sqlalchemy as sa

from magec.memory import owners

artifacts_metadata = sa.MetaData()

#: bytes every stored version is counted for beyond its payload and keys (a row and its index
#: entries): a flood of empty versions runs into the totals too
ROW_OVERHEAD = 128

artifacts = sa.Table(
    "artifacts",
    artifacts_metadata,
    sa.Column("app_name", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.String(320), primary_key=True),
    sa.Column("session_id", sa.String(255), primary_key=True),
    sa.Column("filename", sa.String(512), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("mime_type", sa.String(255), nullable=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("file_uri", sa.Text, nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("custom_metadata", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("client", sa.String(255), nullable=False, server_default=""),
    # the per-user and per-client totals are sums over these indexes (no payload is read);
    # migration 0006_artifact_totals adds them to databases created before it
    sa.Index("ix_artifacts_user_size", "user_id", "size"),
    sa.Index("ix_artifacts_client_size", "client", "size"),
)


def recount(dialect: str) -> list[sa.Update]:
    """Statements filling ``client`` and recounting ``size`` (as
    :func:`magec.artifacts.service.stored_size` counts it) of rows stored before migration
    0006 or restored from an older backup."""
    t = artifacts.c
    keys = sa.func.length(t.app_name) + sa.func.length(t.user_id) + sa.func.length(t.session_id) + sa.func.length(t.filename)
    payload = sa.func.length(t.data) + sa.func.coalesce(sa.func.length(t.file_uri), 0) + sa.func.length(t.custom_metadata)
    size = payload + 2 * keys + sa.func.length(t.user_id) + 2 * sa.func.length(t.client) + ROW_OVERHEAD
    return [owners.fill_clients(artifacts, dialect), artifacts.update().values(size=size)]


artifact_signing = sa.Table(
    "artifact_signing",
    artifacts_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.Text, nullable=False),
)
