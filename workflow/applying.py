"""Where a user may ask for a seal: the villages, communities and village groups they live in or hold a post in,
each with its village groups, and the group they live in. ``requests.submit`` still decides; this only offers
the choices that can pass it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity import directory
from identity.auth import Principal
from identity.models import Organisation
from identity.posts import OrgKind
from workflow.requests import SEAT_KINDS

_ASKED = SEAT_KINDS | {OrgKind.GROUP}


@dataclass(frozen=True)
class Seat:
    """An organisation whose seals the user may ask for, with its village groups as (code, name)."""

    code: str
    name: str
    kind: str
    groups: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Choices:
    seats: tuple[Seat, ...]
    home_group: str | None  # the village group the user lives in, if any

    def seat(self, code: str) -> Seat | None:
        return next((s for s in self.seats if s.code == code), None)


def choices(session: Session, who: Principal) -> Choices:
    """Villages first (where a resident's requests usually go), then the groups, each once."""
    user = directory.user(session, who.username)
    starts = [user.home_organisation] if user.home_organisation is not None else []
    starts += [directory.organisation(session, p.organisation_code) for p in who.posts]
    found: dict[int, Organisation] = {}
    for start in starts:
        for org in directory.ancestors(session, start):
            if OrgKind(org.kind) in _ASKED:
                found.setdefault(org.id, org)
    groups: dict[int, list[tuple[str, str]]] = {}
    for group in session.scalars(
        select(Organisation)
        .where(Organisation.parent_id.in_(found), Organisation.kind == OrgKind.GROUP)
        .order_by(Organisation.code)
    ):
        groups.setdefault(group.parent_id or 0, []).append((group.code, group.name))
    ordered = sorted(found.values(), key=lambda o: (o.kind == OrgKind.GROUP, o.code))
    home = user.home_organisation
    return Choices(
        tuple(Seat(o.code, o.name, o.kind, tuple(groups.get(o.id, []))) for o in ordered),
        home.code if home is not None and home.kind == OrgKind.GROUP else None,
    )
