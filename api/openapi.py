"""The OpenAPI document as the service answers: every operation lists the problems it can answer (RFC 9457, as
``application/problem+json`` with one ``Problem`` schema; a page's as the HTML page it shows), and every schema a
route names by reference is in the document."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.problems import MEDIA_TYPE, is_page_path
from api.schemas_workflow import RequestIn
from identity import delegation
from signer import verification

# Bodies a route reads itself (JSON, or a multipart part) and names by reference in its openapi_extra.
NAMED_BODIES: tuple[type[BaseModel], ...] = (RequestIn,)

PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as problem details (RFC 9457); GET on `type` describes the kind of problem.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "the kind of problem, a path under /problems/"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the path the request was made to"},
        "request_id": {"type": "string", "description": "what the service's logs know the request by"},
        "kind": {
            "type": "string",
            "description": "for `document-refused`: which check refused the upload (empty, too-large, not-pdf, "
            "encrypted, no-pages, damaged, too-complex, active-content); for `unverifiable-pdf`: why the file "
            "cannot be verified (" + ", ".join(verification.KINDS) + ")",
        },
        "limit": {"type": "string", "description": "for kind too-large: the largest upload"},
        "rule": {
            "type": "string",
            "description": "the rule that refused the request, where one is named: for a delegation ("
            + ", ".join(delegation.RULES)
            + "); in administration, organisation-code-taken, uscc-taken, username-taken, post-overlaps, "
            "post-asked-already, last-administrator",
        },
        "errors": {
            "type": "array",
            "description": "for a validation error: each field at fault",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {
                        "type": "string",
                        "description": "what refused the value: a JSON Schema keyword of the matter's form "
                        "(`maximum`, `required`...), `anchor` (it holds the text the seal is stamped over), "
                        "`id-number` or `computed`; elsewhere, pydantic's error type",
                    },
                    "limit": {"type": "number", "description": "the keyword's limit (`maximum`, `maxLength`...)"},
                    "expected": {"type": "string", "description": "for `type`: the type the value should be"},
                    "text": {"type": "string", "description": "for `anchor`: the text the value may not hold"},
                },
            },
        },
    },
    "additionalProperties": True,
}

_WHY = {
    400: "The request cannot be understood (a malformed body or Idempotency-Key)",
    401: "No bearer token, or one unknown, expired or revoked",
    403: "The caller may not do this",
    404: "No such resource, or one the caller may not see",
    405: "The resource does not accept this method",
    409: "The request conflicts with the current state, or its Idempotency-Key with an earlier request",
    413: "The body is larger than this resource takes",
    415: "The body is not of a media type this resource takes",
    422: "The request does not match the schema, or is not acceptable",
    429: "Too many requests; retry after the time given",
    500: "The service failed; the request id identifies the failure in its logs",
    503: "The service cannot do this now; retry later",
}
_UNSAFE = {"post", "put", "patch", "delete"}


def problem_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer, from what it takes: every one can fail (500) or be given a
    request it cannot read (400); one with parameters or a body can be refused (422) or name what is not there
    (404); one behind a token can be unauthenticated (401) or not allowed (403); one that changes state can
    conflict (409) and has a bounded body (413); and any may be refused for load (429, 503)."""
    statuses = {400, 404, 422, 429, 500, 503}
    if operation.get("security"):
        statuses |= {401, 403}
    if method in _UNSAFE:
        statuses |= {401, 403, 409, 413, 415}
    return statuses


def _problem_responses() -> dict[str, Any]:
    """One shared response per status, as a problem document (``Problem400``...) and as a page (``Page400``...)."""
    shared: dict[str, Any] = {}
    for status, why in _WHY.items():
        problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
        shared[f"Problem{status}"] = {"description": why, "content": {MEDIA_TYPE: problem}}
        shared[f"Page{status}"] = {"description": why, "content": {"text/html": {"schema": {"type": "string"}}}}
    return shared


def _document_problems(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        kind = "Page" if is_page_path(path) else "Problem"
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(problem_statuses(path, method, operation)):
                known = responses.get(str(status))
                if known is None or _fastapi_default(known):
                    responses[str(status)] = {"$ref": f"#/components/responses/{kind}{status}"}
                elif "content" not in known:  # the route said why, not what: the problem document
                    shared = _problem_responses()[f"{kind}{status}"]
                    responses[str(status)] = {**shared, "description": known.get("description", shared["description"])}


def _fastapi_default(response: dict[str, Any]) -> bool:
    """FastAPI's own 422, whose body is not what the service answers."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _absolute_token_urls(document: dict[str, Any], public_url: str) -> None:
    """OpenAPI wants a flow's token URL absolute (a ``uri``); the routes name it by path."""
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        for flow in scheme.get("flows", {}).values():
            if "tokenUrl" in flow:
                flow["tokenUrl"] = urljoin(public_url + "/", flow["tokenUrl"])


def document(app: FastAPI) -> dict[str, Any]:
    """The document, built once (FastAPI's own cache is ``app.openapi_schema``)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    built = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas: dict[str, Any] = built.setdefault("components", {}).setdefault("schemas", {})
    for model in NAMED_BODIES:
        named = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(named.pop("$defs", {}))
        schemas[model.__name__] = named
    schemas["Problem"] = PROBLEM
    _absolute_token_urls(built, app.state.runtime.settings.public_url)
    built["components"].setdefault("responses", {}).update(_problem_responses())
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    _document_problems(built)
    app.openapi_schema = built
    return built
