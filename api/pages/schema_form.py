"""A matter's form (its JSON Schema) as HTML fields, and the typed values read back from the posted form.

Fields are named ``form.<property>``. Strings, numbers, integers, enums (a select), booleans (a checkbox) and
dates are shown with the schema's ``title`` as label and its ``description`` as a hint; what the applicant's
profile fills in is shown masked and not asked; computed fields are shown as they are computed, never asked.
Values are only read here: the schema is checked, and computed fields computed, by ``workflow.forms``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from core.errors import json_pointer
from workflow.catalog import Matter

PREFIX = "form."


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    hint: str
    kind: str  # text, date, number, integer, enum, boolean, profile (filled in from the profile), computed
    required: bool
    options: tuple[str, ...]
    value: Any
    error: str | None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _kind(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "enum"
    kind = prop.get("type")
    if kind in ("number", "integer", "boolean"):
        return str(kind)
    return "date" if prop.get("format") == "date" else "text"


def _properties(matter: Matter) -> dict[str, dict[str, Any]]:
    """The schema's properties, required ones first in the order ``required`` lists them: a catalogue version is
    stored as canonical JSON, whose keys are sorted, so the properties' own order is not kept, the list's is."""
    props = matter.form.get("properties", {})
    required = [name for name in matter.form.get("required", []) if name in props]
    ordered = required + sorted(set(props) - set(required), key=list(props).index)
    return {name: props[name] for name in ordered if isinstance(props[name], dict)}


def titles(matter: Matter) -> dict[str, str]:
    """Each property's title (its name if it has none), in the order the form shows them."""
    return {name: str(prop.get("title", name)) for name, prop in _properties(matter).items()}


def field_pointer(name: str) -> str:
    """Where the service's errors point for the form's field ``name``."""
    return json_pointer(["form", name])


def fields(
    matter: Matter,
    prefill: Mapping[str, Any],
    values: Mapping[str, Any],
    errors: Sequence[Mapping[str, Any]] = (),
) -> list[Field]:
    """The form's fields, required first, with the values typed (or stored) and the errors found."""
    required = set(matter.form.get("required", []))
    by_pointer = {e["pointer"]: e["message"] for e in reversed(errors) if "pointer" in e}
    shown = []
    for name, prop in _properties(matter).items():
        kind = "computed" if name in matter.computed else "profile" if name in prefill else _kind(prop)
        value = prefill[name] if kind == "profile" else values.get(name)
        low = prop.get("minimum", prop.get("exclusiveMinimum"))
        high = prop.get("maximum", prop.get("exclusiveMaximum"))
        shown.append(
            Field(
                name=name,
                label=str(prop.get("title", name)),
                hint=str(prop.get("description", "")),
                kind=kind,
                required=name in required,
                options=tuple(str(o) for o in prop.get("enum", ())),
                value=value,
                error=by_pointer.get(field_pointer(name)),
                minimum=low if isinstance(low, int | float) else None,
                maximum=high if isinstance(high, int | float) else None,
                max_length=prop.get("maxLength") if isinstance(prop.get("maxLength"), int) else None,
            )
        )
    return shown


def _number(raw: str, integer: bool) -> Any:
    """The number typed, or the text itself when it is not one, so that the schema names the mistake."""
    try:
        number = int(raw) if integer else float(raw)
    except ValueError:
        return raw
    if isinstance(number, float):
        if not math.isfinite(number):
            return raw
        if number.is_integer() and "." not in raw and "e" not in raw.lower():
            return int(number)
    return number


def read(matter: Matter, form: FormData, *, numbers_only: bool = False) -> dict[str, Any]:
    """The values typed into the form's fields: empty fields left out, numbers as numbers, a checkbox as a
    boolean; computed fields are not read. A number field holding something else keeps its text, for the schema
    to refuse, or with ``numbers_only`` is left out (a preview computes nothing from it)."""
    values: dict[str, Any] = {}
    for name, prop in _properties(matter).items():
        if name in matter.computed:
            continue
        kind = _kind(prop)
        raw = form.get(PREFIX + name)
        if kind == "boolean":
            values[name] = isinstance(raw, str) and raw in ("on", "true")
            continue
        if not isinstance(raw, str) or not raw.strip():
            continue
        text = raw.strip()
        value = _number(text, kind == "integer") if kind in ("number", "integer") else text
        if not (numbers_only and kind in ("number", "integer") and isinstance(value, str)):
            values[name] = value
    return values
