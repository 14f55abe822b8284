"""Request forms: the matter's JSON Schema, fields the applicant's profile knows filled in by the server, and
computed fields (a subsidy is area x rate x cycles) computed here, never taken from the client.

Expressions are evaluated with simpleeval over the form values and the matter's tables only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from typing import Any

import simpleeval
from jsonschema.exceptions import ValidationError

from core.errors import Invalid, json_pointer
from identity.idcard import InvalidIdNumber, mask_name
from identity.idcard import validate as validate_id_number
from workflow import personal
from workflow.catalog import Matter

FUNCTIONS = {"round": round, "min": min, "max": max, "abs": abs}
PROFILE_KEY = "x-profile"


class InvalidForm(Invalid):
    problem = "invalid-form"


def _pointer(parts: list[Any]) -> str:
    return json_pointer(["form", *parts])


# Keywords whose value the error carries as its ``limit``, so that a page can say the limit in its own words.
_LIMITS = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "multipleOf"}
)


def _describe(error: ValidationError) -> dict[str, Any]:
    """An error as the API gives it: where (``pointer``), jsonschema's words (``message``), and the keyword that
    refused the value (``type``) with its ``limit`` or ``expected`` type."""
    path = list(error.absolute_path)
    # Point at the missing or unexpected property itself, not at the object that lacks or has it.
    if error.validator == "required" and isinstance(error.instance, dict) and isinstance(error.validator_value, list):
        path += [name for name in error.validator_value if name not in error.instance][:1]
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        path += sorted(set(error.instance) - set(schema.get("properties", {})))[:1]
    described: dict[str, Any] = {"pointer": _pointer(path), "message": error.message, "type": str(error.validator)}
    if error.validator in _LIMITS and isinstance(error.validator_value, int | float):
        described["limit"] = error.validator_value
    elif error.validator == "type" and isinstance(error.validator_value, str):
        described["expected"] = error.validator_value
    return described


def _check(matter: Matter, values: dict[str, Any]) -> None:
    errors = sorted(matter.validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    described = [_describe(e) for e in errors]
    for name, prop in matter.form.get("properties", {}).items():
        if prop.get(PROFILE_KEY) == "id_number" and isinstance(values.get(name), str):
            try:
                validate_id_number(values[name])
            except InvalidIdNumber as exc:
                described.append({"pointer": _pointer([name]), "message": exc.detail, "type": "id-number"})
    if described:
        first = described[0]
        raise InvalidForm(f"{first['pointer']}: {first['message']}", errors=described)


def profile_fields(matter: Matter) -> dict[str, str]:
    """Form property -> the profile item (name, id_number, ssn) that fills it."""
    return {
        name: str(prop[PROFILE_KEY])
        for name, prop in matter.form.get("properties", {}).items()
        if isinstance(prop, dict) and PROFILE_KEY in prop
    }


def prepare(matter: Matter, submitted: Mapping[str, Any], profile: Mapping[str, str | None]) -> dict[str, Any]:
    """The form as it will be stored: submitted values, profile values over them, computed values over all."""
    values = {k: v for k, v in submitted.items() if k not in matter.computed}
    for name, source in profile_fields(matter).items():
        known = profile.get(source)
        if known:
            values[name] = known
    _check(matter, values)
    values.update(compute(matter, values))
    _check(matter, values)
    return values


def compute(matter: Matter, values: Mapping[str, Any]) -> dict[str, Any]:
    """The matter's computed fields over ``values``: what a request stores, and what its form shows as it is
    typed, from the one evaluation."""
    names: dict[str, Any] = {**values, **matter.tables}
    computed: dict[str, Any] = {}
    for name, expression in matter.computed.items():
        try:
            result = simpleeval.simple_eval(expression, names=names, functions=FUNCTIONS)
        except (simpleeval.InvalidExpression, KeyError, TypeError, ZeroDivisionError, ValueError) as exc:
            raise InvalidForm(
                f"{_pointer([name])}: cannot be computed from the form ({exc})",
                errors=[{"pointer": _pointer([name]), "message": f"cannot be computed: {exc}", "type": "computed"}],
            ) from None
        computed[name] = names[name] = result
    return computed


def refuse_anchor(anchor: str, values: Mapping[str, Any], **texts: str | None) -> None:
    """Refuse a form value, or another text the applicant gives (``texts``: purpose, place), that holds ``anchor``.

    A seal is stamped over the first place a document prints its anchor text, and a template prints an applicant's
    values above its own anchor: a value holding it would move the seal from the organisation's line onto the
    applicant's words. Compared with spaces and invisible characters left out and compatibility forms folded
    ("(盖 章)" holds "（盖章）"), since a text search may see past them."""
    wanted = _folded(anchor)
    if not wanted:  # an anchor of spaces alone: nothing a value could hold
        return
    found = [
        {
            "pointer": pointer,
            "message": f"may not hold {anchor!r}, the text the seal is stamped over",
            "type": "anchor",
            "text": anchor,
        }
        for pointer, text in [*_texts(values, []), *((f"/{k}", v) for k, v in texts.items() if v is not None)]
        if wanted in _folded(text)
    ]
    if found:
        first = found[0]
        raise InvalidForm(f"{first['pointer']}: {first['message']}", errors=found)


def _texts(value: Any, parts: list[Any]) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield _pointer(parts), value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _texts(item, [*parts, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, [*parts, index])


def _folded(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKC", text) if not c.isspace() and unicodedata.category(c) != "Cf"
    )


def masked(matter: Matter, values: Mapping[str, Any], *, names: bool) -> dict[str, Any]:
    """The form as shown to anyone but its applicant: every ID, phone, bank-account and social-security number
    (known by its field's format, wherever the value came from) shown only at its ends, and names too if ``names``."""
    shown: dict[str, Any] = personal.masked_values(matter.form, values)
    if names:
        for name, source in profile_fields(matter).items():
            value = shown.get(name)
            if source == "name" and isinstance(value, str):
                shown[name] = mask_name(value)
    return shown
