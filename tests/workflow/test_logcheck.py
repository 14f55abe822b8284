"""The audit's completeness check of the workflow: catalogue versions, requests, decisions and deliveries made
through the workflow's own functions are all found in the log, a row whose entry is gone is named, and
``sealgate log audit`` fails on a decision that bypassed the log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import db
from core.blobs import BlobStore, FileBlobStore
from core.clock import ManualClock
from identity.auth import principal_of
from identity.models import User
from ledger.entry import timestamp
from ledger.models import PendingEntry
from tests.cli.support import run
from tests.workflow import pdfs
from tests.workflow.bureau import Receiver, running
from tests.workflow.conftest import Village
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import catalogs, delivery, requests, review
from workflow.catalog import SealForm
from workflow.delivery import Delivered, Deliverer
from workflow.logcheck import missing_entries
from workflow.models import Decision, SealRequest
from workflow.requests import Submission
from workflow.review import Verdict

MINUTE = dt.timedelta(minutes=1)


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def submit(session: Session, blobs: BlobStore, now: dt.datetime, username: str, **fields: Any) -> int:
    sub = Submission(copies=1, place="水南村委会", document=fields.pop("document", None), **fields)
    who = principal_of(session, user(session, username), now)
    return requests.submit(session, who, sub, blobs=blobs, max_bytes=10_000_000, now=now).id


def decide(session: Session, request: int, username: str, level: int, now: dt.datetime, **how: Any) -> None:
    actor = review.Actor(user(session, username).id, username)
    verdict, to_level = how.get("verdict", Verdict.APPROVE), how.get("to_level")
    comment = "" if verdict is Verdict.APPROVE else "再核一次"
    review.decide(session, request, actor, level=level, verdict=verdict, comment=comment, to_level=to_level, now=now)


def village_request(village: Village, clock: ManualClock) -> int:
    """Approved at level 1 twice by the same leader (the second time after a return), then at level 2."""
    runtime = village.runtime
    with runtime.sessions() as s:
        fields = {"organisation": "yz.sn", "seal": "village_official", "seal_form": SealForm.ELECTRONIC}
        form = {"address": "水南村一组 12 号"}
        request = submit(
            s,
            runtime.blobs,
            clock.now(),
            "resident",
            matter="test.residence",
            purpose="办理居住证明",
            form=form,
            document=pdfs.clean("申请"),
            **fields,
        )
        decide(s, request, "leader", 1, clock.advance(MINUTE))
        decide(s, request, "secretary", 2, clock.advance(MINUTE), verdict=Verdict.RETURN, to_level=1)
        decide(s, request, "leader", 1, clock.advance(MINUTE))
        decide(s, request, "secretary", 2, clock.advance(MINUTE))
        s.commit()
    return request


def test_a_decision_without_its_entry_is_named_exactly(village: Village, clock: ManualClock) -> None:
    request = village_request(village, clock)
    with village.runtime.sessions() as s:
        assert list(missing_entries(s)) == []
        first, _, again, _ = s.scalars(select(Decision).order_by(Decision.id)).all()
        at = timestamp(again.decided_at)
        (entry,) = [
            e
            for e in s.scalars(select(PendingEntry).where(PendingEntry.type == "request.decided"))
            if json.loads(e.body)["time"] == at
        ]
        s.delete(entry)
        assert list(missing_entries(s)) == [
            f"decision {again.id} on request {request} (round 1, level 1, approve by leader at {at}) "
            "has no request.decided entry"
        ]
        assert timestamp(first.decided_at) != at
        s.execute(delete(PendingEntry).where(PendingEntry.type.in_(("request.submitted", "catalog.loaded"))))
        number = s.get_one(SealRequest, request).number
        assert list(missing_entries(s))[:2] == [
            "catalogue version 1 has no catalog.loaded entry",
            f"request {number} (id {request}) has no request.submitted entry",
        ]


def test_a_delivery_without_its_entry_is_named(village: Village, clock: ManualClock) -> None:
    request = village_request(village, clock)
    runtime = village.runtime
    with running(Receiver(clock, None)) as receiver:
        with runtime.sessions() as s:
            delivery.set_endpoint(s, "agriculture", url=receiver.url, key_id="k", secret="s" * 32, now=clock.now())
            for key in ("first", "second"):
                payload = key.encode()
                delivery.enqueue(
                    s,
                    kind="bureau",
                    target="agriculture",
                    request_id=request,
                    payload=payload,
                    key=key,
                    now=clock.now(),
                )
            s.commit()
        deliverer = Deliverer(runtime.sessions, runtime.settings.workflow, clock)
        assert deliverer.deliver_due(limit=1) == Delivered(1, 0, 0)
        receiver.status = 404
        assert deliverer.deliver_due() == Delivered(0, 0, 1)
    with runtime.sessions() as s:
        assert list(missing_entries(s)) == []
        s.execute(delete(PendingEntry).where(PendingEntry.type.in_(("request.delivered", "request.delivery_dead"))))
        assert list(missing_entries(s)) == [
            f"outbox message 1 of request {request}, delivered to agriculture, has no request.delivered entry",
            f"outbox message 2 of request {request}, dead at agriculture, has no request.delivery_dead entry",
        ]


@pytest.mark.slow
def test_the_audit_fails_on_a_decision_that_bypassed_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogs, "_parsed", {})  # versions are cached by id, and this is another database
    for command in (("demo",), ("log", "integrate", "--once")):
        assert run(tmp_path, *command).returncode == 0
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'var/sealgate.db'}")
    now = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).replace(microsecond=0)
    try:
        with db.session_factory(engine)() as s:
            fields = {**WINTER_VEGETABLE_SUBSIDY, "seal_form": SealForm(WINTER_VEGETABLE_SUBSIDY["seal_form"])}
            request = submit(s, FileBlobStore(tmp_path / "var/blobs"), now, "sn.resident", **fields)
            decide(s, request, "sn.g1.leader", 1, now)
            s.execute(delete(PendingEntry).where(PendingEntry.type == "request.decided"))
            decision = s.scalars(select(Decision.id)).one()
            s.commit()
    finally:
        engine.dispose()
    failed = run(tmp_path, "log", "audit")
    assert failed.returncode == 1
    assert [line for line in failed.stderr.splitlines() if line.startswith("PROBLEM")] == [
        f"PROBLEM: decision {decision} on request {request} (round 1, level 1, approve by sn.g1.leader "
        f"at {timestamp(now)}) has no request.decided entry"
    ]


def test_a_request_moved_to_another_applicant_or_matter_is_named(village: Village, clock: ManualClock) -> None:
    """The submission's entry commits to its applicant and matter; the check opens the commitments."""
    request = village_request(village, clock)
    with village.runtime.sessions() as s:
        assert list(missing_entries(s)) == []
        row = s.get_one(SealRequest, request)
        row.applicant_id = user(s, "resident2").id
        s.flush()
        assert list(missing_entries(s)) == [
            f"request {row.number} (id {request}) is test.residence for resident2; its request.submitted entry says "
            "test.residence for user:resident"
        ]
        row.applicant_id, row.matter_code = user(s, "resident").id, "test.subsidy"
        s.flush()
        assert list(missing_entries(s)) == [
            f"request {row.number} (id {request}) is test.subsidy for resident; its request.submitted entry says "
            "test.residence for user:resident"
        ]
