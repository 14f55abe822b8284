"""Who decides a step: the holders of the level's post in the level's organisation, or their deputies, and
nobody whom separation of duties rules out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, null, select, tuple_, union_all
from sqlalchemy.orm import Session

from core.errors import Forbidden, Invalid
from identity.delegation import fits
from identity.models import Delegation, PostGrant, User
from identity.posts import Post
from workflow.case import STANDING_APPROVAL, Approval, Case, OpenStep
from workflow.catalog import Level, Mode, Scope
from workflow.models import Decision


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


Seat = tuple[int, str]  # (organisation id, post)

_grants = PostGrant.__table__.c
_users = User.__table__.c
_delegations = Delegation.__table__.c
_decisions = Decision.__table__.c

_SEATED = union_all(  # holders (deputy NULL), then the delegations in force for the same seats
    select(_grants.organisation_id, _grants.post, _grants.user_id, null().label("deputy_id"))
    .join_from(PostGrant.__table__, User.__table__, _users.id == _grants.user_id)
    .where(
        tuple_(_grants.organisation_id, _grants.post).in_(bindparam("seats", expanding=True)),
        PostGrant.in_force(bindparam("at")),
        _users.active.is_(True),
    ),
    select(_delegations.organisation_id, _delegations.post, _delegations.holder_id, _delegations.deputy_id).where(
        tuple_(_delegations.organisation_id, _delegations.post).in_(bindparam("seats", expanding=True)),
        _delegations.valid_from <= bindparam("at"),
        _delegations.valid_until > bindparam("at"),
        _delegations.ended_at.is_(None),
    ),
)
_APPROVALS = select(_decisions.level, _decisions.actor_id, _decisions.on_behalf_of_id).where(
    _decisions.request_id == bindparam("request"), STANDING_APPROVAL
)


def level_organisation(session: Session, case: Case, level: Level) -> int:
    """The organisation whose post holders decide ``level`` of this request."""
    if level.scope is Scope.GROUP:
        if case.group_id is None:
            raise Unroutable(f"'{level.label}' is decided in the requester's village group; the request names none")
        return case.group_id
    if level.scope is Scope.PARENT:
        if case.parent_id is None:
            raise Unroutable(f"'{level.label}' is decided above {case.organisation_name}, which has no parent")
        return case.parent_id
    return case.organisation_id


@dataclass
class Seats:
    """Who holds some posts at one moment, and who deputises for them: read for all the posts a decision needs
    in one statement, and on demand for any other."""

    session: Session
    at: dt.datetime
    holders: dict[Seat, list[int]] = field(default_factory=dict)
    delegations: dict[Seat, list[tuple[int, int]]] = field(default_factory=dict)  # (holder, deputy)

    @classmethod
    def read(cls, session: Session, seats: Iterable[Seat], at: dt.datetime) -> Seats:
        found = cls(session, at)
        found.load({(org, str(post)) for org, post in seats})
        return found

    def load(self, seats: set[Seat]) -> None:
        wanted = sorted(seats - self.holders.keys())
        if not wanted:
            return
        for seat in wanted:
            self.holders[seat], self.delegations[seat] = [], []
        for org, post, holder, deputy in self.session.connection().execute(_SEATED, {"seats": wanted, "at": self.at}):
            if deputy is None:
                self.holders[(org, post)].append(holder)
            else:
                self.delegations[(org, post)].append((holder, deputy))
        for seat in wanted:
            self.holders[seat].sort()

    def holding(self, organisation_id: int, post: str) -> list[int]:
        """Holders of the post, in id order."""
        self.load({(organisation_id, str(post))})
        return self.holders[(organisation_id, str(post))]

    def deputies(self, organisation_id: int, post: str, of: Iterable[int]) -> set[int]:
        """Deputies now acting for any of the holders ``of`` in this post, who still work where the post does
        (one who does not may not see the request, so is told nothing of it)."""
        self.load({(organisation_id, str(post))})
        holders = set(of)
        named = {deputy for holder, deputy in self.delegations[(organisation_id, str(post))] if holder in holders}
        return {deputy for deputy in named if fits(self.session, deputy, organisation_id, self.at)}

    def authority(self, actor_id: int, step: OpenStep) -> Authority:
        """How ``actor_id`` may decide ``step``: as a holder, or as a deputy of one; NotAnApprover otherwise."""
        if Mode(step.mode) is Mode.ANY:
            eligible = set(self.holding(step.organisation_id, step.post))
        else:
            eligible = set(step.assignees)  # 会签 and 两委: the holders when the level began
        if actor_id in eligible:
            return Authority(actor_id, None)
        for holder, deputy in self.delegations[(step.organisation_id, step.post)]:
            if deputy == actor_id and holder in eligible and fits(self.session, deputy, step.organisation_id, self.at):
                return Authority(actor_id, holder)
        raise NotAnApprover(f"you do not decide '{step.label}' (level {step.level}) of this request")


def holders(session: Session, organisation_id: int, post: str, at: dt.datetime) -> list[int]:
    return Seats.read(session, [(organisation_id, post)], at).holding(organisation_id, post)


def deputies_of(session: Session, holder_ids: list[int], organisation_id: int, post: str, at: dt.datetime) -> set[int]:
    return Seats.read(session, [(organisation_id, post)], at).deputies(organisation_id, post, holder_ids)


@dataclass
class Duties:
    """What separation of duties needs to know about a request, read once per decision."""

    case: Case
    custodians: set[int]
    approvals: list[Approval]  # standing in this round

    @classmethod
    def read(cls, session: Session, case: Case, seats: Seats) -> Duties:
        rows = session.connection().execute(_APPROVALS, {"request": case.id, "round": case.round})
        return cls.of(case, seats, [(level, actor, behalf) for level, actor, behalf in rows])

    @classmethod
    def of(cls, case: Case, seats: Seats, approvals: list[Approval]) -> Duties:
        """With the approvals read already, as ``open_step`` does."""
        return cls(case, set(seats.holding(case.organisation_id, Post.CUSTODIAN)), list(approvals))

    @property
    def barred(self) -> set[int]:
        """People who may not approve this request at all: its applicant and submitter, the custodians of the
        organisation's seals, and whoever already approved it in this round."""
        people = {self.case.applicant_id, self.case.submitted_by_id} | self.custodians
        for _, actor, behalf in self.approvals:
            people |= {actor} | ({behalf} if behalf is not None else set())
        return people

    def check(self, step: OpenStep, who: Authority) -> None:
        if who.identities & {self.case.applicant_id, self.case.submitted_by_id}:
            raise SeparationOfDuties("nobody decides on their own request")
        for level, actor, behalf in self.approvals:
            if who.identities & {actor, behalf} - {None}:
                if level == step.level:
                    raise SeparationOfDuties(f"you already approved level {level} of this request")
                raise SeparationOfDuties(f"you already approved this request at level {level}; nobody approves twice")
        if who.identities & self.custodians:
            raise SeparationOfDuties(
                f"custodians of the seals of {self.case.organisation_name} do not approve their use"
            )

    def approved(self, level: int, who: Authority) -> None:
        self.approvals.append((level, who.actor_id, who.on_behalf_of_id))
