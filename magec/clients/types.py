"""Client types and their config JSON Schemas (``GET /api/v1/admin/clients/types``).

Contract:

* :data:`TYPES` — one :class:`ClientType` per client type, in Magec's order (sorted by type), each
  with Magec's ``configSchema`` for ``config.<type>`` (JSON Schema draft 7 plus the UI hints Magec
  uses: ``x-format: password`` for write-only secrets, ``x-entity`` for references to other
  resources, ``x-placeholder``), so Magec's Admin UI and ours render the same forms.
* Beyond Magec (all optional, so every Magec config stays valid): ``apiBaseUrl`` for the bots (the
  platform's API root, for a local Telegram Bot API server or a loopback fake), Telegram
  ``allowedChatThreads``; webhook ``signingSecret`` (HMAC), ``allowPrivateCallbacks`` and
  ``syncTimeout``, ``callbackTimeout``; cron ``timezone``, ``missedRuns``/``missedRunsWindow`` and ``keepRuns``; Slack
  ``signingSecret``. The webhook ``oneOf`` is made exclusive (Magec accepted ``passthrough: true``
  together with a ``commandId``).
* :data:`SENSITIVE` — the config paths that are secrets: encrypted at rest, write-only, redacted in
  every view (``Client.sensitive`` in :mod:`magec.resources.models` lists the same paths; a test
  pins that the two agree with every ``x-format: password`` field here).
* :data:`WORKER_TYPES` — types run by the supervisor (a long-running worker per client).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = dict[str, Any]


@dataclass(frozen=True)
class ClientType:
    type: str
    display_name: str
    config_schema: Schema

    def view(self) -> dict[str, Any]:
        return {"type": self.type, "displayName": self.display_name, "configSchema": self.config_schema}


def _password(title: str, placeholder: str, *, required: bool = True) -> Schema:
    out: Schema = {"type": "string", "title": title, "x-format": "password", "x-placeholder": placeholder}
    if required:
        out["minLength"] = 1
    return out


def _default_agent(switch: str) -> Schema:
    # Magec's text said "Automatically updated when a user runs !agent <id>": here a switch is the
    # conversation's own (stored per conversation, docs/bots.md) and never rewrites this field, and
    # Telegram's command is /agent. The form shows this text under the field.
    return {
        "type": "string",
        "title": "Default Agent",
        "description": f"The agent a new conversation talks to (empty: the first allowed one). "
        f"Anyone can switch their own conversation with {switch} <id or name>; this setting stays as is.",
        "x-entity": "agents",
    }


def _thread_history(maximum: int) -> Schema:
    return {
        "type": "integer",
        "title": "Thread History Messages",
        "description": "Number of previous thread messages passed to the agent as context. "
        "Use lower values for smaller models.",
        "default": 50,
        "minimum": 1,
        "maximum": maximum,
    }


def _response_mode() -> Schema:
    return {"type": "string", "title": "Response Mode", "default": "text", "enum": ["text", "voice", "mirror", "both"]}


def _api_base(default: str) -> Schema:
    return {
        "type": "string",
        "title": "API Base URL",
        "description": f"The platform's API root (default {default}); set it for a self-hosted API server.",
        "pattern": "^https?://",
        "x-placeholder": default,
    }


def _ids(kind: str, title: str, placeholder: str) -> Schema:
    return {"type": "array", "items": {"type": kind}, "title": title, "x-placeholder": placeholder}


TELEGRAM = ClientType("telegram", "Telegram", {
    "type": "object",
    "properties": {
        "botToken": _password("Bot Token", "123456:ABC-DEF..."),
        "allowedUsers": _ids("integer", "Allowed Users", "Comma-separated Telegram user IDs"),
        "allowedChats": _ids("integer", "Allowed Chats", "Comma-separated Telegram chat IDs"),
        "allowedChatThreads": {
            "type": "array",
            "title": "Allowed Chat Threads",
            "description": "Forum topics: a chat, optionally narrowed to one thread.",
            "items": {
                "type": "object",
                "properties": {"chatId": {"type": "integer"}, "threadId": {"type": "integer"}},
                "required": ["chatId"],
            },
        },
        "responseMode": _response_mode(),
        "defaultAgent": _default_agent("/agent"),
        "apiBaseUrl": _api_base("https://api.telegram.org"),
    },
    "required": ["botToken"],
})

SLACK = ClientType("slack", "Slack", {
    "type": "object",
    "properties": {
        "botToken": _password("Bot Token", "xoxb-..."),
        "appToken": _password("App Token (Socket Mode)", "xapp-..."),
        "signingSecret": _password("Signing Secret", "for HTTP events (optional)", required=False),
        "allowedUsers": _ids("string", "Allowed Users", "Comma-separated Slack user IDs (e.g. U01ABCDEF)"),
        "allowedChannels": _ids("string", "Allowed Channels", "Comma-separated Slack channel IDs (e.g. C01ABCDEF)"),
        "responseMode": _response_mode(),
        "defaultAgent": _default_agent("!agent"),
        "threadHistoryLimit": _thread_history(1000),
        "apiBaseUrl": _api_base("https://slack.com/api"),
    },
    "required": ["botToken", "appToken"],
})

DISCORD = ClientType("discord", "Discord", {
    "type": "object",
    "properties": {
        "botToken": _password("Bot Token", "MTIz..."),
        "allowedUsers": _ids("string", "Allowed Users", "Comma-separated Discord user IDs"),
        "allowedChannels": _ids("string", "Allowed Channels", "Comma-separated Discord channel IDs"),
        "responseMode": _response_mode(),
        "defaultAgent": _default_agent("!agent"),
        "threadHistoryLimit": _thread_history(100),
        "apiBaseUrl": _api_base("https://discord.com/api/v10"),
    },
    "required": ["botToken"],
})

WEBHOOK = ClientType("webhook", "Webhook", {
    "type": "object",
    "properties": {
        "passthrough": {
            "type": "boolean",
            "title": "Passthrough",
            "default": False,
            "description": "When enabled, the prompt comes from the webhook request body instead of a command.",
        },
        "commandId": {"type": "string", "title": "Command", "minLength": 1, "x-entity": "commands"},
        "signingSecret": _password(
            "Signing Secret", "HMAC-SHA256 key for X-Magec-Signature (optional)", required=False
        ),
        "syncTimeout": {
            "type": "integer",
            "title": "Sync Timeout (s)",
            "description": "A request without a callback URL waits at most this long for the answer.",
            "default": 120,
            "minimum": 1,
            "maximum": 3600,
        },
        "callbackTimeout": {
            "type": "integer",
            "title": "Callback Timeout (s)",
            "description": "A request with a callback URL runs at most this long; the callback is then told it timed out.",
            "default": 900,
            "minimum": 1,
            "maximum": 86400,
        },
        "allowPrivateCallbacks": {
            "type": "boolean",
            "title": "Allow Private Callback Addresses",
            "default": False,
            "description": "Let callback URLs reach loopback and private networks (off: SSRF protection).",
        },
    },
    # exactly one mode: a command, or passthrough (and then no command)
    "oneOf": [
        {"properties": {"passthrough": {"const": False}}, "required": ["commandId"]},
        {"properties": {"passthrough": {"const": True}}, "required": ["passthrough"], "not": {"required": ["commandId"]}},
    ],
})

CRON = ClientType("cron", "Cron", {
    "type": "object",
    "properties": {
        "schedule": {
            "type": "string",
            "title": "Schedule",
            "minLength": 1,
            "x-placeholder": "0 9 * * *",
            "description": "Standard cron expression (min hour day month weekday) or @daily, @hourly…",
        },
        "commandId": {"type": "string", "title": "Command", "minLength": 1, "x-entity": "commands"},
        "timezone": {
            "type": "string",
            "title": "Time Zone",
            "default": "UTC",
            "x-placeholder": "Europe/Madrid",
            "description": "IANA time zone the schedule is read in.",
        },
        "missedRuns": {
            "type": "string",
            "title": "Missed Runs",
            "default": "once",
            "enum": ["once", "skip"],
            "description": "After downtime: run once for the missed slots (within the window), or skip them.",
        },
        "missedRunsWindow": {
            "type": "integer",
            "title": "Missed Runs Window (s)",
            "default": 86400,
            "minimum": 0,
            "description": "Only a slot missed less than this long ago is made up for.",
        },
        "keepRuns": {
            "type": "integer",
            "title": "Runs Kept",
            "default": 1000,
            "minimum": 1,
            "maximum": 1000000,
            "description": "How many of the latest runs are kept in the database; older ones are deleted.",
        },
    },
    "required": ["schedule", "commandId"],
})

DIRECT = ClientType("direct", "Direct", {"type": "object", "properties": {}})

TYPES: dict[str, ClientType] = {t.type: t for t in sorted((CRON, DIRECT, DISCORD, SLACK, TELEGRAM, WEBHOOK), key=lambda t: t.type)}

#: types the supervisor runs (a long-running worker per enabled client)
WORKER_TYPES = ("telegram", "slack", "discord", "cron")


def password_paths() -> tuple[str, ...]:
    """``config.<type>.<field>`` of every ``x-format: password`` field (the secrets)."""
    return tuple(
        f"config.{t.type}.{name}"
        for t in TYPES.values()
        for name, spec in t.config_schema.get("properties", {}).items()
        if spec.get("x-format") == "password"
    )


SENSITIVE = password_paths()
