"""Approvers: the inbox, overdue first, deciding a request with the document shown, and delegations to a deputy."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.deps import RowId, RuntimeDep
from api.i18n import CHINA
from api.pages.base import N_, ROLES, RULE_WORDS, Approvers, FormDep, Viewer, redirect, render, text
from core.errors import DomainError, Invalid
from core.runtime import Runtime
from identity import delegation
from identity.models import Delegation
from identity.posts import Post
from workflow import desk, previews, review

router = APIRouter(include_in_schema=False)

DONE = {
    review.Verdict.APPROVE: N_("Approved"),
    review.Verdict.REJECT: N_("Rejected"),
    review.Verdict.RETURN: N_("Returned"),
}
LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> shows and sends, read in China Standard Time


@router.get("/inbox")
def inbox(request: Request, who: Approvers, rt: RuntimeDep) -> Response:
    """The steps waiting for the viewer's decision, and for a seal administrator the seals that failed."""
    with rt.readers() as session:
        items = desk.waiting(session, who.principal, rt.clock.now())
        failed = desk.failed(session, who.principal)
    return render(request, who, "approvers/inbox.html", items=items, failed=failed)


@router.get("/inbox/{request_id}")
def case(request_id: RowId, request: Request, who: Approvers, rt: RuntimeDep) -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        opened = desk.case(session, request_id, who.principal, now)
    shown = opened["shown"]
    pages = previews.page_count(rt.blobs, shown) if shown else 0
    return render(request, who, "approvers/case.html", pages=pages, document=shown is not None, **opened)


@router.post("/inbox/{request_id}")
def decide(request_id: RowId, who: Approvers, form: FormDep, rt: RuntimeDep) -> Response:
    """The decision of ``POST /api/v1/requests/{id}/decisions``, from the form of the request's page."""
    try:
        verdict = review.Verdict(text(form, "decision"))
    except ValueError:
        raise Invalid("choose to approve, reject or return the request") from None
    level = _number(form, "level")
    principal = who.principal
    with rt.sessions() as session:
        review.decide(
            session,
            request_id,
            review.Actor(principal.user_id, principal.username),
            level=level,
            verdict=verdict,
            comment=text(form, "comment"),
            to_level=_number(form, "to_level") if verdict is review.Verdict.RETURN else None,
            now=rt.clock.now(),
            webhook=rt.settings.workflow.notification_webhook,
        )
        session.commit()
    return redirect("/inbox", done=DONE[verdict])


def _number(form: FormData, name: str) -> int:
    try:
        return int(text(form, name))
    except ValueError:
        raise Invalid(f"{name} must be a whole number") from None


@router.get("/delegations")
def delegations(request: Request, who: Approvers, rt: RuntimeDep) -> Response:
    return _delegations_page(request, who, rt, _blank(rt))


@router.post("/delegations")
def delegate(request: Request, who: Approvers, form: FormDep, rt: RuntimeDep) -> Response:
    """The delegation of ``POST /api/v1/delegations``; a refusal is shown above the form as it was filled in."""
    filled = {name: text(form, name) for name in ("deputy", "seat", "valid_from", "valid_until", "reason")}
    now = rt.clock.now()
    try:
        post, org_code = _seat(filled["seat"])
        with rt.sessions() as session:
            delegation.delegate(
                session,
                holder=who.principal.username,
                deputy=filled["deputy"],
                org_code=org_code,
                post=post,
                valid_from=_local(filled["valid_from"], "start") if filled["valid_from"] else now,
                valid_until=_local(filled["valid_until"], "end"),
                now=now,
                actor=f"user:{who.principal.username}",
                reason=filled["reason"],
            )
            session.commit()
    except DomainError as exc:
        said = RULE_WORDS.get(str(exc.extensions.get("rule")))
        return _delegations_page(request, who, rt, filled, error=exc.detail, said=said, status=exc.status)
    return redirect("/delegations", done=N_("Delegation made"))


@router.post("/delegations/{delegation_id}/end")
def end(delegation_id: RowId, who: Approvers, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        delegation.end(
            session,
            delegation_id,
            now=rt.clock.now(),
            actor=f"user:{who.principal.username}",
            by_user_id=who.principal.user_id,
        )
        session.commit()
    return redirect("/delegations", done=N_("Delegation ended"))


def _delegations_page(
    request: Request,
    who: Viewer,
    rt: Runtime,
    filled: dict[str, str],
    error: str | None = None,
    said: str | None = None,
    status: int = 200,
) -> Response:
    now = rt.clock.now()
    with rt.readers() as session:
        rows = [_row(d, who, now) for d in delegation.of_user(session, who.principal.user_id)]
    seats = [p for p in who.principal.posts if p.post in ROLES["approvers"]]
    return render(
        request,
        who,
        "approvers/delegations.html",
        status=status,
        rows=rows,
        seats=seats,
        filled=filled,
        error=error,
        said=said,
    )


def _row(d: Delegation, who: Viewer, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": d.id,
        "given": d.holder_id == who.principal.user_id,
        "holder": d.holder.display_name,
        "deputy": d.deputy.display_name,
        "deputy_username": d.deputy.username,
        "post": d.post,
        "organisation": d.organisation.name,
        "valid_from": d.valid_from,
        "valid_until": d.valid_until,
        "ended_at": d.ended_at,
        "state": _state(d, now),
    }


def _state(d: Delegation, now: dt.datetime) -> str:
    if d.ended_at is not None:
        return "ended"
    if d.valid_until <= now:
        return "expired"
    return "in_force" if d.valid_from <= now else "waiting"


def _blank(rt: Runtime) -> dict[str, str]:
    start = rt.clock.now().astimezone(CHINA)
    return {
        "deputy": "",
        "seat": "",
        "valid_from": "",  # now, when the form is sent: a time shown here would be in the past by then
        "valid_until": (start + dt.timedelta(days=7)).strftime(LOCAL_INPUT),
        "reason": "",
    }


def _seat(value: str) -> tuple[Post, str]:
    """A seat chosen in the form, ``post@organisation``."""
    post, _, org_code = value.partition("@")
    try:
        return Post(post), org_code
    except ValueError:
        raise Invalid("choose one of your posts to hand over", rule="seat") from None


def _local(value: str, which: Literal["start", "end"]) -> dt.datetime:
    try:
        given = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"the {which} of the delegation is not a date and time", rule=f"{which}-not-a-time") from None
    return (given if given.tzinfo else given.replace(tzinfo=CHINA)).astimezone(dt.UTC)
