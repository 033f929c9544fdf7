"""The base of every resource model: :class:`Resource` (the ClassVars that declare a kind),
:class:`RefSpec` (one outgoing reference) and the shared size caps. Split from
:mod:`magec.resources.models` so kinds can live in their own modules (flows, skills) without
an import cycle with :data:`~magec.resources.models.KINDS`."""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

#: Size caps: far above any real use, low enough that a resource stays a small database row and a
#: prompt stays a prompt (the request body limit caps the whole body; these name the field).
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_PROMPT = 200_000


#: top-level fields any client may read (``/v1/models``, ``list-apps``): a ``${KEY}`` there is never
#: expanded, so it must not become the secret (:mod:`magec.config_view.snapshot`)
PUBLIC_FIELDS = frozenset({"name", "description", "tags"})

RefKind = Literal["structural", "membership"]


@dataclass(frozen=True)
class RefSpec:
    """One outgoing reference of a model, walked by :mod:`magec.resources.references`.

    ``path`` is a camelCase dotted path into the raw JSON: ``"llm.backend"`` (a scalar id; empty
    means none), ``"mcpServers[]"`` (a list of ids), ``"config.*.defaultAgent"`` (``*``: every key of
    a dict). ``steps=True``: the path holds a flow step tree whose ``agent`` steps' ``agentId`` are
    the references (scrubbing removes those steps). ``kind``: *structural* — the referrer cannot work
    without it; *membership* — a list entry or optional pointer. Both block a delete unless forced.
    """

    path: str
    targets: tuple[str, ...]
    kind: RefKind
    steps: bool = False
    #: the path is ``nodes[].<field>`` of a graph flow: scrubbing removes the referring nodes and
    #: their edges (and clears ``entry`` when it was one of them) instead of emptying the field
    graph: bool = False


AGENT_OR_FLOW = ("agents", "flows")


def _of(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """``annotation`` is one of ``kinds`` or an optional one."""
    if annotation in kinds:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(a in kinds for a in args)
    return False


#: the numeric and the boolean fields of each model class (computed once per class)
_TYPED: dict[type, tuple[frozenset[str], frozenset[str]]] = {}


def _typed(cls: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    found = _TYPED.get(cls)
    if found is None:
        fields = cls.model_fields.items()
        found = _TYPED[cls] = (
            frozenset(n for n, f in fields if _of(f.annotation, (int, float))),
            frozenset(n for n, f in fields if _of(f.annotation, (bool,))),
        )
    return found


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", validate_assignment=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads ``true`` as 1: a stray ``"retentionDays": true`` meant as "on"
        # would delete conversations after one day, ``"maxAttempts": true`` allow one attempt. And
        # it reads ``"no"``, ``"off"``, ``0`` as false: ``"enabled": "false "`` (a typo'd string) is
        # refused rather than guessed; Magec's Go JSON takes only true/false too.
        numeric, flags = _typed(cls)
        if isinstance(value, bool):
            if info.field_name in numeric:
                raise ValueError("must be a number, not true or false")
        elif value is not None and info.field_name in flags:
            raise ValueError("must be true or false")
        return value
    #: the JSON names Magec's own admin UI edits: absent from a PUT they go back to their default
    #: (that UI leaves out what is off or empty); other absent fields keep their stored value. None:
    #: every absent field is kept. The merge rule: :mod:`magec.store.merge`.
    magec_fields: ClassVar[frozenset[str] | None] = None
    #: legacy flat key -> the nested container it is an older form of (e.g. ``speed`` -> ``config``)
    legacy: ClassVar[dict[str, str]] = {}

    def dump(self) -> dict[str, Any]:
        """camelCase JSON-ready dict (the raw form stored and returned)."""
        return self.model_dump(by_alias=True, mode="json")


class Resource(_Model):
    """Base of the id-carrying resources. ``kind`` is the store key and the Admin API path."""

    kind: ClassVar[str] = ""
    #: Admin API collection segment (``/api/v1/admin/<path>``; Magec's URLs, e.g. ``mcps``)
    path: ClassVar[str] = ""
    #: the kind's name in messages and in reference lists (``referrerType``), e.g. ``mcpServer``
    singular: ClassVar[str] = ""
    #: outgoing references (the reference graph is the union of these)
    references: ClassVar[tuple[RefSpec, ...]] = ()
    #: stored fields the Admin API never returns (e.g. a client's token hash)
    hidden: ClassVar[tuple[str, ...]] = ()
    #: stored fields magec keeps for the resource, not settings an admin edits (a client's issued
    #: token's hash and preview): writing them alone does not move ``updatedAt`` (magec.store.stamps)
    bookkeeping: ClassVar[tuple[str, ...]] = ()
    #: runs as an app (agent, flow): the runtime builds it and reports its validity
    runnable: ClassVar[bool] = False
    #: JSON paths of fields that are write-only and encrypted at rest (unless a pure ``${REF}``).
    sensitive: ClassVar[tuple[str, ...]] = ()
    #: URL fields: encrypted when they carry credentials (``user:pass@``, ``?key=``), shown masked.
    secret_urls: ClassVar[tuple[str, ...]] = ()
    #: sensitive path -> fields it is bound to: a stored value is only kept (and so only sent)
    #: while those fields are unchanged, e.g. a backend key is never redirected to another URL.
    bound: ClassVar[dict[str, tuple[str, ...]]] = {}
    id: str = Field(default="", max_length=64)
    name: str = Field(max_length=MAX_NAME)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        # the server makes ids (UUIDs); only an import keeps one from its file, and importers join
        # ids to paths (a Magec G1 skill's files are ``<data>/skills/<id>/``): an id is one plain
        # path segment, so an absolute or ``..`` id cannot name a file outside that directory
        if v in (".", "..") or "/" in v or "\\" in v or _CONTROL_CHARS.search(v):
            raise ValueError("must be a plain id (no '/', '\\', control characters, '.' or '..')")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name is required")
        return v


class Toggle(_Model):
    magec_fields: ClassVar[frozenset[str] | None] = frozenset({"enabled"})
    enabled: bool = False


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_OUTPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
