"""The hosted inbox of a bureau that has no system of its own: the service receives the bureau's deliveries
itself, as a bureau's system would, and shows them to the holders of the bureau's post.

A delivery is taken as any receiver should take it: signed (RFC 9421, HMAC-SHA256) with the secret of one of the
endpoints of the catalogue's bureaus the organisation is, recently, over its body; at most ``MAX_BYTES``; and once
per ``Idempotency-Key`` (a repeat answers with the delivery first received). It must also be one the outbox sent
to that bureau, so every record names its request. A repeat whose body differs from the delivery first received
under its key is refused (``idempotency-key-reused``), as the service's ``Idempotency-Key`` middleware refuses
it elsewhere: the inbox keeps the keys itself, so that middleware leaves its route alone. The signature covers
the target URI as the world addresses the service (its public URL), not the host a proxy in front of it
forwarded to.

Its address is ``inbox.address(public_url, code)``: an operator sets it as the bureau's endpoint
(``sealgate outbox endpoint agriculture --url .../api/v1/bureaus/yazhou.agri/deliveries --organisation
yazhou.agri``), as ``sealgate demo`` does for yazhou.agri.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import DomainError, Invalid, NotFound
from identity import directory
from identity.auth import Principal
from identity.posts import Post
from workflow import delivery
from workflow.models import BureauDelivery, DeliveryEndpoint, OutboxMessage
from workflow.review import matter_of

MAX_BYTES = 256 * 1024  # a delivery is a small JSON document: the request, its form and its result
MAX_AGE = dt.timedelta(minutes=5)
PATH = "/api/v1/bureaus/{code}/deliveries"
PAGE_SIZE = 50


class DeliveryTooLarge(DomainError):
    status = 413
    problem = "payload-too-large"


class KeyReused(Invalid):
    problem = "idempotency-key-reused"


@dataclass(frozen=True)
class Received:
    delivery: BureauDelivery
    fresh: bool  # False: a repeat of a delivery received before


def address(public_url: str, code: str) -> str:
    """Where the hosted inbox of organisation ``code`` receives."""
    return public_url.rstrip("/") + PATH.format(code=code)


def receive(
    session: Session,
    code: str,
    *,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    now: dt.datetime,
) -> Received:
    """Check and record a delivery to organisation ``code`` posted to ``target`` (the full URL); flushes."""
    organisation = directory.organisation(session, code)
    endpoints = session.scalars(
        select(DeliveryEndpoint).where(DeliveryEndpoint.organisation_id == organisation.id)
    ).all()
    if not endpoints:
        raise NotFound(f"{organisation.name} receives no deliveries here")
    secrets = {e.key_id: e.secret.encode() for e in endpoints}
    key_id = delivery.verify("POST", target, headers, body, secrets=secrets, max_age=MAX_AGE, now=now)
    # Only after the signature: an unsigned request is refused as such (401), whatever its size. No refusal is
    # kept for its key: delivery keys are predictable, and a refusal kept would spend the key of one to come.
    if len(body) > MAX_BYTES:
        raise DeliveryTooLarge(f"a delivery is at most {MAX_BYTES} bytes")
    key = headers.get("idempotency-key")
    if not key:
        raise Invalid("a delivery carries an Idempotency-Key")
    repeat = _received(session, organisation.id, key)
    if repeat is not None:
        return _repeat(repeat, body)
    message = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.idempotency_key == key,
            OutboxMessage.kind == "bureau",
            OutboxMessage.target.in_([e.bureau for e in endpoints if e.key_id == key_id]),
        )
    )
    if message is None or message.request_id is None:
        raise Invalid(f"no delivery with this Idempotency-Key was sent to {organisation.name}")
    record = BureauDelivery(
        organisation_id=organisation.id,
        bureau=message.target,
        key_id=key_id,
        idempotency_key=key,
        request_id=message.request_id,
        payload=body,
        received_at=now,
    )
    try:
        with session.begin_nested():  # the same delivery, sent again at once, may be recorded first
            session.add(record)
    except IntegrityError:
        first = _received(session, organisation.id, key)
        assert first is not None, "the unique key that refused the record is the first record's"
        return _repeat(first, body)
    return Received(record, fresh=True)


def _repeat(first: BureauDelivery, body: bytes) -> Received:
    if first.payload != body:
        raise KeyReused("this Idempotency-Key was used for another delivery")
    return Received(first, fresh=False)


def _received(session: Session, organisation_id: int, key: str) -> BureauDelivery | None:
    return session.scalar(
        select(BureauDelivery).where(
            BureauDelivery.organisation_id == organisation_id, BureauDelivery.idempotency_key == key
        )
    )


def listing(session: Session, who: Principal, page: int = 1) -> tuple[list[dict[str, Any]], bool]:
    """The deliveries received for the organisations where ``who`` holds the bureau post, newest first, a page
    at a time; and whether there are more."""
    codes = {p.organisation_code for p in who.posts if p.post == Post.BUREAU}
    if not codes:
        return [], False
    ids = [directory.organisation(session, code).id for code in sorted(codes)]
    rows = session.scalars(
        select(BureauDelivery)
        .where(BureauDelivery.organisation_id.in_(ids))
        .order_by(BureauDelivery.received_at.desc(), BureauDelivery.id.desc())
        .offset((max(1, page) - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    return [_row(session, r) for r in rows[:PAGE_SIZE]], len(rows) > PAGE_SIZE


def _row(session: Session, received: BureauDelivery) -> dict[str, Any]:
    request = received.request
    matter = matter_of(session, request)
    return {
        "request_id": request.id,
        "number": request.number,
        "matter": matter.name,
        "organisation": request.organisation.name,
        "seal_form": request.seal_form,
        "sealed_at": request.finished_at,
        "received_at": received.received_at,
    }
