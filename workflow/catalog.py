"""The matters catalogue: what a village may use its seals for, who approves it, and what it may not certify.

The catalogue is data (``workflow/data/catalog.yaml``), checked here as a whole: every reference resolves, every
form is a valid JSON Schema, every computed field is an expression over the form and the matter's tables, every
document template exists. Requests keep the catalogue version they were submitted under, so a later edit never
changes the chain of a request already on its way.
"""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from identity.posts import Post

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"
_CODE = re.compile(r"^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$")
FUNCTIONS = frozenset({"round", "min", "max", "abs"})


class SealForm(StrEnum):
    ELECTRONIC = "electronic"
    PHYSICAL = "physical"


class UseClass(StrEnum):
    """The four legal bases of a village's seal use, each with its own approval route."""

    CIVIL = "civil"  # civil acts in performing its duties
    COLLECTIVE = "collective"  # acting for the village collective economic organisation
    AUTHORISED = "authorised"  # functions authorised by law
    ASSISTING = "assisting"  # assisting the township government


class Scope(StrEnum):
    """Whose post holders approve a level, relative to the request."""

    GROUP = "group"  # the village group the request comes from
    ORGANISATION = "organisation"  # the organisation whose seal is used
    PARENT = "parent"  # that organisation's parent (township or district)


class Mode(StrEnum):
    ANY = "any"  # 或签: one holder decides
    ALL = "all"  # 会签: every holder approves
    MAJORITY = "majority"  # 两委联席会议: more than half of the holders approve


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SealKind(_Model):
    name: str = Field(min_length=1, description="e.g. 村民委员会公章")
    purpose: str | None = Field(
        default=None,
        min_length=1,
        max_length=8,
        description="a special-purpose seal's line under the star, e.g. 财务专用章; none for an official seal (公章)",
    )
    forms: tuple[SealForm, ...] = Field(min_length=1)


class Level(_Model):
    label: str = Field(min_length=1, description="e.g. 村民小组长审核")
    post: Post
    scope: Scope
    mode: Mode = Mode.ANY
    hours: float = Field(gt=0, le=24 * 90, description="time limit of the level")


class Chain(_Model):
    name: str = Field(min_length=1)
    levels: tuple[Level, ...] = Field(min_length=1, max_length=8)


class Bureau(_Model):
    name: str = Field(min_length=1, description="e.g. 区农业农村局")


class Matter(_Model):
    code: str = Field(pattern=_CODE.pattern, max_length=64)
    name: str = Field(min_length=1)
    use_class: UseClass = Field(alias="class")
    description: str = Field(min_length=1)
    basis: str | None = Field(default=None, description="the rule that makes this a village's business")
    seals: tuple[str, ...] = Field(min_length=1)
    forms: tuple[SealForm, ...] = Field(min_length=1)
    chain: str
    destination: str | None = None
    form: dict[str, Any]
    tables: dict[str, dict[str, float]] = Field(default_factory=dict)
    computed: dict[str, str] = Field(default_factory=dict)
    template: str | None = None
    certify: bool = Field(default=False, description="the first seal certifies the document (DocMDP)")
    paging_seal: bool = Field(default=False, description="a paging seal (骑缝章) across the pages' right edges")

    @cached_property
    def validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.form)


class NegativeItem(_Model):
    code: str = Field(pattern=_CODE.pattern, max_length=64)
    name: str = Field(min_length=1, description="the certificate villages must not issue")
    rule: str = Field(min_length=1, description="the rule cited to the applicant")
    reason: str = Field(min_length=1)


class Catalog(_Model):
    version: Literal[1]
    classes: dict[UseClass, str]
    seals: dict[str, SealKind]
    chains: dict[str, Chain]
    bureaus: dict[str, Bureau]
    matters: tuple[Matter, ...]
    negative_list: tuple[NegativeItem, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        problems: list[str] = []
        codes = [m.code for m in self.matters] + [n.code for n in self.negative_list]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            problems.append(f"codes used twice: {', '.join(duplicates)}")
        if set(self.classes) != set(UseClass):
            problems.append("classes must name exactly the four classes of seal use")
        for matter in self.matters:
            problems += [f"matter {matter.code}: {p}" for p in self._matter_problems(matter)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _matter_problems(self, matter: Matter) -> list[str]:
        problems = [f"unknown seal kind {s!r}" for s in matter.seals if s not in self.seals]
        for kind in (self.seals[s] for s in matter.seals if s in self.seals):
            if not set(matter.forms) <= set(kind.forms):
                problems.append(f"the seal {kind.name} does not exist in every form the matter allows")
        if matter.chain not in self.chains:
            problems.append(f"unknown chain {matter.chain!r}")
        if matter.destination is not None and matter.destination not in self.bureaus:
            problems.append(f"unknown destination bureau {matter.destination!r}")
        try:
            Draft202012Validator.check_schema(matter.form)
        except SchemaError as exc:
            problems.append(f"form is not a JSON Schema: {exc.message}")
            return problems
        if matter.form.get("type") != "object":
            problems.append("form must be a JSON Schema of type object")
        fields = set(matter.form.get("properties", {}))
        for name, expression in matter.computed.items():
            if name not in fields:
                problems.append(f"computed field {name!r} is not a form property")
            problems += [f"computed field {name!r}: {p}" for p in expression_problems(expression, fields, matter)]
        if matter.template is not None:
            problems += template_problems(matter.template)
        return problems

    @cached_property
    def _by_code(self) -> dict[str, Matter]:
        return {m.code: m for m in self.matters}

    def matter(self, code: str) -> Matter | None:
        return self._by_code.get(code)

    def refused(self, code: str) -> NegativeItem | None:
        return next((n for n in self.negative_list if n.code == code), None)


def template_problems(name: str, templates: Path = TEMPLATES) -> list[str]:
    """A template is a plain file name of ``templates``: a path would let a catalogue point at any file on the
    host, which the renderer then refuses at every submission of the matter."""
    if not name or ".." in name or any(c in name for c in "/\\\0") or Path(name).is_absolute():
        return [f"document template {name!r} must be a plain file name in templates/documents"]
    path = templates / name
    if not path.is_file() or path.resolve().parent != templates.resolve():
        return [f"no document template {name!r} in templates/documents"]
    return []


def expression_problems(expression: str, fields: set[str], matter: Matter) -> list[str]:
    """Names in a computed field must be form fields, tables of the matter or the few allowed functions."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        return [f"not an expression: {exc.msg}"]
    allowed = fields | set(matter.tables) | FUNCTIONS
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in allowed})
    return [f"unknown name {name!r}" for name in unknown]


def parse(data: dict[str, Any]) -> Catalog:
    return Catalog.model_validate(data)
