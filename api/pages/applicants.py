"""A request's applicant: my requests, a new request from the matter's form, a request's timeline, resubmit and
withdraw; and the retry of a failed seal, by the seal administrator.

Pages for anyone signed in; what a user may do with a particular request (see it, withdraw it, resubmit it, retry
it) is decided by ``workflow.requests`` and ``workflow.execution``, as for the API, whose document and sheet answers
these pages share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from api.deps import RowId, RuntimeDep
from api.i18n import DEFAULT, translations
from api.pages import refusal_words, schema_form
from api.pages.base import N_, FormDep, SignedIn, Viewer, redirect, render, text
from api.routers.requests import document_file, sheet_file
from api.schemas_workflow import RequestIn
from core.errors import DomainError, Forbidden, Invalid, NotFound, json_pointer
from core.runtime import Runtime
from workflow import applying, catalogs, execution, forms, listing, physical, previews, public_record, requests, views
from workflow.catalog import Matter
from workflow.documents import DocumentRefused
from workflow.forms import InvalidForm
from workflow.models import SealRequest
from workflow.previews import MAX_PAGES
from workflow.requests import NegativeListed, Submission
from workflow.review import matter_of

router = APIRouter(include_in_schema=False)

# A request's state as its applicant reads it.
STATES = {
    "submitted": N_("Submitted, being routed"),
    "in_review": N_("Under review"),
    "returned": N_("Returned for changes"),
    "approved": N_("Approved, to be sealed"),
    "executing": N_("Being sealed"),
    "authorised": N_("Waiting at the seal machine"),
    "completed": N_("Completed"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "failed": N_("Sealing failed"),
    "expired": N_("Authorisation expired"),
}
OUTCOMES = {
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "returned": N_("returned"),
    "withdrawn": N_("withdrawn"),
}
DECISIONS = {"approve": N_("approved"), "reject": N_("rejected"), "return": N_("returned")}
SEAL_FORMS = {"electronic": N_("electronic seal"), "physical": N_("physical seal")}
GENERAL = ("organisation", "group", "seal", "seal_form", "copies", "place", "purpose")
MAX_REASON = 2000


@dataclass
class Typed:
    """What the applicant typed into a request's form, to be shown again after a refusal."""

    general: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    """Why a form was refused, in the viewer's language where the kind of refusal is known and in the service's
    words otherwise: the field each error is about, and a negative-list rule."""

    status: int
    detail: str  # in the viewer's language where the kind of refusal is known
    errors: tuple[Mapping[str, Any], ...] = ()  # each with its message in the viewer's language
    rule: str | None = None
    reason: str | None = None
    lang: str = DEFAULT

    @classmethod
    def of(cls, exc: DomainError, lang: str) -> Refusal:
        errors = exc.extensions.get("errors")
        detail = exc.detail
        if isinstance(exc, DocumentRefused):
            limit = exc.extensions.get("limit")
            gettext = translations(lang).gettext
            detail = refusal_words.document(str(exc.extensions.get("kind")), limit, exc.detail, gettext)
        return cls(
            exc.status,
            detail,
            refusal_words.translated(errors, lang) if isinstance(errors, list) else (),
            exc.extensions.get("rule") if isinstance(exc, NegativeListed) else None,
            exc.extensions.get("reason") if isinstance(exc, NegativeListed) else None,
            lang,
        )

    def about(self, name: str) -> str | None:
        """The first error about the general field ``name`` (purpose, copies...)."""
        return next((e["message"] for e in self.errors if e.get("pointer") == json_pointer([name])), None)

    def loose(self, fields: Sequence[schema_form.Field], general: Sequence[str]) -> list[tuple[str, str]]:
        """Where and what, for each error the page shows at no field of its own: about a computed or nested
        value, or a part of the request the page has no field for. ``general``: the general fields (purpose,
        place...) the page shows with their errors (``about``)."""
        shown = {schema_form.field_pointer(f.name) for f in fields if f.kind not in ("computed", "profile")}
        shown.update(json_pointer([name]) for name in general)
        gettext = translations(self.lang).gettext
        labels = {schema_form.field_pointer(f.name): f.label for f in fields} | {
            json_pointer([name]): gettext(label) for name, label in GENERAL_LABELS.items()
        }
        return [
            (labels.get(e["pointer"], str(e["pointer"]).removeprefix("/form").lstrip("/")), e["message"])
            for e in self.errors
            if e.get("pointer") not in shown
        ]


# What the request's pages call its general fields, to say where an error is that no field of the page shows.
GENERAL_LABELS = {
    "organisation": N_("Organisation"),
    "group": N_("Village group"),
    "seal": N_("Seal"),
    "seal_form": N_("Form of the seal"),
    "copies": N_("Copies to stamp (physical seal)"),
    "place": N_("Where the seal is used"),
    "purpose": N_("Purpose"),
}


# My requests


@router.get("/requests")
async def my_requests(
    request: Request,
    who: SignedIn,
    rt: RuntimeDep,
    scope: str = "mine",
    state: str = "",
    matter: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    chosen: listing.Scope = "visible" if scope == "visible" else "mine"
    state = state if state in STATES else ""
    found, matters = await run_in_threadpool(_listing, rt, who, chosen, state, matter, page)
    pages = max(1, -(-found.total // found.size))

    def link(number: int) -> str:
        query = {"scope": chosen, "state": state, "matter": matter, "page": number}
        return "/requests?" + urlencode({k: v for k, v in query.items() if v and v != "mine"})

    return render(
        request,
        who,
        "applicants/list.html",
        found=found,
        pages=pages,
        previous=link(page - 1) if page > 1 else None,
        next=link(page + 1) if page < pages else None,
        scope=chosen,
        state=state,
        matter=matter,
        matters=matters,
        states=STATES,
    )


def _listing(
    rt: Runtime, who: Viewer, scope: listing.Scope, state: str, matter: str, page: int
) -> tuple[listing.Page, list[tuple[str, str]]]:
    with rt.readers() as session:
        found = listing.requests(
            session,
            who.principal,
            now=rt.clock.now(),
            scope=scope,
            state=state or None,
            matter=matter or None,
            page=page,
        )
        _, catalog = catalogs.current(session)
        return found, [(m.code, m.name) for m in catalog.matters]


# A new request


@router.get("/requests/new")
async def new_request(
    request: Request,
    who: SignedIn,
    rt: RuntimeDep,
    matter: Annotated[str, Query(max_length=64)] = "",
    organisation: Annotated[str, Query(max_length=64)] = "",
    purpose: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    typed = Typed(general={"organisation": organisation, "purpose": purpose})
    context = await run_in_threadpool(_new, rt, who, matter, typed, None)
    return render(request, who, "applicants/new.html", **context)


def _new(rt: Runtime, who: Viewer, code: str, typed: Typed, refusal: Refusal | None) -> dict[str, Any]:
    with rt.readers() as session:
        _, catalog = catalogs.current(session)
        choices = applying.choices(session, who.principal)
        matter = catalog.matter(code)
        prefill: dict[str, Any] = {}
        chain = None
        if matter is not None:
            matter, chain_, prefill = requests.prefilled(session, who.principal, code)
            chain = chain_.levels
    refused = catalog.refused(code)
    seat = choices.seat(typed.general.get("organisation", "")) or (choices.seats[0] if choices.seats else None)
    computed: dict[str, Any] = {}
    if matter is not None and typed.values:
        computed = _computed(matter, typed.values)
    return {
        "catalog": catalog,
        "choices": choices,
        "code": code,
        "matter": matter,
        "refused": refused,
        "chain": chain,
        "seat": seat,
        "seal_names": {code: kind.name for code, kind in catalog.seals.items()},
        "seal_forms": SEAL_FORMS,
        "typed": {name: "" for name in GENERAL} | typed.general,
        "fields": schema_form.fields(matter, prefill, typed.values, refusal.errors if refusal else ())
        if matter is not None
        else [],
        "computed": _shown(matter, computed) if matter is not None else [],
        "refusal": refusal,
    }


def _computed(matter: Matter, values: Mapping[str, Any]) -> dict[str, Any]:
    """The computed fields over what was typed, by the code a submission runs; none while they cannot be."""
    try:
        return forms.compute(matter, values)
    except InvalidForm:
        return {}


def _shown(matter: Matter, computed: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Each computed field's title and value (amounts with two decimals), None where it cannot be computed yet."""
    props = matter.form.get("properties", {})
    return [
        (str(props.get(name, {}).get("title", name)), _number(computed[name]) if name in computed else None)
        for name in matter.computed
    ]


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


@router.post("/requests/new/preview")
async def preview(request: Request, who: SignedIn, form: FormDep, rt: RuntimeDep) -> Response:
    """The computed fields of the form as it is typed (htmx), computed on the server as the submission will be."""
    shown = await run_in_threadpool(_preview, rt, form)
    return render(request, who, "applicants/_computed.html", computed=shown)


def _preview(rt: Runtime, form: FormData) -> list[tuple[str, str | None]]:
    with rt.readers() as session:
        _, catalog = catalogs.current(session)
    matter = catalog.matter(text(form, "matter"))
    if matter is None:
        raise NotFound("no such matter in the catalogue")
    return _shown(matter, _computed(matter, schema_form.read(matter, form, numbers_only=True)))


@router.post("/requests/new")
async def submit(request: Request, who: SignedIn, form: FormDep, rt: RuntimeDep) -> Response:
    document = await _upload(form, rt.settings.workflow.max_upload_bytes)
    created, context = await run_in_threadpool(_submit, rt, who, form, document)
    if created is not None:
        return redirect(f"/requests/{created}", done=N_("Your request was submitted. You can follow it here."))
    return render(request, who, "applicants/new.html", status=context["refusal"].status, **context)


def _submit(rt: Runtime, who: Viewer, form: FormData, document: bytes | None) -> tuple[int | None, dict[str, Any]]:
    code = text(form, "matter")
    typed = Typed(general={name: text(form, name) for name in GENERAL})
    with rt.sessions() as session:
        _, catalog = catalogs.current(session)
        matter = catalog.matter(code)
        typed.values = schema_form.read(matter, form) if matter is not None else {}
        try:
            submission = _submission(code, typed, document)
            created = requests.submit(
                session,
                who.principal,
                submission,
                blobs=rt.blobs,
                max_bytes=rt.settings.workflow.max_upload_bytes,
                now=rt.clock.now(),
                webhook=rt.settings.workflow.notification_webhook,
                anchor=rt.settings.signer.anchor,
            )
            session.commit()
            return created.id, {}
        except DomainError as exc:
            session.rollback()
            refusal = Refusal.of(exc, who.lang)
    return None, _new(rt, who, code, typed, refusal)


def _submission(code: str, typed: Typed, document: bytes | None) -> Submission:
    """The form as the API's body would carry it, checked by the API's own rules."""
    general = typed.general
    body = {
        "matter": code,
        "organisation": general["organisation"],
        "group": general["group"] or None,
        "seal": general["seal"],
        "seal_form": general["seal_form"],
        "copies": general["copies"] or "1",
        "place": general["place"],
        "purpose": general["purpose"],
        "form": typed.values,
    }
    try:
        checked = RequestIn.model_validate(body)
    except ValidationError as exc:
        errors = [refusal_words.from_pydantic(e) for e in exc.errors()]
        raise Invalid(f"{errors[0]['pointer'].lstrip('/')}: {errors[0]['message']}", errors=errors) from None
    return Submission(**checked.model_dump(), document=document)


async def _upload(form: FormData, max_bytes: int) -> bytes | None:
    """The PDF chosen in the form's ``document`` field, if one was (a file past the limit is refused by the check
    of the upload, which reads one byte more than it takes)."""
    upload = form.get("document")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(max_bytes + 1)
    return data or None


# A request


@router.get("/requests/{request_id}")
async def request_page(request: Request, who: SignedIn, rt: RuntimeDep, request_id: RowId) -> Response:
    context = await run_in_threadpool(_request, rt, who, request_id, None, None)
    return render(request, who, "applicants/request.html", **context)


def _request(
    rt: Runtime, who: Viewer, request_id: int, values: dict[str, Any] | None, refusal: Refusal | None
) -> dict[str, Any]:
    now = rt.clock.now()
    with rt.readers() as session:
        found = requests.visible(session, request_id, who.principal, now)
        view = views.request_view(session, found, who.principal, now)
        matter = matter_of(session, found)
        catalog = catalogs.version(session, found.catalog_version_id)
        physical_seal = found.seal_form == "physical"
        stamps = public_record.record(session, found.public_id, who.principal, now)["stamps"] if physical_seal else []
        sheet = physical_seal and _has_sheet(session, found, who, now)
        decide = any(case.id == found.id for _, case in views.inbox(session, who.principal, now))
        retry = found.state == "failed" and execution.may_retry(who.principal, found)
        shown = requests.shown_document(found, view)
    own = view["record"] is not None
    props = matter.form.get("properties", {})
    stored = dict(found.form)
    profile = forms.masked(matter, {n: stored[n] for n in forms.profile_fields(matter) if n in stored}, names=True)
    return {
        "view": view,
        "matter": matter,
        "seal_name": catalog.seals[found.seal_kind].name if found.seal_kind in catalog.seals else found.seal_kind,
        # The form's values in the order of the form, under their titles; anything else the schema let in, last.
        "labels": schema_form.titles(matter) | {name: name for name in view["form"] if name not in props},
        "own": own,
        "sealed": found.sealed_sha256 is not None,
        "sheet": sheet,
        "stamps": stamps,
        "decide": decide,
        "retry": retry,
        "pages": previews.page_count(rt.blobs, shown) if shown else 0,
        "document": shown is not None,
        "states": STATES,
        "decisions": DECISIONS,
        "outcomes": OUTCOMES,
        "seal_forms": SEAL_FORMS,
        "fields": schema_form.fields(matter, profile, stored if values is None else values, _errors(refusal))
        if own and found.state == "returned"
        else [],
        "refusal": refusal,
    }


def _errors(refusal: Refusal | None) -> Sequence[Mapping[str, Any]]:
    return refusal.errors if refusal is not None else ()


def _has_sheet(session: Session, found: SealRequest, who: Viewer, now: dt.datetime) -> bool:
    """Whether a physical seal's sheet has been made, that is whether its machine was authorised (and the viewer
    may take it, as the document it is)."""
    try:
        physical.sheet_of(session, found.id, who.principal, now)
    except (NotFound, Forbidden):
        return False
    return True


@router.get("/requests/{request_id}/document")
def document(who: SignedIn, rt: RuntimeDep, request_id: RowId, original: bool = False) -> FileResponse:
    """The sealed PDF once sealed, else (or with ``original=true``) the document as submitted; as the API."""
    with rt.readers() as session:
        return document_file(rt, session, request_id, who.principal, original=original, now=rt.clock.now())


@router.get("/requests/{request_id}/pages/{number}")
def page_picture(
    who: SignedIn, rt: RuntimeDep, request_id: RowId, number: Annotated[int, Path(ge=1, le=MAX_PAGES)]
) -> Response:
    """A page of the document as a picture, for phones that show no PDF inline."""
    with rt.readers() as session:
        _, sha256, _ = requests.document_of(session, request_id, who.principal, original=False, now=rt.clock.now())
    png = previews.page_png(rt.blobs, sha256, number)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/requests/{request_id}/sheet")
def sheet(who: SignedIn, rt: RuntimeDep, request_id: RowId) -> FileResponse:
    """What the seal machine stamps: the approved document with its record's QR code; as the API."""
    with rt.readers() as session:
        return sheet_file(rt, session, request_id, who.principal, rt.clock.now())


@router.get("/requests/{request_id}/photos/{sha256}")
def photo(who: SignedIn, rt: RuntimeDep, request_id: RowId, sha256: str) -> Response:
    """A seal machine's photo of a sheet it stamped for the request, for anyone who may see the request."""
    with rt.readers() as session:
        found = requests.visible(session, request_id, who.principal, rt.clock.now())
        data = rt.blobs.get(public_record.photo(session, found.public_id, sha256))
    return Response(data, media_type="image/png", headers={"Cache-Control": "private"})


@router.post("/requests/{request_id}/withdraw")
def withdraw(who: SignedIn, form: FormDep, rt: RuntimeDep, request_id: RowId) -> Response:
    with rt.sessions() as session:
        requests.withdraw(
            session, request_id, who.principal, reason=text(form, "reason")[:MAX_REASON], now=rt.clock.now()
        )
        session.commit()
    return redirect(f"/requests/{request_id}", done=N_("The request was withdrawn."))


@router.post("/requests/{request_id}/retry")
def retry(who: SignedIn, form: FormDep, rt: RuntimeDep, request_id: RowId) -> Response:
    """The retry of ``POST /api/v1/requests/{id}/retry``: the failed request is approved again, and sealed at once."""
    with rt.sessions() as session:
        execution.retry(session, request_id, who.principal, rt.clock.now())
        session.commit()
    return redirect(f"/requests/{request_id}", done=N_("Sent to be sealed again"))


@router.post("/requests/{request_id}/resubmit")
async def resubmit(request: Request, who: SignedIn, form: FormDep, rt: RuntimeDep, request_id: RowId) -> Response:
    document = await _upload(form, rt.settings.workflow.max_upload_bytes)
    context = await run_in_threadpool(_resubmit, rt, who, request_id, form, document)
    if context is None:
        return redirect(f"/requests/{request_id}", done=N_("The request was sent for approval again."))
    return render(request, who, "applicants/request.html", status=context["refusal"].status, **context)


def _resubmit(
    rt: Runtime, who: Viewer, request_id: int, form: FormData, document: bytes | None
) -> dict[str, Any] | None:
    """None once resubmitted; else the request's page again, with what was typed and why it was refused."""
    with rt.sessions() as session:
        found = requests.visible(session, request_id, who.principal, rt.clock.now())
        matter = matter_of(session, found)
        typed = schema_form.read(matter, form)
        # What the profile filled in is not asked again: the stored values stand where the profile has none.
        kept = {name: found.form[name] for name in forms.profile_fields(matter) if name in found.form}
        try:
            requests.resubmit(
                session,
                request_id,
                who.principal,
                form={**kept, **typed},
                purpose=text(form, "purpose")[:MAX_REASON] or None,
                document=document,
                blobs=rt.blobs,
                max_bytes=rt.settings.workflow.max_upload_bytes,
                now=rt.clock.now(),
                webhook=rt.settings.workflow.notification_webhook,
                anchor=rt.settings.signer.anchor,
            )
            session.commit()
            return None
        except DomainError as exc:
            session.rollback()
            refusal = Refusal.of(exc, who.lang)
    return _request(rt, who, request_id, typed, refusal)
