"""Admin API operations as MCP tools, generated from the admin app's OpenAPI schema.

Every operation under ``/api/v1/admin`` becomes one tool, so a new route is a new tool with no
edit here (``tests/admin_mcp`` compares the tool list with the route table). Names follow
``magec_<verb>_<resource>``:

* resource words are the path's static segments (snake_case); a segment followed by a path
  parameter is singular (``/clients/{id}/regenerate-token`` → ``client``). A resource kind's
  segment is named after the kind (``/memory`` → ``memory_providers`` / ``memory_provider``,
  ``/mcps`` → ``mcp_servers`` / ``mcp_server``), from :data:`magec.resources.KINDS`;
* the verb: ``GET`` → ``list`` when the answer is an array, else ``get``; ``PUT``/``PATCH`` →
  ``update``; ``DELETE`` → ``delete``; ``POST`` → ``create`` on a collection (a path that also
  answers ``GET``, or ends with a parameter), else the last segment is the verb (an action:
  ``POST /backends/{id}/test`` → ``magec_test_backend``, ``POST /settings/restore`` →
  ``magec_restore_settings``). A route may name its tool with ``openapi_extra={"x-mcp-tool": …}``
  (``GET /settings/backup`` is ``magec_backup_settings``).

Input schema: path and query parameters as properties (from the route's parameters); a JSON body
as ``body`` with the route's declared schema — the pydantic models' JSON schema for every kind —
(``$ref``\\ s hoisted into the root ``$defs``); a declared non-JSON body (a backup archive) as
``contentBase64``; a route that reads its body itself takes an optional free-form ``body``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from magec.resources import BY_PATH, KINDS, Settings

PREFIX = "/api/v1/admin"
METHODS = ("get", "post", "put", "patch", "delete")
#: bodies a route reads itself (no declared schema) whose pydantic model is known
BODY_MODELS: dict[tuple[str, str], Any] = {("PUT", "/settings"): Settings}


@dataclass
class ToolSpec:
    name: str
    method: str
    path: str  # full path template, e.g. /api/v1/admin/agents/{id}
    description: str
    input_schema: dict[str, Any]
    path_params: list[str] = field(default_factory=list)
    query_params: list[str] = field(default_factory=list)
    body: str = ""  # "" | "json" | "raw" | "free"
    body_type: str = "application/json"


def snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"[^a-zA-Z0-9]+", "_", text).strip("_").lower()


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _words(segments: list[str]) -> list[str]:
    words: list[str] = []
    for i, seg in enumerate(segments):
        if seg.startswith("{"):
            continue
        then_param = i + 1 < len(segments) and segments[i + 1].startswith("{")
        kind = BY_PATH.get(seg) if i == 0 else None
        if kind is not None:
            words.append(snake(KINDS[kind].singular) if then_param else snake(kind))
        else:
            words.append(_singular(snake(seg)) if then_param else snake(seg))
    return words


def tool_name(method: str, rel: str, op: Mapping[str, Any], collections: set[str]) -> str:
    """``magec_<verb>_<resource>`` for one operation (``rel``: the path after the prefix)."""
    if op.get("x-mcp-tool"):
        return str(op["x-mcp-tool"])
    segments = [s for s in rel.strip("/").split("/") if s]
    words = _words(segments)
    last_is_param = bool(segments) and segments[-1].startswith("{")
    if method == "get":
        schema = (op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
                  .get("schema", {}))
        verb = "list" if schema.get("type") == "array" else "get"
    elif method in ("put", "patch"):
        verb = "update"
    elif method == "delete":
        verb = "delete"
    elif last_is_param or rel in collections or len(segments) == 1:
        verb = "create"
        if words and not last_is_param:
            kind = BY_PATH.get(segments[0]) if len(segments) == 1 else None
            words[-1] = snake(KINDS[kind].singular) if kind else _singular(words[-1])
    else:
        verb, words = words[-1], words[:-1]
    return "_".join(["magec", verb, *words]) if words else f"magec_{verb}"


def _hoist(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Move nested ``$defs`` and OpenAPI ``components`` references to the root ``$defs``."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            for name, sub in (node.pop("$defs", None) or {}).items():
                defs.setdefault(name, walk(sub))
            out = {k: walk(v) for k, v in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                out["$ref"] = "#/$defs/" + ref.rsplit("/", 1)[-1]
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(copy.deepcopy(schema)))


def generate(openapi: Mapping[str, Any]) -> list[ToolSpec]:
    """One :class:`ToolSpec` per admin operation of ``openapi`` (the admin app's schema)."""
    components = openapi.get("components", {}).get("schemas", {})
    paths = {p: ops for p, ops in openapi.get("paths", {}).items() if p.startswith(PREFIX + "/")}
    collections = {p[len(PREFIX):] for p, ops in paths.items() if "get" in ops and "post" in ops}
    specs: list[ToolSpec] = []
    for path, ops in paths.items():
        rel = path[len(PREFIX):]
        for method in METHODS:
            op = ops.get(method)
            if op is None:
                continue
            defs: dict[str, Any] = {}
            props: dict[str, Any] = {}
            required: list[str] = []
            path_params: list[str] = []
            query_params: list[str] = []
            for param in op.get("parameters", []):
                where, name = param.get("in"), param["name"]
                if where not in ("path", "query"):
                    continue
                prop = _hoist(param.get("schema", {"type": "string"}), defs)
                if param.get("description"):
                    prop["description"] = param["description"]
                props[name] = prop
                (path_params if where == "path" else query_params).append(name)
                if param.get("required") or where == "path":
                    required.append(name)
            body = ""
            body_type = "application/json"
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                body = "json"
                props["body"] = _hoist(content["application/json"].get("schema", {"type": "object"}), defs)
                if op.get("requestBody", {}).get("required", True):
                    required.append("body")
            elif content:
                body, body_type = "raw", next(iter(content))
                props["contentBase64"] = {"type": "string", "description": f"the {body_type} body, base64-encoded"}
                required.append("contentBase64")
            elif method in ("post", "put", "patch"):
                body = "free"
                model = BODY_MODELS.get((method.upper(), rel))
                props["body"] = (
                    _hoist(model.model_json_schema(by_alias=True), defs)
                    if model is not None
                    else {"type": "object", "description": "the JSON body, if the operation takes one"}
                )
            schema: dict[str, Any] = {"type": "object", "properties": props}
            if required:
                schema["required"] = required
            while missing := [n for n in _refs(schema, defs) if n not in defs and n in components]:
                for name in missing:  # OpenAPI components referenced (maybe nested): into $defs
                    defs[name] = _hoist(components[name], defs)
            if defs:
                schema["$defs"] = defs
            summary = op.get("summary") or op.get("operationId", "")
            specs.append(
                ToolSpec(
                    name=tool_name(method, rel, op, collections),
                    method=method.upper(),
                    path=path,
                    description=f"{method.upper()} {path} — {summary}",
                    input_schema=schema,
                    path_params=path_params,
                    query_params=query_params,
                    body=body,
                    body_type=body_type,
                )
            )
    return _unique(specs)


def _refs(schema: Any, defs: dict[str, Any]) -> set[str]:
    """Names referenced as ``#/$defs/<name>`` anywhere in ``schema`` or in the defs gathered so far."""
    found: set[str] = set()
    todo = [schema, *defs.values()]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                found.add(ref.rsplit("/", 1)[-1])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _unique(specs: list[ToolSpec]) -> list[ToolSpec]:
    """Operations that would share a name are told apart (never silently one tool): the one whose
    path ends with a parameter gets ``_with_<param>``, then the method is appended."""
    for suffix in (_with_param, lambda s: f"_{s.method.lower()}"):
        counts: dict[str, int] = {}
        for s in specs:
            counts[s.name] = counts.get(s.name, 0) + 1
        for s in specs:
            if counts[s.name] > 1:
                s.name += suffix(s)
    return specs


def _with_param(spec: ToolSpec) -> str:
    last = spec.path.rstrip("/").rsplit("/", 1)[-1]
    return f"_with_{snake(last.strip('{}'))}" if last.startswith("{") else ""
