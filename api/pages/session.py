"""The browser's session: the service's own bearer token, carried in an HttpOnly, SameSite cookie, and the CSRF
token every form carries.

A signed-in form's CSRF token is an HMAC of the session token, so it needs no storage and dies with the session;
another site can neither read the cookie nor compute the token. The sign-in form, which has no session yet, uses
a random token in a cookie of its own that the form repeats (double submit), so that no other site can sign a
browser in under its own account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "sg_session"
SIGN_IN_COOKIE = "sg_signin"
CSRF_FIELD = "csrf"


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"sealgate csrf", hashlib.sha256).hexdigest()[:40]


def sign_in_token() -> str:
    return secrets.token_urlsafe(24)


def same(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def secure(request: Request) -> bool:
    """Cookies are marked Secure when the service is reached over HTTPS (behind a proxy: its public URL)."""
    return (
        request.url.scheme == "https" or urlsplit(str(request.app.state.runtime.settings.public_url)).scheme == "https"
    )


def set_session(request: Request, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure(request), path="/"
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def set_sign_in(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=secure(request), path="/login"
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site only, never another host (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
