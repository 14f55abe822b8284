"""RFC 9457 problem details for every error the API returns, with stable ``type`` URIs under ``/problems/``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.pages.base import error_page
from core.errors import DomainError, json_pointer
from core.logs import request_id

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"

# Titles of the problem types the API uses; GET /problems/{slug} serves them.
CATALOGUE: dict[str, str] = {
    "bad-request": "The request cannot be understood",
    "bad-media-type": "The body is not of the media type this resource takes",
    "ca-not-initialised": "The certificate authority has no hierarchy yet (sealgate ca init)",
    "conflict": "The request conflicts with the current state",
    "forbidden": "The request is not allowed for this user",
    "internal-error": "The service failed; the request id identifies the failure in its logs",
    "invalid": "The request is well formed but not acceptable",
    "invalid-credentials": "Unknown user, wrong password or disabled account",
    "invalid-token": "The bearer token is unknown, expired or revoked",
    "invalid-uscc": "Not a valid unified social credit code (GB 32100-2015)",
    "idempotency-key-in-use": "A request with this Idempotency-Key is still being processed",
    "idempotency-key-reused": "This Idempotency-Key was already used for a different request",
    "invalid-log-event": "The event cannot be written to the log",
    "method-not-allowed": "The resource does not accept this method",
    "not-found": "No such resource",
    "not-ready": "The service cannot serve requests yet",
    "payload-too-large": "The request body is larger than this resource takes",
    "busy": "The service is doing as much of this work as it may at once; retry after the time given",
    "too-many-attempts": "Too many failed sign-ins; wait before trying again",
    "too-many-requests": "Too many requests",
    "unauthorized": "Authentication is needed",
    "validation-error": "The request body or parameters do not match the schema",
    "weak-password": "The password does not meet the password rules",
    "bad-signature": "The HTTP message signature does not verify",
    "blob-too-large": "The upload is larger than the service accepts",
    "document-refused": "The document cannot be sealed: it is not a clean, unencrypted PDF",
    "invalid-catalog": "The matters catalogue is not valid",
    "invalid-form": "The form does not match the matter's form",
    "invalid-id-number": "Not a valid resident identity card number (GB 11643-1999)",
    "level-decided": "That level of the request is not under review any more",
    "negative-list": "Villages do not issue this certificate; the rule is cited",
    "not-an-approver": "The caller does not decide this step",
    "not-leader": "Another integrator holds the log",
    "backup-damaged": "The backup is not what it was when taken (sealgate restore names the file)",
    "backup-refused": "The backup cannot be taken as asked (sealgate backup says why)",
    "restore-refused": "The restore would overwrite, mix with or fork what is there (sealgate restore says why)",
    "reason-needed": "A rejection or a return needs a reason in the comment",
    "request-state": "The request's state does not allow this",
    "separation-of-duties": "Separation of duties forbids this decision",
    "unroutable": "Nobody could decide a level of this request",
    "not-yet-logged": "The seal is not in a published checkpoint yet; ask again in a few seconds",
    "unverifiable-pdf": "The file cannot be verified: not a signed PDF, encrypted, broken, or too costly to read",
}


def type_uri(slug: str) -> str:
    return f"/problems/{slug}"


def problem(
    status: int,
    slug: str,
    detail: str,
    *,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_uri(slug),
        "title": CATALOGUE.get(slug, HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    rid = request_id.get()
    if rid is not None:
        body["request_id"] = rid
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# Paths of the machine-readable interfaces; every other path is a page, whose errors are pages too.
_INTERFACES = ("/api/", "/ca/", "/log/", "/problems", "/metrics", "/healthz", "/readyz", "/openapi.json", "/static/")


def is_page(request: Request) -> bool:
    return is_page_path(request.url.path)


def is_page_path(path: str) -> bool:
    return not path.startswith(_INTERFACES)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path. Starlette names only those of the first route matching the
    path, where a path may have several (a GET and a POST), and a page's 405 names none."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if is_page(request):
            return error_page(request, exc)
        headers: dict[str, str] = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if exc.problem == "invalid-token" else "Bearer"
        if "retry_after" in exc.extensions:
            headers["Retry-After"] = str(exc.extensions["retry_after"])
        return problem(exc.status, exc.problem, exc.detail, request=request, headers=headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "pointer": json_pointer(err["loc"]),  # into the request part that failed: /body/copies
                "field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        if is_page(request):
            return error_page(request, DomainError(detail), 422)
        return problem(422, "validation-error", detail, request=request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        slug = {
            404: "not-found",
            405: "method-not-allowed",
            401: "unauthorized",
            403: "forbidden",
            413: "payload-too-large",
            422: "validation-error",
        }.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal-error")
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"nothing at {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
            headers["Allow"] = ", ".join(allowed_methods(request))
        if is_page(request):
            page = error_page(request, DomainError(detail), exc.status_code)
            page.headers.update(headers)
            return page
        return problem(exc.status_code, slug, detail, request=request, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if is_page(request):
            return error_page(request, DomainError("the service failed to handle the request"), 500)
        return problem(500, "internal-error", "the service failed to handle the request", request=request)
