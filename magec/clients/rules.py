"""Save-time rule of clients: ``config.<type>`` is validated against the type's JSON Schema.

Contract of :func:`client_config` (a :data:`~magec.resources.rules.Rule`, registered by the
composition root through :data:`RULES`):

* ``config.<type>`` must be an object and satisfy :data:`magec.clients.types.TYPES` ``[type]``'s
  schema (JSON Schema draft 7); the 400 names the field as a dotted path, e.g.
  ``config.cron.schedule`` or ``config.telegram.botToken``. Other keys of ``config`` (another
  type's section, fields the schema does not know) are kept as they are: nothing is lost.
* A password field sent empty on update keeps its stored value (the write-only rule of
  :mod:`magec.store.sensitive`), so it counts as set when the stored one is.
* Cron: the schedule must parse (:mod:`magec.clients.cronexpr`) and the time zone must exist.
* Webhook: exactly one of ``passthrough: true`` / ``commandId`` (a clear message, not ``oneOf``'s).
* Bots: ``apiBaseUrl`` carries no platform token in its path (Telegram's ``/bot<token>``, a Slack
  ``xoxb-``/``xapp-`` token, the client's own bot token): magec adds the token where the platform
  wants it, from the write-only ``botToken``, while the URL is shown in every view and backup.
  Credentials a proxy in front needs (``user:pass@``, ``?key=``) are a secret URL's
  (``Client.secret_urls``: encrypted, shown masked).
* Imports (``magec import-magec``) are not checked: Magec's data is kept as it is and a client
  that cannot run shows the reason in its status instead.
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError as SchemaError

from magec.clients import cronexpr
from magec.clients.types import TYPES
from magec.errors import ValidationError
from magec.resources.rules import RuleTable, Save

_VALIDATORS = {name: Draft7Validator(t.config_schema) for name, t in TYPES.items()}
#: stands for a kept write-only value while validating
_KEPT = "<kept>"


def _path(prefix: str, err: SchemaError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in err.absolute_path]
    out = prefix
    for p in parts:
        out += p if p.startswith("[") else f".{p}"
    if err.validator == "required" and isinstance(err.message, str) and err.message.startswith("'"):
        out += "." + err.message.split("'")[1]
    return out


#: Telegram's id fields (lists of ids, and the ids of allowedChatThreads' items)
_TELEGRAM_IDS = frozenset({"allowedUsers", "allowedChats", "chatId", "threadId"})


def _message(err: SchemaError) -> str:
    if err.validator == "required":
        return "is required"
    if err.validator == "minLength" and err.validator_value == 1:
        return "must not be empty"
    if (err.validator == "type" and err.validator_value == "integer" and isinstance(err.instance, str)
            and any(p in _TELEGRAM_IDS for p in err.absolute_path)):
        # people paste @usernames where Telegram wants its numeric user, chat and thread ids
        return f"must be a numeric id, not {err.instance!r} (Telegram ids are numbers, not @usernames)"
    return err.message


def _with_kept(section: dict[str, Any], old_section: Any, ctype: str) -> dict[str, Any]:
    props = TYPES[ctype].config_schema.get("properties", {})
    out = copy.deepcopy(section)
    for name, spec in props.items():
        if spec.get("x-format") != "password" or out.get(name) not in ("", None) or name not in out:
            continue
        if isinstance(old_section, dict) and old_section.get(name):
            out[name] = _KEPT
    return out


def client_config(save: Save) -> None:
    if save.importing:
        return
    data = save.data
    ctype = str(data.get("type") or "direct")
    config = data.get("config") or {}
    validator = _VALIDATORS.get(ctype)
    if validator is None:
        return
    prefix = f"config.{ctype}"
    section = config.get(ctype, {}) if isinstance(config, dict) else None
    if section is None and ctype == "direct":
        return
    if not isinstance(section, dict):
        raise ValidationError(f"{prefix}: must be an object", field=prefix)
    old_config = (save.old or {}).get("config") or {}
    old_type = (save.old or {}).get("type")
    old_section = old_config.get(ctype) if isinstance(old_config, dict) and old_type == ctype else None
    checked = _with_kept(section, old_section, ctype)
    if ctype == "webhook":
        if checked.get("commandId") == "":
            del checked["commandId"]  # the Admin UI's empty select: no command
        _webhook_mode(checked, prefix)
    errors = sorted(validator.iter_errors(checked), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        err = errors[0]
        path = _path(prefix, err)
        raise ValidationError(f"{path}: {_message(err)}", field=path)
    if ctype in ("telegram", "slack", "discord"):
        _no_token_in_path(checked, prefix)
    if ctype == "cron":
        try:
            cronexpr.parse(checked["schedule"])
        except ValueError as e:
            raise ValidationError(f"{prefix}.schedule: {e}", field=f"{prefix}.schedule") from None
        try:
            cronexpr.timezone(checked.get("timezone"))
        except ValueError as e:
            raise ValidationError(f"{prefix}.timezone: {e}", field=f"{prefix}.timezone") from None


#: a platform token: Telegram's ``<bot id>:<secret>``, Slack's ``xox?-`` / ``xapp-``
_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}|\bxox[a-z]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+")


def _no_token_in_path(section: dict[str, Any], prefix: str) -> None:
    url = section.get("apiBaseUrl")
    if not isinstance(url, str) or not url.strip():
        return
    path = urlsplit(url.strip()).path
    own = [section[k] for k in ("botToken", "appToken") if isinstance(section.get(k), str) and len(section[k]) >= 8]
    if _TOKEN.search(unquote(path)) or any(t in unquote(path) for t in own):
        field = f"{prefix}.apiBaseUrl"
        raise ValidationError(
            f"{field}: must not carry the bot token (it is shown in every view and backup); give the API root "
            "only (e.g. https://api.telegram.org) and the token in botToken, which magec adds to each request",
            field=field)


def _webhook_mode(section: dict[str, Any], prefix: str) -> None:
    passthrough = section.get("passthrough")
    command = section.get("commandId")
    if passthrough is True and command:
        raise ValidationError(
            f"{prefix}.commandId: a passthrough webhook takes its prompt from the request; "
            "set either passthrough: true or a commandId, not both",
            field=f"{prefix}.commandId",
        )
    if passthrough is not True and not command:
        raise ValidationError(
            f"{prefix}.commandId: is required unless passthrough is true", field=f"{prefix}.commandId"
        )


RULES: RuleTable = {"clients": (client_config,)}
