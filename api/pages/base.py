"""What every page shares: the signed-in viewer, the posts a page needs, forms checked for their CSRF token,
and rendering in the viewer's language.

A page names the posts it is for with ``Requires`` (any one of them will do; none: anyone signed in). That is the
coarse gate of the menu; what a user may do with a particular request, machine or seal is still decided by the
services the page calls, as for the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from api.deps import RuntimeDep, authenticate
from api.i18n import LANGUAGE_COOKIE, language, pages
from api.pages import session as cookies
from core.errors import DomainError, Forbidden, Unauthorized
from identity.auth import Principal

MAX_FORM_FIELDS = 200
MAX_FIELD_BYTES = 64 * 1024


# Which posts each part of the application is for; the menu and the pages' Requires use the same sets.
ROLES: dict[str, frozenset[str]] = {
    "approvers": frozenset({"staff", "group_leader", "secretary", "committee_member", "seal_admin"}),
    "machine_keepers": frozenset({"custodian", "seal_admin", "inspector", "admin"}),
    "inspectors": frozenset({"inspector"}),
    "bureaus": frozenset({"bureau"}),
    "administrators": frozenset({"admin", "cert_admin", "seal_admin"}),
}


class SignInNeeded(Unauthorized):
    """A page opened without a live session: the browser is sent to the sign-in page, then back."""

    problem = "unauthorized"


class BadCsrf(Forbidden):
    problem = "forbidden"


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    token: str
    lang: str

    @property
    def csrf(self) -> str:
        return cookies.csrf_for(self.token)

    @property
    def posts(self) -> frozenset[str]:
        return frozenset(p.post for p in self.principal.posts)

    def holds_any(self, *posts: str) -> bool:
        return bool(self.posts.intersection(posts))

    def may(self, role: str) -> bool:
        """Whether the menu shows the part of the application for ``role`` (a key of ROLES)."""
        return bool(self.posts & ROLES[role])


def viewer_if_any(request: Request, rt: RuntimeDep) -> Viewer | None:
    """The signed-in viewer of a page anyone may open (verification, a record), or None."""
    token = request.cookies.get(cookies.SESSION_COOKIE)
    try:
        principal = authenticate(rt, token)
    except Unauthorized:
        return None
    assert token is not None
    return Viewer(principal, token, language(request))


ViewerIfAnyDep = Annotated[Viewer | None, Depends(viewer_if_any)]


def viewer(request: Request, rt: RuntimeDep) -> Viewer:
    token = request.cookies.get(cookies.SESSION_COOKIE)
    try:
        principal = authenticate(rt, token)
    except Unauthorized:
        raise SignInNeeded("sign in to open this page") from None
    assert token is not None
    return Viewer(principal, token, language(request))


ViewerDep = Annotated[Viewer, Depends(viewer)]


class Requires:
    """The page is for holders of any of ``posts`` (none named: anyone signed in); others get 403."""

    def __init__(self, *posts: str) -> None:
        self.posts = posts

    def __call__(self, who: ViewerDep) -> Viewer:
        if self.posts and not who.holds_any(*self.posts):
            raise Forbidden("this page is for " + ", ".join(self.posts))
        return who


def _role(role: str) -> Requires:
    return Requires(*sorted(ROLES[role]))


# The gates as types, first in a page's signature (``who: Approvers``): the viewer, once the post is checked.
SignedIn = Annotated[Viewer, Depends(Requires())]
Approvers = Annotated[Viewer, Depends(_role("approvers"))]
Keepers = Annotated[Viewer, Depends(_role("machine_keepers"))]
Inspectors = Annotated[Viewer, Depends(_role("inspectors"))]
Bureaus = Annotated[Viewer, Depends(_role("bureaus"))]
Administrator = Annotated[Viewer, Depends(_role("administrators"))]


async def checked_form(request: Request, who: ViewerDep) -> FormData:
    """The posted form once its CSRF token matches the session's, and the Origin, when sent, is this site."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise BadCsrf("the form was sent from another site")
    form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)
    given = form.get(cookies.CSRF_FIELD)
    if not cookies.same(who.csrf, given if isinstance(given, str) else None):
        raise BadCsrf("the form's security token is missing or stale: reload the page and send it again")
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def render(
    request: Request,
    who: Viewer | None,
    template: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = who.lang if who is not None else language(request)
    html = (
        pages(lang).get_template(template).render(viewer=who, path=request.url.path, notice=_notice(request), **context)
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers.setdefault("Cache-Control", "no-store")
    if "lang" in request.query_params:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


_NOTICES: set[str] = set()


def N_(message: str) -> str:
    """Marks a message for the catalogues (Babel extracts ``N_``); it is translated where it is shown."""
    return message


# What the error page says of each kind of problem a page may meet, in the viewer's language; the service's own
# (English) detail follows, for whoever is asked to help.
PROBLEM_WORDS = {
    "blob-too-large": N_("The file is larger than the service accepts."),
    "busy": N_("The service is busy; try again in a moment."),
    "conflict": N_("This cannot be done as things stand now."),
    "forbidden": N_("You may not do this."),
    "invalid-id-number": N_("Not a valid resident identity card number."),
    "invalid-uscc": N_("Not a valid unified social credit code."),
    "level-decided": N_("This level of the request has been decided already, or is not under review any more."),
    "not-an-approver": N_("You do not decide this level of the request."),
    "not-found": N_("There is no such page, or you may not see it."),
    "payload-too-large": N_("What was sent is larger than this page takes."),
    "reason-needed": N_("A rejection or a return needs a reason: write it in the comment."),
    "request-state": N_("The request's state does not allow this now."),
    "separation-of-duties": N_("Separation of duties: you may not make this decision on this request."),
    "too-many-attempts": N_("Too many failed sign-ins; wait a while before trying again."),
    "too-many-requests": N_("Too many requests; try again in a moment."),
    "unroutable": N_("Nobody can decide a level of this request; ask the administrator to fill the post."),
    "weak-password": N_("The password is too weak."),
}

# What a page says of a refusal that names the rule that refused it (its ``rule`` extension), in the viewer's
# language; it comes before the words of its kind of problem.
RULE_WORDS = {
    # identity.delegation.RULES
    "starts-in-past": N_("A delegation cannot start in the past."),
    "ends-before-start": N_("The end must come after the start."),
    "too-long": N_("A delegation lasts at most a year."),
    "unknown-deputy": N_("There is no user by that name: check the deputy's user name."),
    "self": N_("You cannot hand a post to yourself."),
    "deputy-disabled": N_("That user's account is disabled."),
    "not-holder": N_("You do not hold that post now."),
    "deputy-elsewhere": N_(
        "The deputy holds no post in that organisation or the one above it; a deputy works where the post does."
    ),
    "overlaps": N_("You already handed this post to a deputy for part of that period."),
    # the delegations page's own
    "seat": N_("Choose one of your posts to hand over."),
    "start-not-a-time": N_("The start is not a date and time."),
    "end-not-a-time": N_("The end is not a date and time."),
    # identity.directory
    "organisation-code-taken": N_("An organisation with this code exists already."),
    "uscc-taken": N_("Another organisation has this unified social credit code."),
    "username-taken": N_("This user name is taken: choose another."),
    "post-overlaps": N_("The user holds this post in this organisation for part of that period already."),
    "last-administrator": N_("This is the last administrator there: grant the post to another first."),
    # identity.grant_requests
    "post-asked-already": N_("This post was asked for this user already: it waits for a second administrator."),
}


def redirect(path: str, done: str | None = None) -> RedirectResponse:
    """After a form: back to a page (303, so a reload does not post again), saying what was done.

    ``done`` is a message marked with ``N_``. Only messages the service itself sent are shown again, so a link
    made elsewhere cannot put words of its own on a page."""
    if done:
        _NOTICES.add(done)
        path += ("&" if "?" in path else "?") + "done=" + quote(done)
    return RedirectResponse(path, status_code=303)


def _notice(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in _NOTICES else None


def error_page(request: Request, exc: DomainError, status: int | None = None) -> Response:
    """A refused page in the page's language: a sign-in for a missing session, else the problem's detail."""
    status = status or exc.status
    if isinstance(exc, SignInNeeded) or (status == 401 and request.method == "GET"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
    said = RULE_WORDS.get(str(exc.extensions.get("rule"))) or PROBLEM_WORDS.get(exc.problem)
    return render(request, None, "error.html", status=status, status_code=status, said=said, detail=exc.detail)
