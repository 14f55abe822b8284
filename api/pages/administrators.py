"""Administrators: the index of their sections, and the outbox of deliveries to bureaus and webhooks.

The sections themselves live beside this module: people (organisations, users and posts), seals and certificates,
the matters catalogue, seal machines. Each names the posts it is for here, so the index and the pages agree.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.deps import RowId, RuntimeDep
from api.pages.base import N_, Administrator, FormDep, Requires, Viewer, redirect, render
from workflow import administration
from workflow.models import OutboxMessage

router = APIRouter(include_in_schema=False)

PEOPLE = ("admin",)
SEALS = ("admin", "cert_admin")  # certificate administrators act; administrators look
MACHINES = ("admin", "seal_admin")
# The viewer of a page, once they hold one of its posts.
PeopleAdmin = Annotated[Viewer, Depends(Requires(*PEOPLE))]
SealsAdmin = Annotated[Viewer, Depends(Requires(*SEALS))]
CertAdmin = Annotated[Viewer, Depends(Requires("cert_admin"))]
MachinesAdmin = Annotated[Viewer, Depends(Requires(*MACHINES))]
OUTBOX_STATES = (N_("pending"), N_("delivered"), N_("dead"))
OUTBOX_KINDS = (N_("bureau"), N_("webhook"))

SECTIONS = (
    (N_("Organisations"), "/admin/organisations", PEOPLE, N_("The organisation tree; add an organisation.")),
    (N_("Users and posts"), "/admin/users", PEOPLE, N_("Accounts, the posts they hold, and granting posts.")),
    (N_("Seals and certificates"), "/admin/seals", SEALS, N_("Seals, their certificates, and asking to issue one.")),
    (N_("Certificate operations"), "/admin/certificates", SEALS, N_("Operations waiting for a second approval.")),
    (N_("Matters catalogue"), "/admin/catalog", PEOPLE, N_("Matters, the negative list, and the catalogue file.")),
    (N_("Seal machines"), "/admin/machines", MACHINES, N_("Register, suspend, resume and retire machines.")),
    (N_("Outbox"), "/admin/outbox", PEOPLE, N_("Deliveries to bureaus and webhooks; retry a failed one.")),
)


@router.get("/admin")
def index(request: Request, who: Administrator) -> Response:
    sections = [
        {"label": label, "href": href, "about": about}
        for label, href, posts, about in SECTIONS
        if who.holds_any(*posts)
    ]
    return render(request, who, "admin/index.html", sections=sections)


@router.get("/admin/outbox")
def outbox(request: Request, who: PeopleAdmin, rt: RuntimeDep, status: str = "dead") -> Response:
    if status not in OUTBOX_STATES:
        status = "dead"
    with rt.readers() as session:
        messages = [_message(m) for m in administration.outbox(session, who.principal, status)]
    return render(request, who, "admin/outbox.html", shown=status, states=OUTBOX_STATES, messages=messages)


def _message(message: OutboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "kind": message.kind,
        "target": message.target,
        "request_id": message.request_id,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "delivered_at": message.delivered_at,
    }


@router.post("/admin/outbox/{message_id}/retry")
def retry(message_id: RowId, who: PeopleAdmin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        administration.redeliver(session, who.principal, message_id, rt.clock.now())
        session.commit()
    return redirect("/admin/outbox?status=pending", done=N_("The message will be delivered again."))
