"""Physical seals in the life of a request: the final approval issues an authorisation to the organisation's seal
machine, and what the machine reports (its first stamp, its last use, a custodian closing it), the passing of the
window, or the machine's authorisations being revoked moves the request on. Alarms reach the people who must act.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca.hierarchy import Authority
from core.blobs import BlobStore
from core.errors import Invalid, NotFound
from core.settings import CaSettings
from identity.auth import Principal
from physical_seal import alarms, authorisations, intake, machines, relay, watch
from physical_seal.intake import Outcome
from physical_seal.models import Alarm, Authorisation, Machine
from workflow import history, sheet
from workflow.execution import ExecutionFailed, complete, fail
from workflow.models import SealRequest, record_path
from workflow.notify import notify
from workflow.requests import document_of
from workflow.states import State

ALARM_TITLES = {
    "tamper": "用印机被撬动",
    "unauthorised-stamp": "未经授权的用印",
    "uses-exceeded": "用印次数超限",
    "outside-window": "超出授权时间用印",
    "outside-fence": "超出授权地点用印",
    "document-mismatch": "用印文件与审批文件不符",
    "custodian-not-allowed": "非指定保管员用印",
    "clock-drift": "用印机时钟偏差",
    "power-loss": "用印中断电",
    "counter-gap": "用印记录缺失",
    "counter-replay": "用印记录重放",
    "forged-event": "伪造的用印记录",
    "revoked-machine": "已停用的用印机上报记录",
    "machine-silent": "用印机长时间未联系",
    "photo-missing": "缺少用印照片",
}


@dataclass
class PhysicalAuthorisation:
    """The executor of ``seal_form: physical``: an authorisation signed for the machine that holds the seal."""

    authority: Callable[[], Authority]  # loaded at first use: the CA may be initialised after the start
    hours: float
    blobs: BlobStore
    public_url: str
    webhook: str | None = None
    completes: bool = field(default=False, init=False)  # the request completes with the machine's stamps

    def execute(self, session: Session, request: SealRequest, now: dt.datetime) -> Mapping[str, Any]:
        found = authorisations.machine_for(session, request.organisation_id, request.seal_kind)
        if found is None:
            raise ExecutionFailed(
                f"{request.organisation.name} has no seal machine in service holding a {request.seal_kind} seal"
            )
        machine, slot = found
        link = f"{self.public_url.rstrip('/')}{record_path(request)}"
        printed = self.blobs.put(sheet.printable(self.blobs.get(request.document_sha256), link))
        issued = authorisations.issue(
            session,
            self.authority(),
            machine=machine,
            slot=slot,
            request_id=request.id,
            request_number=request.number or str(request.id),
            document_sha256=printed.sha256,
            uses=request.copies,
            not_before=now,
            not_after=now + dt.timedelta(hours=self.hours),
            now=now,
        )
        notify(
            session,
            set(machine.custodians),
            "stamp-waiting",
            request,
            "待用印",
            f"用章申请 {request.number} 已授权在{machine.name}用印 {issued.uses} 次，请打印用印文件并核对后用印。",
            now,
            self.webhook,
        )
        return {
            "authorisation": issued.id,
            "machine": machine.id,
            "slot": slot,
            "uses": issued.uses,
            "not_after": issued.not_after.isoformat(),
            "sheet": printed.sha256,
        }


def ingest(
    session: Session, machine: Machine, events: Sequence[bytes], now: dt.datetime, webhook: str | None
) -> list[Outcome]:
    """What a terminal uploads: the machine's signed events, checked and logged, and the requests moved on."""
    outcomes = intake.ingest(session, machine, events, now)
    for outcome in outcomes:
        for alarm in outcome.alarms:
            tell(session, machine, alarm, now, webhook)
        if outcome.transition is not None:
            authorisation, what = outcome.transition
            _advance(session, machine, authorisation, what, now, webhook)
    return outcomes


def _advance(
    session: Session, machine: Machine, authorisation: Authorisation, what: str, now: dt.datetime, webhook: str | None
) -> None:
    request = session.get(SealRequest, authorisation.request_id, with_for_update=True)
    if request is None or request.state not in (State.AUTHORISED, State.EXECUTING):
        return  # a request already ended (failed, expired) whose machine still reports: the log has the event
    actor = f"machine:{machine.id}"
    if what == "first-use" and request.state == State.AUTHORISED:
        request.state, request.updated_at = State.EXECUTING, now
        history.record(session, request, "stamping", actor, {"authorisation": authorisation.id}, now)
    elif what in ("spent", "closed"):
        result = {
            "authorisation": authorisation.id,
            "machine": machine.id,
            "uses": authorisation.uses,
            "used": authorisation.used,
            "closed": what == "closed",
        }
        complete(session, request, actor, result, now, webhook)


def expire(session: Session, now: dt.datetime, webhook: str | None) -> int:
    """Authorisations whose window has passed, and their requests; commits. Returns how many expired."""
    expired = authorisations.expire_due(session, now)
    for authorisation in expired:
        request = session.get(SealRequest, authorisation.request_id, with_for_update=True)
        if request is None or request.state not in (State.AUTHORISED, State.EXECUTING):
            continue
        request.state, request.updated_at, request.finished_at = State.EXPIRED, now, now
        data = {"authorisation": authorisation.id, "used": authorisation.used, "uses": authorisation.uses}
        history.record(session, request, "expired", "system", data, now)
        notify(
            session,
            {request.applicant_id, request.submitted_by_id},
            "expired",
            request,
            "用印授权已过期",
            f"您的用章申请 {request.number} 的用印授权已过期（已用 {authorisation.used}/{authorisation.uses} 次）。",
            now,
            webhook,
        )
    session.commit()
    return len(expired)


def cancelled(
    session: Session, rows: Sequence[Authorisation], actor: str, reason: str, now: dt.datetime, webhook: str | None
) -> None:
    """Requests whose authorisations were cancelled fail, so that a seal administrator may authorise them again."""
    for authorisation in rows:
        request = session.get(SealRequest, authorisation.request_id, with_for_update=True)
        if request is not None and request.state in (State.AUTHORISED, State.EXECUTING):
            fail(session, request, actor, reason, now, webhook)


def revoke_epoch(
    session: Session,
    authority: Authority,
    machine_id: str,
    who: Principal,
    reason: str,
    now: dt.datetime,
    webhook: str | None,
) -> machines.RevokedEpoch:
    """Every outstanding authorisation of a machine void at once (a machine lost, a key in doubt); commits."""
    revoked = machines.revoke_epoch(session, authority, machine_id, who, reason, now)
    cancelled(
        session,
        revoked.cancelled,
        f"user:{who.username}",
        f"用印机 {machine_id} 的授权已全部撤销：{reason}",
        now,
        webhook,
    )
    session.commit()
    return revoked


def retire(
    session: Session,
    authority: Authority,
    ca_settings: CaSettings,
    machine_id: str,
    who: Principal,
    reason: str,
    now: dt.datetime,
    webhook: str | None,
) -> Machine:
    """A machine out of service for good: its certificate revoked, its authorisations cancelled; commits."""
    machine, live = machines.retire(session, authority, ca_settings, machine_id, who, reason, now)
    cancelled(session, live, f"user:{who.username}", f"用印机 {machine_id} 已退役：{reason}", now, webhook)
    session.commit()
    return machine


def scan(
    session: Session, now: dt.datetime, silent_after: dt.timedelta, photo_within: dt.timedelta, webhook: str | None
) -> int:
    """The alarms nobody reports: machines gone silent, stamps without their photo; commits."""
    raised = watch.scan(session, now, silent_after=silent_after, photo_within=photo_within)
    for alarm in raised:
        machine = session.get(Machine, alarm.machine_id)
        assert machine is not None, "an alarm is raised about a machine that exists"
        tell(session, machine, alarm, now, webhook)
    session.commit()
    return len(raised)


def tell(session: Session, machine: Machine, alarm: Alarm, now: dt.datetime, webhook: str | None) -> None:
    """An alarm reaches the machine's custodians, its organisation's seal administrators and the inspectors."""
    title = ALARM_TITLES.get(alarm.code, alarm.code)
    notify(
        session,
        alarms.recipients(session, machine, now),
        "alarm",
        None,
        f"用印机告警：{title}",
        f"用印机 {machine.name}（{machine.id}）：{title}。{alarm.detail}",
        now,
        webhook,
    )


def upload(
    session: Session,
    machine_id: str,
    credential: str,
    events: Sequence[bytes],
    now: dt.datetime,
    *,
    limit: int,
    webhook: str | None,
) -> list[Outcome]:
    """A terminal's upload of its machine's events, in the machine's order; commits."""
    if len(events) > limit:
        raise Invalid(f"an upload holds at most {limit} events, this one {len(events)}")
    machine = relay.seen(session, machine_id, credential, now)
    outcomes = ingest(session, machine, events, now, webhook)
    session.commit()
    return outcomes


def sheet_of(session: Session, request_id: int, who: Principal, now: dt.datetime) -> tuple[SealRequest, str]:
    """The request and the SHA-256 of the sheet its machine was last authorised to stamp: the document with its
    QR code, so for those who may take the document (``requests.document_of``)."""
    request, _, _ = document_of(session, request_id, who, original=True, now=now)
    latest = session.scalar(
        select(Authorisation.document_sha256)
        .where(Authorisation.request_id == request.id)
        .order_by(Authorisation.issued_at.desc(), Authorisation.id)
        .limit(1)
    )
    if latest is None:
        raise NotFound(f"request {request.number} has no sheet to stamp: it is not authorised to a seal machine")
    return request, latest
