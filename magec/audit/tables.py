"""Tables of the conversation audit (created by migration ``0004_audit``).

* ``audit_conversations`` — one row per conversation: an app (agent or flow), a session owner
  (``<clientId>:<userId>`` as stored by ADK) and a session id; a bot user's display name
  (``user_name``, the latest the platform gave) beside the id. It has two public ids, one per
  Magec "perspective": ``id`` (what the user saw) and ``admin_id`` (everything, with tool calls
  and inner flow steps); both name the same stored conversation (Magec's "pair").
* ``audit_turns`` — one row per turn: who (surface, source, client, user), what (the user's
  message, the visible answer, every step as JSON), which backend and model answered (and whether
  it was a fallback), tokens, latency, tool calls and the error, if any.

Both are observed history, not configuration: nothing here bumps the config epoch. Text columns
are redacted before they are written (:mod:`magec.audit.shape`).
"""

from __future__ import annotations

import sqlalchemy as sa

audit_metadata = sa.MetaData()

audit_conversations = sa.Table(
    "audit_conversations",
    audit_metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("admin_id", sa.String(40), nullable=False, unique=True),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("app_kind", sa.String(16), nullable=False, server_default="agent"),
    sa.Column("app_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("user_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("client_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("client_name", sa.String(255), nullable=False, server_default=""),
    #: how a bot's platform names the user (``@alice``, a display name); "" when unknown (migration 0012)
    sa.Column("user_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("source", sa.String(32), nullable=False, server_default=""),
    sa.Column("surface", sa.String(32), nullable=False, server_default=""),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("preview", sa.String(255), nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("app_id", "owner", "session_id", name="uq_audit_conversation_session"),
)
sa.Index("ix_audit_conversations_ended", audit_conversations.c.ended_at)

audit_turns = sa.Table(
    "audit_turns",
    audit_metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("conversation_id", sa.String(40), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
    sa.Column("first_ms", sa.Float, nullable=True),
    sa.Column("surface", sa.String(32), nullable=False, server_default=""),
    sa.Column("source", sa.String(32), nullable=False, server_default=""),
    sa.Column("voice", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("client_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("user_id", sa.String(255), nullable=False, server_default=""),
    sa.Column("app_id", sa.String(64), nullable=False),
    sa.Column("app_kind", sa.String(16), nullable=False, server_default="agent"),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("agent_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("agent_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("backend_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("backend_name", sa.String(255), nullable=False, server_default=""),
    sa.Column("model", sa.String(255), nullable=False, server_default=""),
    #: 0 = the primary answered; n = the n-th fallback of the answering agent
    sa.Column("fallback", sa.Integer, nullable=False, server_default="0"),
    sa.Column("input_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("output_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tool_calls", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_code", sa.String(64), nullable=False, server_default=""),
    sa.Column("error_message", sa.Text, nullable=False, server_default=""),
    sa.Column("user_text", sa.Text, nullable=False, server_default=""),
    sa.Column("answer", sa.Text, nullable=False, server_default=""),
    #: JSON list of steps (see :func:`magec.audit.shape.steps`)
    sa.Column("steps", sa.Text, nullable=False, server_default="[]"),
)
sa.Index("ix_audit_turns_conversation", audit_turns.c.conversation_id, audit_turns.c.at)
sa.Index("ix_audit_turns_at", audit_turns.c.at)
