"""The world the authorisation matrix runs in: the demo in a database of its own, something of each kind a route
names (a request of 水南村, a seal, a machine, an alarm, a delegation, a pending certificate operation, ...), and
one signed-in caller per kind of post, by bearer token for the API and by cookie session for the pages."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api import create_app
from ca import operations, seals
from ca.models import Seal
from core import db
from core.blobs import FileBlobStore
from core.clock import ManualClock
from core.keystore import Keystore
from core.runtime import Runtime
from core.settings import load_settings
from identity import admin, auth, delegation, directory
from identity.models import Delegation, PostGrant, User
from identity.posts import Post
from ledger.service import LogService
from physical_seal import alarms
from sealgate.schema import metadata
from tests import demo_snapshot
from tests.conftest import PG_ENV, T0, empty
from tests.web.conftest import password, sign_in, subsidy
from workflow import execution, review
from workflow.execution import Executors
from workflow.models import Notification, OutboxMessage

ANONYMOUS = "anonymous"


@dataclass
class World:
    """The app, a value for each path parameter, and each caller's credentials."""

    runtime: Runtime
    app: FastAPI
    samples: dict[str, str]
    api: TestClient  # no cookies: the API is called with bearer tokens
    bearer: dict[str, dict[str, str]] = field(default_factory=dict)
    browsers: dict[str, TestClient] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)

    def sample(self, name: str, who: str) -> str:
        """The sample of ``name`` kept for ``who``, or the one for everyone."""
        return self.samples.get(f"{name}:{who}", self.samples[name])

    def fingerprint(self) -> dict[str, int]:
        """Rows in every table: the log's entries among them, so a refusal that logged or kept anything shows."""
        tables = metadata.sorted_tables
        counts = select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables))
        with self.runtime.engine.connect() as conn:
            row = conn.execute(counts).one()
        return {t.name: n for t, n in zip(tables, row, strict=True)}

    def sign_in(self, username: str) -> None:
        answer = self.api.post("/api/v1/auth/token", data={"username": username, "password": password(username)})
        assert answer.status_code == 200, answer.text
        self.bearer[username] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        browser = TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)
        self.csrf[username] = sign_in(browser, username)
        self.browsers[username] = browser


def _samples(runtime: Runtime) -> dict[str, str]:
    """Things of the demo for the path parameters; several requests, so that one withdrawn or decided leaves the
    others as they were."""
    main, to_withdraw, to_decide, to_retry = (subsidy(runtime) for _ in range(4))
    now = runtime.clock.now()
    with runtime.sessions() as session:
        certadmin2 = auth.principal_of(session, directory.user(session, "yz.certadmin2"), now)
        admin2 = auth.principal_of(session, directory.user(session, "yz.admin2"), now)
        asked = admin.grant(
            session,
            admin2,
            username="cx.resident",
            post=Post.COMMITTEE_MEMBER,
            organisation="yazhou.chengxi",
            valid_from=now,
            valid_until=None,
            now=now,
        )
        electronic = seals.add(
            session,
            "yazhou.shuinan",
            "village_finance",
            seals.SealForm.ELECTRONIC,
            "三亚市崖州区水南村村民委员会",
            now,
            "test",
        )
        operation = operations.ask(session, certadmin2, operations.Kind.ISSUE, electronic.id, now)
        physical = session.scalars(select(Seal).where(Seal.form == seals.SealForm.PHYSICAL).order_by(Seal.id)).first()
        assert physical is not None, "the demo's machines hold physical seals"
        alarm = alarms.raise_alarm(session, "shuinan-1", "machine-silent", "service", "quiet", now)
        # Four delegations of the secretary's post to sn.staff, one after another (they may not overlap), so that
        # each who may end one finds one to end.
        made = {
            f"{route}:{who}": delegation.delegate(
                session,
                holder="sn.secretary",
                deputy="sn.staff",
                org_code="yazhou.shuinan",
                post=Post.SECRETARY,
                valid_from=now + dt.timedelta(days=2 * turn),
                valid_until=now + dt.timedelta(days=2 * turn + 1),
                now=now,
                actor="test",
            ).id
            for turn, (route, who) in enumerate(
                (r, w) for r in ("delegation_id", "page_delegation_id") for w in ("sn.secretary", "sn.staff")
            )
        }
        leader = directory.user(session, "sn.g1.leader")
        # A delegation of the group leader's post to the secretary of another village, written as one made before
        # deputies had to work where the post does: it must give its deputy nothing.
        session.add(
            Delegation(
                organisation_id=directory.organisation(session, "yazhou.shuinan.g1").id,
                post=Post.GROUP_LEADER,
                holder_id=leader.id,
                deputy_id=directory.user(session, "bl.secretary").id,
                valid_from=now,
                valid_until=now + dt.timedelta(days=7),
                created_at=now,
            )
        )
        note = session.scalars(select(Notification).where(Notification.user_id == leader.id)).first()
        assert note is not None, "a submission tells the approvers of its first step"
        message = OutboxMessage(
            kind="delivery",
            target="https://bureau.example/inbox",
            request_id=main.id,
            payload=b"{}",
            idempotency_key="matrix-dead-letter",
            status="dead",
            attempts=9,
            next_attempt_at=now,
            last_error="refused",
            created_at=now,
        )
        session.add(message)
        grants = {
            name: session.scalars(
                select(PostGrant).join(User, PostGrant.user_id == User.id).where(User.username == name)
            ).one()
            for name in ("cx.committee1", "cx.committee2")
        }
        session.commit()
        return {
            "request_id": str(main.id),
            "withdrawn_id": str(to_withdraw.id),
            "decided_id": str(to_decide.id),
            "retried_id": str(to_retry.id),
            "grant_request_id": str(asked.id),
            "public_id": main.public_id,
            "number": "1",
            "sha256": "0" * 64,
            "machine_id": "shuinan-1",
            "alarm_id": str(alarm.id),
            "seal_id": str(physical.id),
            "op_id": str(operation.id),
            "operation_id": str(operation.id),
            **{name: str(number) for name, number in made.items()},
            "delegation_id": str(made["delegation_id:sn.secretary"]),
            "page_delegation_id": str(made["page_delegation_id:sn.secretary"]),
            "notification_id": str(note.id),
            "message_id": str(message.id),
            "username": "sn.resident",
            "victim": "cx.committee2",
            "grant_id": str(grants["cx.committee2"].id),
            "page_victim": "cx.committee1",
            "page_grant_id": str(grants["cx.committee1"].id),
            "code": "agri.winter-vegetable-subsidy",
            "bureau": "yazhou.agri",
            "matter": "civil.project-contract",
            "page_matter": "civil.labour-agreement",
            "index": "0",
            "slug": "invalid-token",
            "encoded": "AAAA",
        }


def _sealed(runtime: Runtime, executors: Executors) -> int:
    """A subsidy approved at its three levels and sealed: its result is queued for the agriculture bureau (and
    not delivered, as nobody runs the deliveries)."""
    request = subsidy(runtime)
    now = runtime.clock.now()
    with runtime.sessions() as session:
        for username, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
            user = directory.user(session, username)
            actor = review.Actor(user.id, user.username)
            review.decide(
                session,
                request.id,
                actor,
                level=level,
                verdict=review.Verdict.APPROVE,
                comment="",
                to_level=None,
                now=now,
            )
        session.commit()
    ran = execution.run_pending(runtime.sessions, executors, runtime.clock)
    assert ran.completed == 1, ran
    return request.id


@contextmanager
def world(
    tmp: Path, database_url: str, engine: Engine, keystore: Keystore, principals: tuple[str, ...]
) -> Iterator[World]:
    """The demo on the shared test database (emptied afterwards), its app, and everyone signed in."""
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("SEALGATE_") and name != PG_ENV}
    try:
        settings = load_settings(var_dir=tmp / "var", database={"url": database_url})
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=db.session_factory(engine),
            keystore=keystore,
            blobs=FileBlobStore(settings.blob_dir),
            clock=ManualClock(T0),
        )
        demo_snapshot.load(runtime, seals=True)
        samples = _samples(runtime)
        app = create_app(runtime)
        samples["sealed_id"] = str(_sealed(runtime, app.state.workers.executors))
        LogService.open(runtime).integrator.run_until_idle()  # a checkpoint, and entries to prove
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as api:
            size = int(api.get("/log/checkpoint").text.splitlines()[1])
            samples["path"] = f"0/000.p/{size}" if size < 256 else "0/000"
            made = World(runtime, app, samples, api)
            for username in principals:
                if username != ANONYMOUS:
                    made.sign_in(username)
            made.browsers[ANONYMOUS] = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
            made.csrf[ANONYMOUS] = ""
            made.bearer[ANONYMOUS] = {}
            yield made
    finally:
        empty(engine)
        os.environ.update(saved)
