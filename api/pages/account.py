"""Signing in and out, and the home page: what waits for the signed-in user."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from api.pages import session as cookies
from api.pages.base import N_, FormDep, SignedIn, Viewer, ViewerIfAnyDep, redirect, render
from core.errors import DomainError
from core.runtime import Runtime
from identity import auth
from physical_seal import alarms
from workflow import desk, inbox, listing, notify, sla, views

router = APIRouter(include_in_schema=False)
OPEN_STATES = ("submitted", "in_review", "returned", "approved", "authorised", "executing")


@router.get("/login")
def login_page(request: Request, who: ViewerIfAnyDep, next: str = "/") -> Response:
    if who is not None:
        return RedirectResponse(cookies.safe_next(next), status_code=303)
    token = cookies.sign_in_token()
    response = render(request, None, "login.html", sign_in_csrf=token, next=cookies.safe_next(next), username="")
    cookies.set_sign_in(request, response, token)
    return response


@router.post("/login")
def login(
    request: Request,
    rt: RuntimeDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = cookies.safe_next(next)
    if not cookies.same(request.cookies.get(cookies.SIGN_IN_COOKIE), csrf):
        return _again(request, target, username, N_("The sign-in form expired: please sign in again."), 403)
    try:
        with rt.sessions() as session:
            issued = auth.login(
                session,
                username=username,
                password=password,
                address=request.client.host if request.client else "-",
                now=rt.clock.now(),
                policy=rt.settings.auth,
            )
            session.commit()
    except auth.TooManyAttempts as exc:
        wait = _again(
            request, target, username, N_("Too many failed sign-ins: wait a moment and try again."), exc.status
        )
        wait.headers["Retry-After"] = str(exc.retry_after)
        return wait
    except DomainError as exc:
        return _again(request, target, username, N_("Unknown user, wrong password or disabled account."), exc.status)
    response = RedirectResponse(target, status_code=303)
    cookies.set_session(request, response, issued.token, issued.lifetime_seconds)
    response.delete_cookie(cookies.SIGN_IN_COOKIE, path="/login")
    return response


def _again(request: Request, target: str, username: str, error: str, status: int) -> Response:
    token = cookies.sign_in_token()
    response = render(
        request, None, "login.html", status=status, sign_in_csrf=token, next=target, username=username, error=error
    )
    cookies.set_sign_in(request, response, token)
    return response


@router.post("/logout")
def logout(who: SignedIn, form: FormDep, rt: RuntimeDep) -> Response:
    assert who.principal.token_id is not None
    with rt.sessions() as session:
        auth.revoke(session, who.principal.token_id, rt.clock.now())
        session.commit()
    response = redirect("/login")
    cookies.clear_session(response)
    return response


@router.get("/")
async def home(request: Request, who: SignedIn, rt: RuntimeDep) -> Response:
    tiles, notes = await run_in_threadpool(_waiting, rt, who)
    return render(request, who, "home.html", tiles=tiles, notifications=notes)


def _tile(label: str, count: int, href: str, urgent: bool = False) -> dict[str, Any]:
    return {"label": label, "count": count, "href": href, "urgent": urgent}


def _waiting(rt: Runtime, who: Viewer) -> tuple[list[dict[str, Any]], list[Any]]:
    """What waits for the user, one tile per part of the application they use."""
    now = rt.clock.now()
    principal = who.principal
    with rt.readers() as session:
        mine = sum(listing.requests(session, principal, state=state, size=1).total for state in OPEN_STATES)
        returned = listing.requests(session, principal, state="returned", size=1).total
        tiles = [
            _tile(N_("My requests in progress"), mine, "/requests"),
            _tile(N_("Returned to me"), returned, "/requests?state=returned", returned > 0),
        ]
        if who.may("approvers"):
            waiting = views.inbox(session, principal, now)
            overdue = any(step.due_at < now for step, _ in waiting)
            tiles.append(_tile(N_("Waiting for my decision"), len(waiting), "/inbox", overdue))
            failed = len(desk.failed_requests(session, principal))
            if failed:
                tiles.append(_tile(N_("Seals that failed"), failed, "/inbox", True))
        if who.may("machine_keepers"):
            open_alarms = alarms.listing(session, principal, open_only=True, machine_id=None, limit=alarms.MAX_LISTING)
            tiles.append(_tile(N_("Open alarms"), len(open_alarms), "/machines", bool(open_alarms)))
        if who.may("inspectors"):
            late = sla.overdue_for(session, principal, now)
            tiles.append(_tile(N_("Overdue steps"), len(late), "/supervision", bool(late)))
        if who.may("bureaus"):
            received, _ = inbox.listing(session, principal)
            week = sum(1 for r in received if r["received_at"] >= now - dt.timedelta(days=7))
            tiles.append(_tile(N_("Received this week"), week, "/bureau"))
        notes = notify.inbox(session, principal.user_id, unread=True)[:10]
    return tiles, notes
