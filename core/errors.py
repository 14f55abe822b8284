"""Errors shared by every app.

``ConfigError`` names the setting at fault, so a misconfigured service says what to fix in one line.
``DomainError`` subclasses carry a stable problem type and an HTTP status, so the API layer turns any of them
into RFC 9457 problem details without knowing the app that raised it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar


class ConfigError(Exception):
    """A setting that stops the service from starting; ``setting`` is its ``SEALGATE_...`` name."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


class DomainError(Exception):
    status: ClassVar[int] = 400
    problem: ClassVar[str] = "bad-request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(DomainError):
    status = 404
    problem = "not-found"


class Conflict(DomainError):
    status = 409
    problem = "conflict"


class Invalid(DomainError):
    status = 422
    problem = "invalid"


class Unauthorized(DomainError):
    status = 401
    problem = "unauthorized"


class Forbidden(DomainError):
    status = 403
    problem = "forbidden"


class TooManyRequests(DomainError):
    status = 429
    problem = "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


def json_pointer(parts: Iterable[object]) -> str:
    """Where in a document an error is, as a JSON pointer (RFC 6901): each part after a slash, with ``~`` and
    ``/`` escaped, so that a key holding either cannot point elsewhere."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)
