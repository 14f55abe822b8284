"""What a refused request says, at each field of its form and about its document, in the viewer's language.

The service names each error of a form by the JSON Schema keyword that refused the value (``type``: ``maximum``,
``required``...) or by its own check (``anchor``, ``id-number``, ``computed``), with the keyword's ``limit``, and a
refused upload by the check that refused it (``kind``: ``not-pdf``, ``damaged``...); its words are English
(jsonschema's, pydantic's, qpdf's), which the API gives as they are. A page words the refusal from its kind
instead, keeps a PDF tool's technical words beside it, and shows a refusal of a kind not known here in the
service's own words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic_core import ErrorDetails

from api.i18n import translations
from api.pages.base import N_
from core.errors import json_pointer

MESSAGES = {
    "required": N_("Required"),
    "minimum": N_("At least %(limit)s"),
    "maximum": N_("At most %(limit)s"),
    "exclusiveMinimum": N_("More than %(limit)s"),
    "exclusiveMaximum": N_("Less than %(limit)s"),
    "minLength": N_("At least %(limit)s characters"),
    "maxLength": N_("At most %(limit)s characters"),
    "multipleOf": N_("A multiple of %(limit)s"),
    "enum": N_("Choose one of the options"),
    "pattern": N_("Not in the expected form"),
    "format": N_("Not in the expected form"),
    "additionalProperties": N_("Not a field of this form"),
    "id-number": N_("Not a valid resident identity card number"),
    "computed": N_("Cannot be computed from what was typed"),
    "anchor": N_("May not contain “%(text)s”: the seal is stamped over that text"),
}
DOCUMENT = {
    "empty": N_("The file is empty"),
    "too-large": N_("The PDF is larger than %(limit)s"),
    "not-pdf": N_("The file is not a PDF"),
    "encrypted": N_("The PDF is encrypted: upload it without a password"),
    "no-pages": N_("The PDF has no pages"),
    "damaged": N_("The PDF is damaged"),
    "too-complex": N_("The PDF is too complex to be checked"),
    "active-content": N_("The PDF holds scripts, attachments or other active content, which a sealed document may not"),
}
TECHNICAL = frozenset({"damaged", "too-complex", "active-content"})  # kinds whose detail names what was found
WITH_FINDING = N_("%(what)s (%(found)s)")
EXPECTED = {"integer": N_("Enter a whole number"), "number": N_("Enter a number")}
OTHER_TYPE = N_("Not the kind of value this field takes")

# pydantic's error types for the request's general fields (purpose, copies...), as the schema's keywords; the
# limit is in the error's context under the second name.
_PYDANTIC = {
    "missing": ("required", None),
    "string_too_short": ("minLength", "min_length"),
    "string_too_long": ("maxLength", "max_length"),
    "greater_than_equal": ("minimum", "ge"),
    "less_than_equal": ("maximum", "le"),
    "greater_than": ("exclusiveMinimum", "gt"),
    "less_than": ("exclusiveMaximum", "lt"),
}
_PYDANTIC_TYPES = {"int_parsing": "integer", "int_type": "integer", "int_from_float": "integer"}


def from_pydantic(error: ErrorDetails) -> dict[str, Any]:
    """A pydantic error of the request's body as the service gives a form's: pointer, message, keyword, limit."""
    found: dict[str, Any] = {"pointer": json_pointer(error["loc"]), "message": error["msg"]}
    kind, limit = _PYDANTIC.get(error["type"], (None, None))
    context = error.get("ctx") or {}
    if kind is not None:
        found["type"] = kind
        if limit is not None and isinstance(context.get(limit), int | float):
            found["limit"] = context[limit]
    elif error["type"] in _PYDANTIC_TYPES:
        found["type"], found["expected"] = "type", _PYDANTIC_TYPES[error["type"]]
    return found


def said(error: Mapping[str, Any], gettext: Callable[[str], str]) -> str:
    """The error in the words of ``gettext``'s language."""
    kind = error.get("type")
    if kind == "type":
        return gettext(EXPECTED.get(str(error.get("expected")), OTHER_TYPE))
    message = MESSAGES.get(str(kind))
    limit = error.get("limit")
    if message is None or ("%(limit)s" in message and limit is None):
        return str(error.get("message", ""))
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    return gettext(message) % {"limit": limit, "text": error.get("text", "")}


def translated(errors: Iterable[Mapping[str, Any]], lang: str) -> tuple[dict[str, Any], ...]:
    """Each error with its ``message`` in ``lang``."""
    gettext = translations(lang).gettext
    return tuple({**error, "message": said(error, gettext)} for error in errors)


def document(
    kind: str,
    limit: str | None,
    detail: str,
    gettext: Callable[[str], str],
    words: Mapping[str, str] = DOCUMENT,
    technical: frozenset[str] = TECHNICAL,
) -> str:
    """Why an upload was refused, in the words of ``gettext``'s language (``words`` by kind); what a PDF tool found
    kept beside it for the ``technical`` kinds."""
    message = words.get(kind)
    if message is None or (kind == "too-large" and limit is None):
        return detail
    said = gettext(message) % {"limit": limit}
    return gettext(WITH_FINDING) % {"what": said, "found": detail} if kind in technical else said
