"""Per-agent secrets in tool calls: ``{{secret:KEY}}`` placeholders and the redaction around them.

Magec's semantics (G2): an agent lists the secrets it may use in ``secrets`` (secret keys, or
secret ids as Magec's admin UI stores them) or sets ``allowAllSecrets``. A model that wants a
credential in a tool call writes ``{{secret:KEY}}`` (or G2's ``${KEY}``, filled only for an allowed
secret and otherwise left as written) in the arguments; just before the tool runs
(:meth:`AgentSecrets.before_tool`, an ADK ``before_tool_callback`` on a deep copy of the
arguments ADK hands to the tool) every placeholder is replaced by the secret's *current* value.

Guarantees:
* **Only allowed keys.** A key the agent may not use, or that no secret has, answers the call with
  ``{"error": "secret 'KEY' …"}`` naming the key, never a value; the tool does not run.
* **Values never reach the model or the client.** The stored call keeps the placeholder (the
  substitution happens on ADK's copy); magec's storing tools (:data:`STORING_TOOLS`: artifacts,
  flow state, memory) get placeholders as written; state a tool writes and the tool's result are
  scrubbed of every secret value before
  ADK turns it into the function-response event (:meth:`AgentSecrets.after_tool`), so neither the
  next model request, the events/SSE a client sees nor the stored session carries one; and every
  model request is scrubbed once more just before it is sent (:meth:`AgentSecrets.before_model`,
  the last ``before_model_callback`` that looks at the request — only :func:`magec.backends.parked.park`,
  which moves contents without reading them, comes after), whatever put a value there. Logs and error texts are covered by
  :mod:`magec.redact`, which :class:`LiveSecrets` tells every secret value.
* **Live.** :class:`LiveSecrets` is refreshed by the runtime on every rebuild (any secret write
  bumps the config epoch), and agents read it at call time: a changed value is used by the next
  tool call without rebuilding any agent.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from magec.redact import register_secret
from magec.resources import Agent, secret_refs

#: ``{{secret:KEY}}`` (spaces allowed inside the braces); a prompt naming one is a use of that
#: secret too (magec.resources.secret_refs)
PLACEHOLDER = secret_refs.PLACEHOLDER
#: Magec G2's form, ``${KEY}``: filled only for a secret the agent may use; anything else stays as
#: written (a shell script's ``${HOME}`` is not a request for a secret)
DOLLAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")
_EITHER = re.compile(f"{PLACEHOLDER.pattern}|{DOLLAR.pattern}")
#: magec's own tools that *store* what they are given where users and later turns read it (an
#: artifact, flow state, long-term memory): placeholders reach them as written, never a value
STORING_TOOLS = frozenset({"save_artifact", "set_state", "save_to_memory", "update_memory"})
#: shorter values are replaced only where they stand alone (as :mod:`magec.redact` does)
SHORT = 8
MASK = "***"


class LiveSecrets:
    """Every secret's current value by key (and key by id): a runtime build hook.

    ``list_secrets`` (the store's raw secret rows) is read only when an agent names a secret by
    something that is not a known key — Magec's admin UI stores ids — to map ids to keys."""

    def __init__(self, list_secrets: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None) -> None:
        self._list = list_secrets
        self.values: Mapping[str, str] = {}
        self.key_of: dict[str, str] = {}
        self._pattern: tuple[tuple[str, ...], re.Pattern[str] | None] = ((), None)

    async def __call__(self, snap: Any, deps: Any) -> None:
        values = dict(snap.secret_values)
        for value in values.values():
            register_secret(value)  # logs and error texts hide them too (magec.redact)
        named = {ref for agent in snap.agents.values() for ref in agent.secrets}
        if self._list is not None and named - values.keys() - self.key_of.keys():
            self.key_of = {str(r.get("id")): str(r.get("key")) for r in await self._list() if r.get("key")}
        self.values = values
        deps.secrets = self

    def scrubber(self) -> re.Pattern[str] | None:
        """One pattern of every current value (long ones anywhere, with their common encodings —
        see :func:`disguises` — short ones standing alone), matched in any letter case."""
        current = tuple(sorted((v for v in self.values.values() if v and v.strip()), key=len, reverse=True))
        if current != self._pattern[0]:
            forms = sorted({f for v in current if len(v) >= SHORT for f in (v, *disguises(v))}, key=len, reverse=True)
            alts = [re.escape(f) for f in forms] + [
                rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])" for v in current if len(v) < SHORT]
            self._pattern = (current, re.compile("|".join(alts), re.IGNORECASE) if alts else None)
        return self._pattern[1]


def disguises(value: str) -> list[str]:
    """What a tool that transforms its input would hand back of ``value``: reversed, hex, URL- and
    base64-encoded (standard and URL-safe, at each of the three alignments a value can have inside
    a longer encoded text; the edge characters that depend on its neighbours left out). A client
    can make the model put ``{{secret:KEY}}`` into any tool's arguments; a tool that echoes the
    value transformed must not carry it past the mask. Not every transformation: docs/artifacts.md."""
    raw = value.encode()
    out = [value[::-1], raw.hex(), quote(value, safe="")]
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw).decode()
        end = len(enc) if (shift + len(raw)) % 3 == 0 else len(enc) - 4
        core = enc[4 if shift else 0:end]
        if len(core) >= SHORT:
            out += [core, core.replace("+", "-").replace("/", "_")]
    return [f for f in out if f != value and len(f) >= SHORT]


def _bound_names(tool: Any) -> frozenset[str]:
    """The names ``secretTools`` may bind ``tool`` by: an MCP tool's ``<server>/<tool>`` (id or
    name of its server), magec's own tools by their name."""
    qualified = getattr(tool, "qualified_names", None)
    if isinstance(qualified, frozenset):
        return qualified
    name = getattr(tool, "name", "")
    return frozenset({name}) if name else frozenset()


def scrub(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """``value`` (JSON-like) with every match of ``pattern`` in its strings masked."""
    if pattern is None:
        return value
    if isinstance(value, str):
        return pattern.sub(MASK, value)
    if isinstance(value, dict):
        return {k: scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, pattern) for v in value]
    return value


class AgentSecrets:
    """The callbacks of one agent (see the module docstring)."""

    def __init__(self, agent: Agent, live: LiveSecrets) -> None:
        self.allow_all = agent.allow_all_secrets
        self.allowed = frozenset(agent.secrets)
        #: key -> the only tools its value goes into (``secretTools``); absent = any tool
        self.tools = {key: frozenset(names) for key, names in agent.secret_tools.items()}
        self.live = live

    def _may_use(self, key: str) -> bool:
        if self.allow_all or key in self.allowed:
            return True
        return any(self.live.key_of.get(ref) == key for ref in self.allowed)

    def _for_tool(self, key: str, tool: Any) -> bool:
        only = self.tools.get(key)
        return only is None or bool(_bound_names(tool) & only)

    def _substitute(self, value: Any, problems: list[str], tool: Any = None) -> Any:
        if isinstance(value, str):
            def one(m: re.Match[str]) -> str:
                key = m.group(1)
                if key is None:  # ${KEY}: only an allowed secret's, else left as written
                    dollar = m.group(2)
                    found = self.live.values.get(dollar)
                    usable = found is not None and self._may_use(dollar) and self._for_tool(dollar, tool)
                    return found if found is not None and usable else m.group(0)
                if not self._may_use(key):
                    problems.append(f"secret {key!r} is not allowed for this agent")
                    return m.group(0)
                if not self._for_tool(key, tool):
                    only = ", ".join(sorted(self.tools.get(key) or ())) or "no tool"
                    shown = getattr(tool, "qualified_label", None) or getattr(tool, "name", "")
                    problems.append(f"secret {key!r} may be used only with {only} (secretTools), not {shown!r}")
                    return m.group(0)
                found = self.live.values.get(key)
                if found is None:
                    problems.append(f"secret {key!r} does not exist")
                    return m.group(0)
                return found

            return _EITHER.sub(one, value)  # one pass: a value is never read as a placeholder
        if isinstance(value, dict):
            return {k: self._substitute(v, problems, tool) for k, v in value.items()}
        if isinstance(value, list):
            return [self._substitute(v, problems, tool) for v in value]
        return value

    def before_tool(self, tool: Any, args: dict[str, Any], tool_context: Any) -> dict[str, Any] | None:  # noqa: ARG002
        if getattr(tool, "name", "") in STORING_TOOLS:
            return None
        problems: list[str] = []
        resolved = self._substitute(args, problems, tool)
        if problems:
            return {"error": "; ".join(dict.fromkeys(problems))}
        args.clear()
        args.update(resolved)  # ADK's own copy of the call's arguments: the stored call keeps placeholders
        return None

    def after_tool(self, tool: Any, args: dict[str, Any], tool_context: Any,  # noqa: ARG002
                   tool_response: Any) -> dict[str, Any] | None:
        pattern = self.live.scrubber()
        if pattern is None:
            return None
        # state a tool wrote is stored with the session and shown to clients: masked too
        delta = getattr(getattr(tool_context, "actions", None), "state_delta", None)
        for key, value in list((delta or {}).items()):
            masked = scrub(value, pattern)
            if masked != value:
                tool_context.state[key] = masked
        if not isinstance(tool_response, dict):
            return None
        cleaned = scrub(tool_response, pattern)
        return cleaned if cleaned != tool_response else None

    def before_model(self, callback_context: Any, llm_request: Any) -> None:  # noqa: ARG002
        pattern = self.live.scrubber()
        if pattern is None:
            return None
        # ADK's request parts are shallow copies of the session's: only top-level fields of a part
        # may be set (a nested object replaced, never changed in place)
        for content in llm_request.contents or []:
            for part in content.parts or []:
                if part.text:
                    part.text = pattern.sub(MASK, part.text)
                call = part.function_call
                if call is not None and call.args:
                    part.function_call = call.model_copy(update={"args": scrub(call.args, pattern)})
                answer = part.function_response
                if answer is not None and answer.response:
                    part.function_response = answer.model_copy(update={"response": scrub(answer.response, pattern)})
        config = llm_request.config
        if config is not None and isinstance(config.system_instruction, str):
            config.system_instruction = pattern.sub(MASK, config.system_instruction)
        return None
