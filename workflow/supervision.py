"""What an inspector watches over the organisations they inspect and everything below them: steps past their time
limit, open alarms, stamps made outside office hours, approvals given too soon to have been read, and the
requests counted by village, matter, seal and month.

Office hours and months are China Standard Time's, where the villages are, whatever the server's zone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity import directory
from identity.auth import Principal
from identity.models import Organisation
from identity.posts import Post
from physical_seal import alarms, machines, stamps, views
from physical_seal.models import Machine
from workflow import catalogs, sla
from workflow.models import Decision, SealRequest, Step
from workflow.requests import SEAT_KINDS
from workflow.review import Verdict

CHINA = ZoneInfo("Asia/Shanghai")
QUICK_APPROVAL_SECONDS = 30  # an approval this soon after its step started can hardly have been read
OFFICE_OPENS, OFFICE_CLOSES = dt.time(8, 0), dt.time(18, 0)
RECENT = dt.timedelta(days=90)  # how far back stamps and approvals are looked at
CHART_MONTHS = 12

Bars = list[tuple[str, int]]


@dataclass(frozen=True)
class Dashboard:
    overdue: list[sla.Overdue]
    alarms: list[dict[str, Any]]
    off_hours: list[dict[str, Any]]
    quick: list[dict[str, Any]]
    by_village: Bars
    by_matter: Bars
    by_seal: Bars
    by_month: Bars
    since: dt.datetime  # of the stamps and approvals listed
    charted_since: dt.datetime  # of the requests counted


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The instants a day in China begins and ends."""
    start = dt.datetime.combine(day, dt.time(0), CHINA)
    return start, start + dt.timedelta(days=1)


def china_day(now: dt.datetime) -> dt.date:
    return now.astimezone(CHINA).date()


def outside_office_hours(moment: dt.datetime) -> bool:
    """Before 08:00 or after 18:00 in China, or on a Saturday or Sunday."""
    local = moment.astimezone(CHINA)
    return local.weekday() >= 5 or local.time() < OFFICE_OPENS or local.time() > OFFICE_CLOSES


def overseen(session: Session, who: Principal) -> list[Organisation]:
    """The organisations the principal inspects and those below them, parents first; Forbidden to others."""
    codes = {p.organisation_code for p in who.posts if p.post is Post.INSPECTOR}
    if not codes:
        raise Forbidden("supervision is for inspectors")
    return [org for _, org in directory.organisation_tree(session) if directory.is_within(session, org, codes)]


def dashboard(session: Session, who: Principal, now: dt.datetime) -> Dashboard:
    orgs = overseen(session, who)
    ids = {org.id for org in orgs}
    since = now - RECENT
    charted_since = _months_back(now, CHART_MONTHS)
    counted = _requests_since(session, ids, charted_since)
    kept = {m.id: m for m in machines.listing(session, who) if m.organisation_id in ids}
    return Dashboard(
        overdue=sla.overdue_for(session, who, now),
        alarms=_open_alarms(session, who, kept),
        off_hours=_off_hours_stamps(session, kept, since),
        quick=quick_approvals(session, ids, since),
        by_village=_by_village(session, orgs, counted),
        by_matter=_by_catalogue(session, counted, "matter"),
        by_seal=_by_catalogue(session, counted, "seal"),
        by_month=_by_month(counted, now),
        since=since,
        charted_since=charted_since,
    )


def _open_alarms(session: Session, who: Principal, kept: dict[str, Machine]) -> list[dict[str, Any]]:
    found = alarms.listing(session, who, open_only=True, machine_id=None, limit=alarms.MAX_LISTING)
    shown = views.alarms(session, [a for a in found if a.machine_id in kept])
    return [{**alarm, "machine_name": kept[alarm["machine"]].name} for alarm in shown]


def _off_hours_stamps(session: Session, kept: dict[str, Machine], since: dt.datetime) -> list[dict[str, Any]]:
    """The machines' stamps since ``since`` made outside office hours, newest first."""
    return [
        {
            "at": event.time,
            "machine": event.machine_id,
            "machine_name": kept[event.machine_id].name,
            "counter": event.counter,
            "custodian": event.custodian,
            "request_id": authorisation.request_id if authorisation else None,
            "number": authorisation.request_number if authorisation else None,
        }
        for event, authorisation in stamps.between(session, kept, since, None, newest_first=True)
        if outside_office_hours(event.time)
    ]


def quick_approvals(session: Session, ids: set[int], since: dt.datetime) -> list[dict[str, Any]]:
    """Approvals since ``since`` of requests of these organisations, decided within QUICK_APPROVAL_SECONDS of
    their step's start, newest first."""
    rows = session.execute(
        select(Decision, Step, SealRequest)
        .join(Step, Step.id == Decision.step_id)
        .join(SealRequest, SealRequest.id == Decision.request_id)
        .where(
            Decision.decision == Verdict.APPROVE,
            Decision.decided_at >= since,
            or_(SealRequest.organisation_id.in_(ids), SealRequest.group_id.in_(ids)),
        )
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
    ).all()
    found = []
    for decision, step, request in rows:
        seconds = (decision.decided_at - step.started_at).total_seconds()
        if seconds > QUICK_APPROVAL_SECONDS:
            continue
        found.append(
            {
                "request_id": request.id,
                "number": request.number,
                "organisation": request.organisation.name,
                "level": step.level,
                "label": step.label,
                "approver": decision.actor.display_name,
                "on_behalf_of": decision.on_behalf_of.display_name if decision.on_behalf_of else None,
                "seconds": max(0, round(seconds)),
                "decided_at": decision.decided_at,
            }
        )
    return found


@dataclass(frozen=True)
class _Counted:
    organisation_id: int
    catalog_version_id: int
    matter_code: str
    seal_kind: str
    created_at: dt.datetime


def _requests_since(session: Session, ids: set[int], since: dt.datetime) -> list[_Counted]:
    rows = session.execute(
        select(
            SealRequest.organisation_id,
            SealRequest.catalog_version_id,
            SealRequest.matter_code,
            SealRequest.seal_kind,
            SealRequest.created_at,
        ).where(
            or_(SealRequest.organisation_id.in_(ids), SealRequest.group_id.in_(ids)),
            SealRequest.created_at >= since,
        )
    ).all()
    return [_Counted(*row) for row in rows]


def _months_back(now: dt.datetime, months: int) -> dt.datetime:
    """The start, in China, of the month ``months - 1`` months before this one."""
    local = now.astimezone(CHINA)
    index = local.year * 12 + local.month - 1 - (months - 1)
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=CHINA)


def _by_village(session: Session, orgs: Sequence[Organisation], counted: Sequence[_Counted]) -> Bars:
    """Every village (or community) overseen, with none for those without requests; a group's requests count
    for its village."""
    seat_of: dict[int, Organisation] = {}
    for org in orgs:
        chain = directory.ancestors(session, org)
        seat_of[org.id] = next((o for o in chain if o.kind in SEAT_KINDS), org)
    counts = Counter(seat_of[c.organisation_id].name for c in counted if c.organisation_id in seat_of)
    for org in orgs:
        if org.kind in SEAT_KINDS:
            counts.setdefault(org.name, 0)
    return _ranked(counts)


def _by_catalogue(session: Session, counted: Sequence[_Counted], what: str) -> Bars:
    """Requests by matter or by seal kind, named as the catalogue each request was made under names them."""
    counts: Counter[str] = Counter()
    for c in counted:
        catalog = catalogs.version(session, c.catalog_version_id)
        if what == "matter":
            matter = catalog.matter(c.matter_code)
            counts[matter.name if matter else c.matter_code] += 1
        else:
            seal = catalog.seals.get(c.seal_kind)
            counts[seal.name if seal else c.seal_kind] += 1
    return _ranked(counts)


def _by_month(counted: Sequence[_Counted], now: dt.datetime) -> Bars:
    """The last CHART_MONTHS months in China, oldest first, each with its count (none too)."""
    months = [_months_back(now, n).strftime("%Y-%m") for n in range(CHART_MONTHS, 0, -1)]
    counts = Counter(c.created_at.astimezone(CHINA).strftime("%Y-%m") for c in counted)
    return [(month, counts.get(month, 0)) for month in months]


def _ranked(counts: Counter[str]) -> Bars:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
