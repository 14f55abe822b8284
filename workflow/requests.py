"""Seal requests: submitting one (form checked and completed, document uploaded or rendered, chain routed),
resubmitting a returned one, withdrawing one, and who may see what of it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import canonical_json
from core.blobs import BlobStore
from core.errors import Forbidden, Invalid, NotFound
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, Profile, User
from identity.posts import OrgKind, Post
from ledger.entry import commit
from workflow import catalogs, documents, forms, history
from workflow.case import Case
from workflow.catalog import Chain, Matter, SealForm
from workflow.models import SealRequest, Step
from workflow.review import chain_of, check_routable, matter_of, start_level
from workflow.states import State, check, require
from workflow.visibility import can_see, may_download

SEAT_KINDS = frozenset({OrgKind.VILLAGE, OrgKind.COMMUNITY})
# Posts whose holders may start a request for a resident of their organisation.
STAFF_POSTS = frozenset({Post.STAFF, Post.SECRETARY, Post.SEAL_ADMIN})


class NegativeListed(Invalid):
    problem = "negative-list"


@dataclass(frozen=True)
class Submission:
    matter: str
    organisation: str
    seal: str
    seal_form: SealForm
    copies: int
    place: str
    purpose: str
    form: dict[str, Any]
    group: str | None = None
    applicant: str | None = None
    document: bytes | None = None


def profile_of(session: Session, user: User) -> dict[str, str | None]:
    profile = session.get(Profile, user.id)
    return {
        "name": user.display_name,
        "id_number": profile.id_number if profile else None,
        "ssn": profile.ssn if profile else None,
    }


def prefilled(session: Session, who: Principal, code: str) -> tuple[Matter, Chain, dict[str, Any]]:
    """A matter of the current catalogue, its chain, and what the caller's profile fills in of its form, masked."""
    _, catalog = catalogs.current(session)
    matter = catalog.matter(code)
    if matter is None:
        raise NotFound(f"no matter {code!r}")
    profile = profile_of(session, directory.user(session, who.username))
    prefill = {name: profile[source] for name, source in forms.profile_fields(matter).items() if profile.get(source)}
    return matter, catalog.chains[matter.chain], forms.masked(matter, prefill, names=True)


def _members(session: Session, organisation: Organisation) -> set[int]:
    """Organisations whose residents belong to ``organisation``: itself and its groups."""
    ids = {organisation.id}
    ids |= set(session.scalars(select(Organisation.id).where(Organisation.parent_id == organisation.id)))
    return ids


def _applicant(session: Session, who: Principal, sub: Submission, organisation: Organisation, now: dt.datetime) -> User:
    """The person the request is for: the submitter, or a resident the organisation's staff submit for."""
    if sub.applicant is None or sub.applicant == who.username:
        applicant = directory.user(session, who.username)
    elif any(who.holds(str(p), organisation.code) for p in STAFF_POSTS):
        applicant = directory.user(session, sub.applicant)
    else:
        raise Forbidden(f"only the staff of {organisation.name} submit a request for someone else")
    members = _members(session, organisation)
    resident = applicant.home_organisation_id in members
    member = any(
        directory.organisation(session, p.organisation_code).id in members
        for p in directory.posts_of(session, applicant.id, now)
    )
    if not (resident or member):
        raise Forbidden(f"{applicant.username} is neither a resident nor a member of {organisation.name}")
    return applicant


def _group(
    session: Session, sub: Submission, organisation: Organisation, applicant: User, now: dt.datetime
) -> Organisation | None:
    """The village group whose leader reviews the request first: the applicant's own. A group named in the
    submission must be one the applicant belongs to (lives in, or holds a post in), or an applicant could send
    the request to a leader of their choosing."""
    if sub.group is not None:
        group = directory.organisation(session, sub.group)
        if group.parent_id != organisation.id or group.kind != OrgKind.GROUP:
            raise Invalid(f"{group.code} is not a village group of {organisation.name}")
        posts = {p.organisation_code for p in directory.posts_of(session, applicant.id, now)}
        if applicant.home_organisation_id != group.id and group.code not in posts:
            raise Invalid(
                f"{applicant.username} does not belong to {group.name}: a request goes to the applicant's group"
            )
        return group
    home = applicant.home_organisation
    if home is not None and home.parent_id == organisation.id and home.kind == OrgKind.GROUP:
        return home
    return None


def _document(
    matter: Matter,
    upload: bytes | None,
    request: SealRequest,
    blobs: BlobStore,
    max_bytes: int,
    anchor: str | None,
    now: dt.datetime,
) -> None:
    """The request's document, uploaded or rendered from the matter's template; a rendered one with where it prints
    the seal's ``anchor`` text (``documents.located_record``), so that sealing it need not search it."""
    if upload is not None:
        checked = documents.check_upload(upload, max_bytes=max_bytes)
        blobs.put(upload)
        request.document_sha256, request.document_source, request.anchor_located = checked.sha256, "upload", None
        return
    if matter.template is None:
        raise Invalid(f"{matter.name} has no document template: upload the PDF to be sealed")
    if anchor is not None:
        forms.refuse_anchor(anchor, request.form, purpose=request.purpose, place=request.place)
    pdf, located = documents.render_with_anchor(
        matter.template,
        {
            "matter": matter,
            "organisation": request.organisation,
            "form": request.form,
            "request": request,
            "today": f"{now.year}年{now.month}月{now.day}日",
        },
        anchor,
    )
    checked = documents.check_upload(pdf, max_bytes=max_bytes)
    blobs.put(pdf)
    request.document_sha256, request.document_source = checked.sha256, "template"
    request.anchor_located = documents.located_record(checked.sha256, located)


def submit(
    session: Session,
    who: Principal,
    sub: Submission,
    *,
    blobs: BlobStore,
    max_bytes: int,
    now: dt.datetime,
    webhook: str | None = None,
    anchor: str | None = None,
) -> SealRequest:
    """Check, store and route a new request; flushes, the caller commits. ``anchor``: the text the seal is
    stamped over, whose place a rendered document keeps."""
    version_id, catalog = catalogs.current(session)
    refused = catalog.refused(sub.matter)
    if refused is not None:
        raise NegativeListed(
            f"村（居）委会不出具“{refused.name}”：{refused.rule}", rule=refused.rule, reason=refused.reason
        )
    matter = catalog.matter(sub.matter)
    if matter is None:
        raise Invalid(f"no matter {sub.matter!r} in the catalogue")
    if sub.seal not in matter.seals:
        raise Invalid(f"{matter.name} is sealed with {', '.join(matter.seals)}, not {sub.seal}")
    if sub.seal_form not in matter.forms:
        raise Invalid(f"{matter.name} takes a {' or '.join(matter.forms)} seal, not a {sub.seal_form} one")
    organisation = directory.organisation(session, sub.organisation)
    if OrgKind(organisation.kind) not in SEAT_KINDS | {OrgKind.GROUP}:
        raise Invalid(
            f"{organisation.name} is a {organisation.kind}; requests are for villages, communities and groups"
        )
    applicant = _applicant(session, who, sub, organisation, now)
    values = forms.prepare(matter, sub.form, profile_of(session, applicant))
    submitter = directory.user(session, who.username)
    request = SealRequest(
        matter_code=matter.code,
        catalog_version_id=version_id,
        organisation=organisation,
        group=_group(session, sub, organisation, applicant, now),
        applicant=applicant,
        submitted_by=submitter,
        seal_kind=sub.seal,
        seal_form=str(sub.seal_form),
        copies=sub.copies,
        place=sub.place,
        purpose=sub.purpose,
        form=values,
        document_sha256="",
        document_source="",
        state=State.SUBMITTED,
        level=None,
        round=1,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    request.number = f"{now.year}-{request.id:06d}"
    chain = catalog.chains[matter.chain]
    case = Case.of(request)
    check_routable(session, case, chain, now)
    _document(matter, sub.document, request, blobs, max_bytes, anchor, now)
    data = {
        "matter": history.matter(session, matter.code, now),
        "catalog_version": version_id,
        "organisation": organisation.code,
        "group": request.group.code if request.group else None,
        "seal": sub.seal,
        "seal_form": str(sub.seal_form),
        "copies": sub.copies,
        "place": history.committed_text(session, "place", sub.place, now),
        "purpose": history.committed_text(session, "purpose", sub.purpose, now),
        "form": commit(session, "form", canonical_json.dumps(values).decode(), now),
        "document": request.document_sha256,
        "applicant": history.person(session, applicant.username, now),
    }
    check(request.state, State.IN_REVIEW, "route")
    start_level(session, case, chain, 1, now, webhook)
    request.state, request.level = State.IN_REVIEW, 1
    history.record(session, request, "submitted", history.person(session, who.username, now), data, now)
    return request


def _owned(request: SealRequest, who: Principal) -> None:
    if who.user_id not in (request.applicant_id, request.submitted_by_id):
        raise Forbidden("only the applicant, or who submitted it, does this")


def withdraw(session: Session, request_id: int, who: Principal, *, reason: str, now: dt.datetime) -> SealRequest:
    request = _locked(session, request_id, who, now)
    _owned(request, who)
    check(request.state, State.WITHDRAWN, "withdraw")
    for step in session.scalars(select(Step).where(Step.request_id == request.id, Step.finished_at.is_(None))):
        step.finished_at, step.outcome = now, "withdrawn"
    request.state, request.level, request.finished_at, request.updated_at = State.WITHDRAWN, None, now, now
    data = {"reason": history.committed_text(session, "comment", reason, now)}
    history.record(session, request, "withdrawn", history.person(session, who.username, now), data, now)
    return request


def resubmit(
    session: Session,
    request_id: int,
    who: Principal,
    *,
    form: dict[str, Any] | None,
    purpose: str | None,
    now: dt.datetime,
    blobs: BlobStore,
    max_bytes: int,
    document: bytes | None = None,
    webhook: str | None = None,
    anchor: str | None = None,
) -> SealRequest:
    """Send a returned request through its chain again, from the first level, in a new round. A new upload
    replaces the document; one rendered from the matter's template is rendered again from the changed form."""
    request = _locked(session, request_id, who, now)
    _owned(request, who)
    require(request.state, State.RETURNED, "resubmit")
    matter = matter_of(session, request)
    if form is not None:
        request.form = forms.prepare(matter, form, profile_of(session, request.applicant))
    if purpose is not None:
        request.purpose = purpose
    if document is not None or (form is not None and request.document_source == "template"):
        _document(matter, document, request, blobs, max_bytes, anchor, now)
    request.round += 1
    start_level(session, Case.of(request), chain_of(session, request), 1, now, webhook)
    request.state, request.level, request.updated_at = State.IN_REVIEW, 1, now
    data = {
        "round": request.round,
        "form": commit(session, "form", canonical_json.dumps(request.form).decode(), now),
        "document": request.document_sha256,
    }
    history.record(session, request, "resubmitted", history.person(session, who.username, now), data, now)
    return request


def _locked(session: Session, request_id: int, who: Principal, now: dt.datetime) -> SealRequest:
    request = session.get(SealRequest, request_id, with_for_update=True)
    if request is None or not can_see(session, request, who, now):
        raise NotFound(f"no request {request_id} that you may see")
    return request


def document_of(
    session: Session, request_id: int, who: Principal, *, original: bool, now: dt.datetime
) -> tuple[SealRequest, str, bool]:
    """The request's document for someone who may take it (``visibility.may_download``): the sealed PDF once
    sealed, else (or ``original``) as submitted; with its SHA-256 and whether it is the sealed one. NotFound to
    whoever may not see the request, Forbidden to whoever sees it but is not one of the people it is between."""
    request = visible(session, request_id, who, now)
    if not may_download(session, request, who, now):
        raise Forbidden(
            "only the applicant, the approvers of the request, the custodians who stamp it and the bureau "
            "receiving it take its document"
        )
    if request.sealed_sha256 is not None and not original:
        return request, request.sealed_sha256, True
    return request, request.document_sha256, False


def shown_document(request: SealRequest, view: dict[str, Any]) -> str | None:
    """The SHA-256 of the document a request's page shows (sealed once sealed), or None where the request's view
    (``views.request_view``) gives no link: to a viewer who may see the request but not take its document."""
    if view["document"]["url"] is None:
        return None
    return request.sealed_sha256 or request.document_sha256


def visible(session: Session, request_id: int, who: Principal, now: dt.datetime) -> SealRequest:
    """The request, for someone who may see it at ``now`` (a deputy acting on it too); NotFound otherwise."""
    request = session.get(SealRequest, request_id)
    if request is None or not can_see(session, request, who, now):
        raise NotFound(f"no request {request_id} that you may see")
    return request
