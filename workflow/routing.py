"""Who decides a step: the holders of the level's post in the level's organisation, or their deputies, and
nobody whom separation of duties rules out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from identity.models import Delegation, Organisation, PostGrant, User
from identity.posts import Post
from sealgate.errors import Forbidden, Invalid
from workflow.catalog import Level, Mode, Scope
from workflow.models import Decision, SealRequest, Step


class NotAnApprover(Forbidden):
    problem = "not-an-approver"


class SeparationOfDuties(Forbidden):
    problem = "separation-of-duties"


class Unroutable(Invalid):
    problem = "unroutable"


@dataclass(frozen=True)
class Authority:
    """The actor, and the holder they act for when they act as a deputy."""

    actor_id: int
    on_behalf_of_id: int | None

    @property
    def identities(self) -> set[int]:
        return {self.actor_id} | ({self.on_behalf_of_id} if self.on_behalf_of_id is not None else set())


def level_organisation(request: SealRequest, level: Level) -> Organisation:
    if level.scope is Scope.GROUP:
        if request.group is None:
            raise Unroutable(f"'{level.label}' is decided in the requester's village group; the request names none")
        return request.group
    if level.scope is Scope.PARENT:
        if request.organisation.parent is None:
            raise Unroutable(f"'{level.label}' is decided above {request.organisation.name}, which has no parent")
        return request.organisation.parent
    return request.organisation


def holders(session: Session, organisation_id: int, post: str, at: dt.datetime) -> list[int]:
    return list(
        session.scalars(
            select(PostGrant.user_id)
            .join(User, User.id == PostGrant.user_id)
            .where(
                PostGrant.organisation_id == organisation_id,
                PostGrant.post == post,
                PostGrant.valid_from <= at,
                or_(PostGrant.valid_until.is_(None), PostGrant.valid_until > at),
                User.active.is_(True),
            )
            .order_by(PostGrant.user_id)
        )
    )


def _deputised(session: Session, deputy_id: int, organisation_id: int, post: str, at: dt.datetime) -> list[int]:
    """Holders who handed this post to ``deputy_id`` for a period that includes ``at``."""
    return list(
        session.scalars(
            select(Delegation.holder_id).where(
                Delegation.deputy_id == deputy_id,
                Delegation.organisation_id == organisation_id,
                Delegation.post == post,
                Delegation.valid_from <= at,
                Delegation.valid_until > at,
                Delegation.ended_at.is_(None),
            )
        )
    )


def authority(session: Session, actor_id: int, step: Step, at: dt.datetime) -> Authority:
    """How ``actor_id`` may decide ``step``: as a holder, or as a deputy of one; NotAnApprover otherwise."""
    if Mode(step.mode) is Mode.ANY:
        eligible = set(holders(session, step.organisation_id, step.post, at))
    else:
        eligible = set(step.assignees)  # 会签 and 两委: the holders when the level began
    if actor_id in eligible:
        return Authority(actor_id, None)
    for holder in _deputised(session, actor_id, step.organisation_id, step.post, at):
        if holder in eligible:
            return Authority(actor_id, holder)
    raise NotAnApprover(f"you do not decide '{step.label}' (level {step.level}) of this request")


@dataclass
class Duties:
    """What separation of duties needs to know about a request, read once per decision."""

    request: SealRequest
    custodians: set[int]
    approvals: list[tuple[int, int, int | None]]  # (level, actor, holder acted for) standing in this round

    @classmethod
    def of(cls, session: Session, request: SealRequest, at: dt.datetime) -> Duties:
        rows = session.execute(
            select(Decision.level, Decision.actor_id, Decision.on_behalf_of_id).where(
                Decision.request_id == request.id,
                Decision.round == request.round,
                Decision.decision == "approve",
                Decision.superseded.is_(False),
            )
        ).all()
        custodians = set(holders(session, request.organisation_id, Post.CUSTODIAN, at))
        return cls(request, custodians, [(level, actor, behalf) for level, actor, behalf in rows])

    @property
    def barred(self) -> set[int]:
        """People who may not approve this request at all: its applicant and submitter, the custodians of the
        organisation's seals, and whoever already approved it in this round."""
        people = {self.request.applicant_id, self.request.submitted_by_id} | self.custodians
        for _, actor, behalf in self.approvals:
            people |= {actor} | ({behalf} if behalf is not None else set())
        return people

    def check(self, step: Step, who: Authority) -> None:
        if who.identities & {self.request.applicant_id, self.request.submitted_by_id}:
            raise SeparationOfDuties("nobody decides on their own request")
        for level, actor, behalf in self.approvals:
            if who.identities & {actor, behalf} - {None}:
                if level == step.level:
                    raise SeparationOfDuties(f"you already approved level {level} of this request")
                raise SeparationOfDuties(f"you already approved this request at level {level}; nobody approves twice")
        if who.identities & self.custodians:
            raise SeparationOfDuties(
                f"custodians of the seals of {self.request.organisation.name} do not approve their use"
            )

    def approved(self, level: int, who: Authority) -> None:
        self.approvals.append((level, who.actor_id, who.on_behalf_of_id))
