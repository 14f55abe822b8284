"""A request as review works on it: the few facts routing and separation of duties need, read with Core
statements built once, because a decision is the workflow's hottest path and the ORM's identity map buys
nothing in a transaction that touches one request.

``workflow.models.SealRequest`` stays the one definition of a request, its table; ``Case`` is a second model of
it on purpose, a frozen snapshot with no columns of its own (its statement reads SealRequest's table):

- A decision reads the request under its row lock together with its organisation's name and parent in one
  statement; through the ORM the organisation would be a second, lazy load.
- A decision writes with deferred Core statements (``core.deferred``), which the ORM does not see: a
  SealRequest loaded for it would hold the old state and level for the rest of the transaction. The Case says
  what it is, and ``dataclasses.replace`` gives the request after the decision for the log and the
  notifications.
- Decisions moved from the ORM (a dozen statements with their flushes) to Cases for the approvals benchmark
  (``bench/approvals.py``, docs/benchmarks.md; goal 300 decisions/s): the ORM row would bring them back.

Paths that already hold the ORM row (submission, resubmission) take ``Case.of(request)`` so that they route
through the same code as decisions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from identity.models import Organisation
from workflow.models import Decision, SealRequest, Step

_requests = SealRequest.__table__.c
_organisations = Organisation.__table__.c
_steps = Step.__table__.c
_decisions = Decision.__table__.c

# An approval that stands in round :round: not set aside by a return.
STANDING_APPROVAL = and_(
    _decisions.round == bindparam("round"), _decisions.decision == "approve", _decisions.superseded.is_(False)
)


class Subject(Protocol):
    """What the log and the inbox say about a request: an ORM row or a Case."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> str | None: ...
    @property
    def state(self) -> str: ...
    @property
    def level(self) -> int | None: ...


@dataclass(frozen=True)
class Case:
    id: int
    number: str | None
    state: str
    level: int | None
    round: int
    organisation_id: int
    organisation_name: str
    parent_id: int | None
    group_id: int | None
    applicant_id: int
    submitted_by_id: int
    catalog_version_id: int
    matter_code: str

    @classmethod
    def of(cls, request: SealRequest) -> Case:
        return cls(
            id=request.id,
            number=request.number,
            state=request.state,
            level=request.level,
            round=request.round,
            organisation_id=request.organisation_id,
            organisation_name=request.organisation.name,
            parent_id=request.organisation.parent_id,
            group_id=request.group_id,
            applicant_id=request.applicant_id,
            submitted_by_id=request.submitted_by_id,
            catalog_version_id=request.catalog_version_id,
            matter_code=request.matter_code,
        )


Approval = tuple[int, int, int | None]  # (level, actor, holder acted for)


@dataclass(frozen=True)
class OpenStep:
    """The step under review, with the approvals standing in its round: separation of duties needs them, and
    reading them in the step's statement saves a round trip on every decision."""

    id: int
    level: int
    label: str
    post: str
    organisation_id: int
    mode: str
    assignees: list[int]
    started_at: dt.datetime
    approvals: list[Approval]


_LOCKED = (
    select(
        _requests.id,
        _requests.number,
        _requests.state,
        _requests.level,
        _requests.round,
        _requests.organisation_id,
        _organisations.name.label("organisation_name"),
        _organisations.parent_id,
        _requests.group_id,
        _requests.applicant_id,
        _requests.submitted_by_id,
        _requests.catalog_version_id,
        _requests.matter_code,
    )
    .join_from(SealRequest.__table__, Organisation.__table__, _organisations.id == _requests.organisation_id)
    .where(_requests.id == bindparam("id"))
    .with_for_update(of=SealRequest.__table__)
)
_OPEN_STEP = (
    select(
        _steps.id,
        _steps.level,
        _steps.label,
        _steps.post,
        _steps.organisation_id,
        _steps.mode,
        _steps.assignees,
        _steps.started_at,
        _decisions.level.label("approved_level"),
        _decisions.actor_id,
        _decisions.on_behalf_of_id,
    )
    .outerjoin(Decision.__table__, and_(_decisions.request_id == _steps.request_id, STANDING_APPROVAL))
    .where(
        _steps.id
        == select(func.max(_steps.id))
        .where(
            _steps.request_id == bindparam("request"), _steps.level == bindparam("level"), _steps.finished_at.is_(None)
        )
        .scalar_subquery()
    )
)


def locked(session: Session, request_id: int) -> Case | None:
    """The request, its row locked until the transaction ends: deciders of one request take turns."""
    row = session.connection().execute(_LOCKED, {"id": request_id}).first()
    return Case(**row._asdict()) if row is not None else None


def open_step(session: Session, case: Case) -> OpenStep | None:
    """The step of the level under review; read after the lock, so it is the step the lock holder left."""
    params = {"request": case.id, "level": case.level, "round": case.round}
    rows = session.connection().execute(_OPEN_STEP, params).all()
    if not rows:
        return None
    step = rows[0]._asdict()
    for column in ("approved_level", "actor_id", "on_behalf_of_id"):
        del step[column]
    approvals = [(level, actor, behalf) for *_, level, actor, behalf in rows if level is not None]
    return OpenStep(**step, approvals=approvals)
