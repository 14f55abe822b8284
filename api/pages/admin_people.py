"""Administrators' pages of people: the organisations under theirs, the accounts there, and the posts they hold.

Every change goes through ``identity.admin``, which keeps each administrator to the organisations under their own
and the people at home there. A post other than staff is asked for, and listed on the users' page until a second
administrator approves or rejects it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import RowId, RuntimeDep
from api.i18n import CHINA
from api.pages.administrators import PeopleAdmin as Admin
from api.pages.base import N_, FormDep, Viewer, redirect, render, text
from core.errors import Invalid
from identity import admin, grant_requests
from identity.models import GrantRequest, PostGrant
from identity.posts import OrgKind, Post

router = APIRouter(include_in_schema=False)
Choice = TypeVar("Choice", bound=StrEnum)
KINDS = (N_("district"), N_("township"), N_("village"), N_("community"), N_("group"), N_("bureau"))


@router.get("/admin/organisations")
def organisations(request: Request, who: Admin, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        tree = _tree(session, who)
    return render(request, who, "admin/organisations.html", tree=tree, kinds=[str(k) for k in OrgKind])


def _tree(session: Session, who: Viewer) -> list[dict[str, Any]]:
    return [
        {"depth": depth, "code": org.code, "name": org.name, "kind": org.kind, "uscc": org.uscc}
        for depth, org in admin.list_organisations(session, who.principal)
    ]


@router.post("/admin/organisations")
def add_organisation(who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        admin.add_organisation(
            session,
            who.principal,
            code=text(form, "code"),
            name=text(form, "name"),
            kind=_choice(OrgKind, text(form, "kind")),
            parent=text(form, "parent"),
            uscc=text(form, "uscc") or None,
            now=rt.clock.now(),
        )
    return redirect("/admin/organisations", done=N_("The organisation was added."))


@router.get("/admin/users")
def users(request: Request, who: Admin, rt: RuntimeDep, q: str = "") -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        waiting = admin.grant_requests_of(session, who.principal, now)
        names = grant_requests.names(session, waiting)
        asked = [_asked(a, names, who.principal.user_id) for a in waiting]
        found = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "active": u.active,
                "home": u.home_organisation.name if u.home_organisation else "",
            }
            for u in admin.users(session, who.principal, now, search=q.strip()[:64])
        ]
        tree = _tree(session, who)
    return render(request, who, "admin/users.html", users=found, q=q, tree=tree, asked=asked)


def _asked(asked: GrantRequest, names: dict[int, str], me: int) -> dict[str, Any]:
    return {
        "id": asked.id,
        "username": asked.user.username,
        "display_name": asked.user.display_name,
        "post": asked.post,
        "organisation": asked.organisation.name,
        "valid_from": asked.valid_from,
        "valid_until": asked.valid_until,
        "asked_by": names.get(asked.requested_by_id, ""),
        "requested_at": asked.requested_at,
        "mine": asked.requested_by_id == me,
    }


@router.post("/admin/grant-requests/{request_id}/approve")
def approve(request_id: RowId, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        admin.decide(session, who.principal, request_id=request_id, approve=True, now=rt.clock.now())
    return redirect("/admin/users", done=N_("Approved: the post was granted."))


@router.post("/admin/grant-requests/{request_id}/reject")
def reject(request_id: RowId, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        admin.decide(session, who.principal, request_id=request_id, approve=False, now=rt.clock.now())
    return redirect("/admin/users", done=N_("The post asked for was rejected."))


@router.post("/admin/users")
def add_user(who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    username = text(form, "username")
    with rt.sessions() as session:
        admin.add_user(
            session,
            who.principal,
            username=username,
            display_name=text(form, "display_name"),
            password=text(form, "password"),
            home=text(form, "home") or None,
            now=rt.clock.now(),
        )
    return redirect(f"/admin/users/{username}", done=N_("The account was created: grant it its posts."))


@router.get("/admin/users/{username}")
def user(request: Request, username: str, who: Admin, rt: RuntimeDep) -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        grants = [_grant(g, now) for g in admin.grants_of(session, who.principal, username, now)]
        account = admin.account(session, who.principal, username, now)
        theirs = [a for a in admin.grant_requests_of(session, who.principal, now) if a.user_id == account.id]
        names = grant_requests.names(session, theirs)
        asked = [_asked(a, names, who.principal.user_id) for a in theirs]
        shown = {
            "username": account.username,
            "display_name": account.display_name,
            "active": account.active,
            "home": account.home_organisation.name if account.home_organisation else "",
        }
        tree = _tree(session, who)
    return render(
        request,
        who,
        "admin/user.html",
        account=shown,
        grants=grants,
        asked=asked,
        tree=tree,
        posts=[str(p) for p in Post],
    )


def _grant(grant: PostGrant, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": grant.id,
        "post": grant.post,
        "organisation": grant.organisation.name,
        "code": grant.organisation.code,
        "valid_from": grant.valid_from,
        "valid_until": grant.valid_until,
        "in_force": grant.active_at(now),
        "ended": grant.valid_until is not None and grant.valid_until <= now,
    }


@router.post("/admin/users/{username}/posts")
def grant(username: str, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    now = rt.clock.now()
    with rt.sessions() as session:
        done = admin.grant(
            session,
            who.principal,
            username=username,
            post=_choice(Post, text(form, "post")),
            organisation=text(form, "organisation"),
            valid_from=_local(text(form, "valid_from")) or now,
            valid_until=_local(text(form, "valid_until")),
            now=now,
        )
    if isinstance(done, GrantRequest):
        return redirect("/admin/users", done=N_("Asked: a second administrator must approve the post."))
    return redirect(f"/admin/users/{username}", done=N_("The post was granted."))


@router.post("/admin/users/{username}/posts/end")
def end_grant(username: str, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    grant_id = text(form, "grant")
    if not grant_id.isdigit():
        raise Invalid("choose the post to end")
    now = rt.clock.now()
    with rt.sessions() as session:
        admin.end_grant(session, who.principal, username=username, grant_id=int(grant_id), at=now, now=now)
    return redirect(f"/admin/users/{username}", done=N_("The post was ended."))


@router.post("/admin/users/{username}/disable")
def disable(username: str, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        admin.set_active(session, who.principal, username=username, active=False, now=rt.clock.now())
    return redirect(f"/admin/users/{username}", done=N_("The account was disabled."))


@router.post("/admin/users/{username}/enable")
def enable(username: str, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        admin.set_active(session, who.principal, username=username, active=True, now=rt.clock.now())
    return redirect(f"/admin/users/{username}", done=N_("The account was enabled."))


def _choice(kind: type[Choice], value: str) -> Choice:
    try:
        return kind(value)
    except ValueError:
        raise Invalid(f"{value!r} is not one of {', '.join(kind)}") from None


def _local(value: str) -> dt.datetime | None:
    """A time typed in a form (``datetime-local``), in China Standard Time; none when left empty."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=CHINA).astimezone(dt.UTC)
    except ValueError:
        raise Invalid(f"{value!r} is not a date and time") from None
