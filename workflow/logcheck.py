"""Completeness for the audit: every catalogue version, request, decision and bureau delivery that ended has its
log entry (sequenced or queued). A row without its entry is a change that bypassed the log.

A decision's entry names no decision id, so a decision is matched to an entry of its request by everything both
hold: round, level, verdict, decider, on whose behalf, level returned to, and the moment, each entry used once.

A submission's entry holds its applicant and matter as commitments (``history.person``, ``history.matter``): they
are opened from the service's own store and must still be the request's, so that a request moved to another
person or matter after the fact is named too. Entries written before the commitments hold them in clear.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from identity.models import User
from ledger.audit import logged
from ledger.entry import timestamp
from ledger.models import PersonalDatum
from workflow.history import subject
from workflow.models import CatalogVersion, Decision, OutboxMessage, SealRequest

_TYPES = ("catalog.loaded", "request.submitted", "request.decided", "request.delivered", "request.delivery_dead")


def _logged(session: Session, types: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(t, subject, json.loads(body)) for t, subject, body in logged(session, types)]


def _user(username: str | None) -> str | None:
    return f"user:{username}" if username is not None else None


def missing_entries(session: Session) -> Iterator[str]:
    logged = _logged(session, _TYPES)
    submitted = {about: entry["data"] for kind, about, entry in logged if kind == "request.submitted"}
    opened = _opened(session, [v for data in submitted.values() for v in (data.get("applicant"), data.get("matter"))])
    versions = {entry["data"]["version"] for kind, _, entry in logged if kind == "catalog.loaded"}
    delivered = {(about, entry["data"]["message"]) for kind, about, entry in logged if kind == "request.delivered"}
    dead = {(about, entry["data"]["bureau"]) for kind, about, entry in logged if kind == "request.delivery_dead"}
    decided: Counter[tuple[object, ...]] = Counter()
    for kind, about, entry in logged:
        if kind == "request.decided":
            data = entry["data"]
            decided[
                (
                    about,
                    data["round"],
                    data["decided_level"],
                    data["decision"],
                    entry["actor"],
                    data["on_behalf_of"],
                    data["to_level"],
                    entry["time"],
                )
            ] += 1
    for version in session.scalars(select(CatalogVersion.id)):
        if version not in versions:
            yield f"catalogue version {version} has no catalog.loaded entry"
    requests = select(SealRequest.id, SealRequest.number, User.username, SealRequest.matter_code).join(
        User, User.id == SealRequest.applicant_id
    )
    for request, number, applicant, matter in session.execute(requests.order_by(SealRequest.id)):
        data = submitted.get(subject(request))
        if data is None:
            yield f"request {number} (id {request}) has no request.submitted entry"
            continue
        logged_applicant, logged_matter = (opened.get(data.get(k), data.get(k)) for k in ("applicant", "matter"))
        if logged_applicant != f"user:{applicant}" or logged_matter != matter:
            yield (
                f"request {number} (id {request}) is {matter} for {applicant}; its request.submitted entry says "
                f"{logged_matter} for {logged_applicant}"
            )
    actor, deputy = aliased(User), aliased(User)
    decisions = session.execute(
        select(
            Decision.id,
            Decision.request_id,
            Decision.round,
            Decision.level,
            Decision.decision,
            actor.username,
            deputy.username,
            Decision.to_level,
            Decision.decided_at,
        )
        .join(actor, Decision.actor_id == actor.id)
        .outerjoin(deputy, Decision.on_behalf_of_id == deputy.id)
        .order_by(Decision.id)
    )
    for decision, request, round_, level, verdict, username, on_behalf_of, to_level, at in decisions:
        key = (subject(request), round_, level, verdict, _user(username), _user(on_behalf_of), to_level, timestamp(at))
        if decided[key] > 0:
            decided[key] -= 1
        else:
            yield (
                f"decision {decision} on request {request} (round {round_}, level {level}, {verdict} by {username}"
                f" at {timestamp(at)}) has no request.decided entry"
            )
    messages = session.execute(
        select(OutboxMessage.id, OutboxMessage.request_id, OutboxMessage.target, OutboxMessage.status)
        .where(OutboxMessage.kind == "bureau", OutboxMessage.status.in_(("delivered", "dead")))
        .order_by(OutboxMessage.id)
    )
    for message, owner, bureau, status in messages:
        if owner is None:
            continue  # only a delivery of a request's result is logged, in the request's history
        if status == "delivered" and (subject(owner), message) not in delivered:
            yield f"outbox message {message} of request {owner}, delivered to {bureau}, has no request.delivered entry"
        if status == "dead" and (subject(owner), bureau) not in dead:
            yield f"outbox message {message} of request {owner}, dead at {bureau}, has no request.delivery_dead entry"


def _opened(session: Session, values: list[Any]) -> dict[str, str]:
    """The values behind those of ``values`` that are commitments, read in batches."""
    wanted = sorted({v for v in values if isinstance(v, str) and v.startswith("sha256:")})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        batch = wanted[start : start + 500]
        rows = session.execute(
            select(PersonalDatum.commitment, PersonalDatum.value).where(PersonalDatum.commitment.in_(batch))
        )
        found |= {commitment: value for commitment, value in rows}
    return found
