"""Deliveries over real HTTP to a receiver on 127.0.0.1 that checks every signature as a bureau would."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from pydantic import SecretStr
from sqlalchemy import select
from typer.testing import CliRunner

from bench.ports import free_port
from core.clock import ManualClock
from core.errors import Conflict, Invalid, NotFound
from core.runtime import Runtime
from identity import directory
from identity.posts import OrgKind
from ledger.models import Entry, PendingEntry
from ledger.service import LogService
from sealgate.cli import outbox_cmd
from sealgate.cli.state import CliState
from tests.conftest import T0
from tests.workflow.bureau import MINUTE, Receiver, running
from workflow import delivery
from workflow.delivery import Delivered, Deliverer, SignatureRejected
from workflow.execution import Executors
from workflow.models import CatalogVersion, OutboxMessage, SealRequest
from workflow.workers import Workers

SECRET = "bureau-secret-0123456789abcdef"
KEY_ID = "civil-2026"
PAYLOAD = json.dumps({"request": "YZ-2026-000001", "result": "approved", "seal": "村委会公章"}).encode()


@pytest.fixture
def receiver(clock: ManualClock) -> Iterator[Receiver]:
    with running(Receiver(clock, {KEY_ID: SECRET.encode()})) as recv:
        yield recv


def deliverer(runtime: Runtime, **workflow: Any) -> Deliverer:
    settings = runtime.settings.workflow.model_copy(update=workflow)
    return Deliverer(runtime.sessions, settings, runtime.clock)


def make_request(runtime: Runtime) -> int:
    """The least a seal request needs: a village, an applicant, a catalogue version."""
    with runtime.sessions() as s:
        org = directory.create_organisation(
            s, code="yz", name="崖州区", kind=OrgKind.DISTRICT, parent_code=None, uscc_code=None, now=T0, actor="test"
        )
        user = directory.create_user(
            s, username="chen", display_name="陈明德", password="chen-pass-1", home_code="yz", now=T0, actor="test"
        )
        catalog = CatalogVersion(content="{}", sha256="0" * 64, loaded_at=T0, loaded_by="test", note="test")
        s.add(catalog)
        s.flush()
        request = SealRequest(
            number="YZ-2026-000001",
            matter_code="residence-proof",
            catalog_version_id=catalog.id,
            organisation_id=org.id,
            applicant_id=user.id,
            submitted_by_id=user.id,
            seal_kind="village-committee",
            seal_form="electronic",
            copies=1,
            place="水南村委会",
            purpose="办理户籍",
            form={},
            document_sha256="1" * 64,
            document_source="upload",
            state="approved",
            level=None,
            round=1,
            created_at=T0,
            updated_at=T0,
        )
        s.add(request)
        s.commit()
        return request.id


def endpoint(runtime: Runtime, url: str, bureau: str = "civil") -> None:
    with runtime.sessions() as s:
        delivery.set_endpoint(s, bureau, url=url, key_id=KEY_ID, secret=SECRET, now=T0)
        s.commit()


def enqueue(
    runtime: Runtime, key: str, *, kind: str = "bureau", target: str = "civil", request: int | None = None
) -> int:
    with runtime.sessions() as s:
        delivery.enqueue(
            s, kind=kind, target=target, request_id=request, payload=PAYLOAD, key=key, now=runtime.clock.now()
        )
        s.commit()
        return s.scalars(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key)).one()


def message(runtime: Runtime, message_id: int) -> OutboxMessage:
    with runtime.sessions() as s:
        return s.get_one(OutboxMessage, message_id)


def logged(runtime: Runtime, request_id: int, kind: str) -> list[dict[str, Any]]:
    """Entries of a request's history of one kind, integrated or still pending."""
    with runtime.sessions() as s:
        bodies = [
            *s.scalars(select(Entry.body).where(Entry.subject == f"request:{request_id}", Entry.type == kind)),
            *s.scalars(
                select(PendingEntry.body).where(
                    PendingEntry.subject == f"request:{request_id}", PendingEntry.type == kind
                )
            ),
        ]
    return [json.loads(body) for body in bodies]


def test_fails_three_times_then_accepts(
    runtime: Runtime, clock: ManualClock, log: LogService, receiver: Receiver
) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, receiver.url + "/deliveries")
    message_id = enqueue(runtime, "result-1", request=request_id)
    with runtime.sessions() as s:  # the same key again is the same message, unchanged
        delivery.enqueue(s, kind="bureau", target="other", request_id=None, payload=b"{}", key="result-1", now=T0)
        s.commit()
        kept = s.execute(
            select(OutboxMessage.id, OutboxMessage.target, OutboxMessage.payload).where(
                OutboxMessage.idempotency_key == "result-1"
            )
        ).all()
        assert [tuple(row) for row in kept] == [(message_id, "civil", PAYLOAD)]
    receiver.failures = 3
    d = deliverer(runtime, delivery_attempts=8, delivery_backoff_seconds=30.0)

    outcomes = []
    for attempt in range(1, 5):
        outcomes.append(d.deliver_due())
        assert len(receiver.seen) == attempt
        if attempt < 4:
            due = message(runtime, message_id).next_attempt_at
            assert due > clock.now()
            clock.advance(due - clock.now() - dt.timedelta(seconds=1))
            assert d.deliver_due() == Delivered(0, 0, 0)  # not a second before its time
            assert len(receiver.seen) == attempt
            clock.advance(dt.timedelta(seconds=1))

    assert outcomes == [Delivered(0, 1, 0)] * 3 + [Delivered(1, 0, 0)]
    assert [s.status for s in receiver.seen] == [503, 503, 503, 200]
    assert {s.key for s in receiver.seen} == {"result-1"}
    assert {s.body for s in receiver.seen} == {PAYLOAD}
    assert [s.key_id for s in receiver.seen] == [KEY_ID] * 4
    assert {s.path for s in receiver.seen} == {"/deliveries"}
    digest = base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode()
    headers = receiver.seen[0].headers
    assert headers["Content-Digest"] == f"sha-256=:{digest}:"
    assert headers["Content-Type"] == "application/json"
    assert headers["Signature-Input"].startswith(
        'sealgate=("@method" "@target-uri" "content-digest" "content-type" "idempotency-key");created='
    )
    assert f'keyid="{KEY_ID}"' in headers["Signature-Input"]

    done = message(runtime, message_id)
    assert (done.status, done.attempts, done.delivered_at) == ("delivered", 4, clock.now())
    assert d.deliver_due() == Delivered(0, 0, 0)

    log.integrator.run_until_idle()
    with runtime.sessions() as s:
        assert s.scalar(select(PendingEntry.id)) is None
    [entry] = logged(runtime, request_id, "request.delivered")
    assert entry["actor"] == "system"
    assert entry["data"] == {
        "number": "YZ-2026-000001",
        "state": "approved",
        "level": None,
        "bureau": "civil",
        "attempts": 4,
        "message": message_id,
    }


def test_receiver_down_for_good(runtime: Runtime, clock: ManualClock, receiver: Receiver) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, f"http://127.0.0.1:{free_port()}/deliveries")
    message_id = enqueue(runtime, "result-2", request=request_id)
    d = deliverer(runtime, delivery_attempts=4, delivery_backoff_seconds=1.0, delivery_backoff_cap_seconds=5.0)

    outcomes = []
    for _ in range(4):
        outcomes.append(d.deliver_due())
        clock.advance(10 * dt.timedelta(seconds=1))
    assert outcomes == [Delivered(0, 1, 0)] * 3 + [Delivered(0, 0, 1)]
    assert d.deliver_due() == Delivered(0, 0, 0)
    gone = message(runtime, message_id)
    assert (gone.status, gone.attempts) == ("dead", 4)
    assert gone.last_error is not None
    assert gone.last_error.startswith("ConnectError:")
    with runtime.sessions() as s:
        assert [m.id for m in delivery.dead(s)] == [message_id]
    [entry] = logged(runtime, request_id, "request.delivery_dead")
    assert entry["data"]["attempts"] == 4
    assert entry["data"]["bureau"] == "civil"
    assert entry["data"]["error"] == gone.last_error

    endpoint(runtime, receiver.url + "/deliveries")  # the bureau is back, at another address
    with runtime.sessions() as s:
        again = delivery.retry(s, message_id, clock.now())
        assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, clock.now())
        s.commit()
    assert d.deliver_due() == Delivered(1, 0, 0)
    assert receiver.keys() == {"result-2": 1}
    assert message(runtime, message_id).attempts == 1
    assert len(logged(runtime, request_id, "request.delivered")) == 1
    with runtime.sessions() as s:
        assert delivery.dead(s) == []
        with pytest.raises(Conflict, match="was delivered"):
            delivery.retry(s, message_id, clock.now())
        with pytest.raises(NotFound):
            delivery.retry(s, message_id + 1000, clock.now())


def test_a_bureau_without_endpoint_waits_for_one(runtime: Runtime, clock: ManualClock, receiver: Receiver) -> None:
    message_id = enqueue(runtime, "result-3", target="land")
    d = deliverer(runtime)
    assert d.deliver_due() == Delivered(0, 1, 0)
    assert message(runtime, message_id).last_error == "no endpoint for bureau land"
    endpoint(runtime, receiver.url + "/land", bureau="land")
    clock.advance(dt.timedelta(hours=1))
    assert d.deliver_due() == Delivered(1, 0, 0)
    assert [(s.path, s.key_id) for s in receiver.seen] == [("/land", KEY_ID)]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (400, Delivered(0, 0, 1)),
        (404, Delivered(0, 0, 1)),
        (422, Delivered(0, 0, 1)),
        (408, Delivered(0, 1, 0)),
        (425, Delivered(0, 1, 0)),
        (429, Delivered(0, 1, 0)),
        (500, Delivered(0, 1, 0)),
        (503, Delivered(0, 1, 0)),
    ],
)
def test_what_the_receiver_says_decides(runtime: Runtime, receiver: Receiver, status: int, outcome: Delivered) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, receiver.url)
    message_id = enqueue(runtime, "result-4", request=request_id)
    receiver.status, receiver.reply = status, "unknown matter code\n" + "x" * 500
    assert deliverer(runtime).deliver_due() == outcome
    sent = message(runtime, message_id)
    assert sent.attempts == 1
    assert sent.last_error is not None
    assert sent.last_error.startswith(f"HTTP {status}: unknown matter code xxx")
    assert len(sent.last_error) <= 200
    dead_entries = logged(runtime, request_id, "request.delivery_dead")
    assert len(dead_entries) == outcome.dead
    if outcome.dead:
        assert sent.status == "dead"
        assert dead_entries[0]["data"]["error"] == sent.last_error


def signed(*, secret: str = SECRET, created: dt.datetime = T0) -> httpx.Request:
    request = httpx.Request(
        "POST",
        "https://civil.example.gov.cn/sealgate/in?v=1",
        content=PAYLOAD,
        headers={"Content-Type": "application/json", "Idempotency-Key": "result-5"},
    )
    delivery.sign(request, key_id=KEY_ID, secret=secret.encode(), created=created)
    return request


def check(
    request: httpx.Request, *, body: bytes = PAYLOAD, now: dt.datetime = T0, changed: dict[str, str] | None = None
) -> str:
    headers = {**dict(request.headers), **(changed or {})}
    return delivery.verify(
        "POST", str(request.url), headers, body, secrets={KEY_ID: SECRET.encode()}, max_age=5 * MINUTE, now=now
    )


def test_signatures_catch_tampering_wrong_keys_and_age() -> None:
    request = signed()
    assert check(request) == KEY_ID
    assert check(request, now=T0 + 5 * MINUTE) == KEY_ID
    with pytest.raises(SignatureRejected, match="Content-Digest does not match the message body"):
        check(request, body=PAYLOAD.replace(b"approved", b"rejected"))
    with pytest.raises(SignatureRejected, match="does not match the message"):
        check(signed(secret="not-the-bureau-secret"))
    with pytest.raises(SignatureRejected, match="does not match the message"):
        check(request, changed={"idempotency-key": "result-6"})
    with pytest.raises(SignatureRejected, match="older than 0:05:00"):
        check(request, now=T0 + 6 * MINUTE)
    with pytest.raises(SignatureRejected, match="created in the future"):
        check(request, now=T0 - MINUTE)
    with pytest.raises(SignatureRejected, match="Unable to resolve verification key"):
        delivery.verify(
            "POST", str(request.url), dict(request.headers), PAYLOAD, secrets={}, max_age=5 * MINUTE, now=T0
        )
    unsigned = {k: v for k, v in request.headers.items() if not k.startswith("signature")}
    with pytest.raises(SignatureRejected, match='"Signature-Input" header field to be present'):
        delivery.verify("POST", str(request.url), unsigned, PAYLOAD, secrets={}, max_age=5 * MINUTE, now=T0)


def test_two_deliverers_send_each_message_once(runtime: Runtime, receiver: Receiver) -> None:
    endpoint(runtime, receiver.url)
    keys = [f"batch-{n}" for n in range(30)]
    for key in keys:
        enqueue(runtime, key)
    receiver.during = lambda: time.sleep(0.005)
    start = threading.Barrier(2)

    def work() -> list[Delivered]:
        d = deliverer(runtime)
        start.wait()
        rounds = []
        while (outcome := d.deliver_due(limit=4)) != Delivered(0, 0, 0):
            rounds.append(outcome)
        return rounds

    with ThreadPoolExecutor(2) as pool:
        per_deliverer = [sum(r.delivered for r in future.result()) for future in [pool.submit(work), pool.submit(work)]]
    assert sum(per_deliverer) == 30
    assert min(per_deliverer) > 0  # both took part
    assert receiver.keys() == dict.fromkeys(keys, 1)
    with runtime.sessions() as s:
        assert set(s.scalars(select(OutboxMessage.status))) == {"delivered"}


def test_webhooks_are_signed_with_the_webhook_secret(runtime: Runtime, receiver: Receiver) -> None:
    request_id = make_request(runtime)
    receiver.secrets = {"sealgate-webhook": b"hook-secret"}
    message_id = enqueue(runtime, "notification-1", kind="webhook", target=receiver.url + "/hook", request=request_id)
    d = deliverer(runtime, notification_webhook_secret=SecretStr("hook-secret"))
    assert d.deliver_due() == Delivered(1, 0, 0)
    assert [(s.path, s.key, s.key_id, s.body) for s in receiver.seen] == [
        ("/hook", "notification-1", "sealgate-webhook", PAYLOAD)
    ]
    assert message(runtime, message_id).status == "delivered"
    assert logged(runtime, request_id, "request.delivered") == []  # notifications are not the request's history


def test_webhooks_without_a_secret_go_unsigned(runtime: Runtime, receiver: Receiver) -> None:
    receiver.secrets = None
    enqueue(runtime, "notification-2", kind="webhook", target=receiver.url + "/hook")
    assert deliverer(runtime).deliver_due() == Delivered(1, 0, 0)
    [seen] = receiver.seen
    names = {name.lower() for name in seen.headers}
    assert "signature" not in names
    assert "signature-input" not in names
    digest = base64.b64encode(hashlib.sha256(PAYLOAD).digest()).decode()
    assert seen.headers["Content-Digest"] == f"sha-256=:{digest}:"
    assert seen.key == "notification-2"


def test_back_off_doubles_up_to_the_cap(runtime: Runtime, clock: ManualClock, receiver: Receiver) -> None:
    endpoint(runtime, receiver.url)
    message_id = enqueue(runtime, "result-7")
    receiver.failures = 100
    d = deliverer(runtime, delivery_attempts=10, delivery_backoff_seconds=10.0, delivery_backoff_cap_seconds=25.0)
    for expected in (10.0, 20.0, 25.0, 25.0):
        assert d.deliver_due() == Delivered(0, 1, 0)
        delay = (message(runtime, message_id).next_attempt_at - clock.now()).total_seconds()
        assert expected * 0.9 <= delay <= expected * 1.1
        clock.advance(dt.timedelta(seconds=delay))
    assert message(runtime, message_id).attempts == 4


def test_a_slow_batch_hands_back_what_it_cannot_send_in_its_lease(
    runtime: Runtime, clock: ManualClock, receiver: Receiver
) -> None:
    endpoint(runtime, receiver.url)
    ids = [enqueue(runtime, f"slow-{n}") for n in range(3)]

    def slow() -> None:
        clock.advance(dt.timedelta(seconds=150))  # each request takes 2.5 minutes

    receiver.during = slow
    d = deliverer(runtime)
    assert d.deliver_due() == Delivered(2, 0, 0)
    left = message(runtime, ids[2])
    assert (left.status, left.attempts, left.next_attempt_at) == ("pending", 0, clock.now())
    assert d.deliver_due() == Delivered(1, 0, 0)
    assert receiver.keys() == {"slow-0": 1, "slow-1": 1, "slow-2": 1}


def test_an_outcome_after_the_lease_ran_out_is_not_recorded_twice(
    runtime: Runtime, clock: ManualClock, receiver: Receiver
) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, receiver.url)
    message_id = enqueue(runtime, "result-8", request=request_id)
    other = deliverer(runtime)
    taken_over: list[Delivered] = []

    def stall_then_let_another_take_over() -> None:
        receiver.during = None
        clock.advance(dt.timedelta(minutes=6))  # past the first deliverer's lease
        taken_over.append(other.deliver_due())

    receiver.during = stall_then_let_another_take_over
    assert deliverer(runtime).deliver_due() == Delivered(0, 0, 0)
    assert taken_over == [Delivered(1, 0, 0)]
    assert receiver.keys() == {"result-8": 2}  # at least once: the receiver drops the repeat by its key
    assert message(runtime, message_id).attempts == 1
    assert len(logged(runtime, request_id, "request.delivered")) == 1


def test_outcomes_are_recorded_group_by_group_each_as_it_went(runtime: Runtime, receiver: Receiver) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, receiver.url)
    count = 2 * delivery.RECORD_EVERY + 5
    ids = [enqueue(runtime, f"group-{n}", request=request_id) for n in range(count)]
    receiver.failures = 3  # the first three sent are answered 503
    assert deliverer(runtime).deliver_due() == Delivered(count - 3, 3, 0)
    states = [message(runtime, i) for i in ids]
    assert [(m.status, m.attempts) for m in states[:3]] == [("pending", 1)] * 3
    assert all(m.next_attempt_at > runtime.clock.now() for m in states[:3])
    assert [(m.status, m.attempts) for m in states[3:]] == [("delivered", 1)] * (count - 3)
    assert len(logged(runtime, request_id, "request.delivered")) == count - 3


def test_messages_sent_by_a_deliverer_that_died_before_recording_them_are_sent_again_and_logged_once(
    runtime: Runtime, clock: ManualClock, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = make_request(runtime)
    endpoint(runtime, receiver.url)
    ids = [enqueue(runtime, f"unrecorded-{n}", request=request_id) for n in range(3)]
    dying = deliverer(runtime)

    def die(_sent: object) -> list[delivery.Verdict]:
        raise SystemExit("the process died")

    monkeypatch.setattr(dying, "_record", die)
    with pytest.raises(SystemExit):
        dying.deliver_due()
    assert [message(runtime, i).status for i in ids] == ["pending"] * 3
    assert deliverer(runtime).deliver_due() == Delivered(0, 0, 0)  # still leased to the dead one
    clock.advance(delivery.LEASE + MINUTE)
    assert deliverer(runtime).deliver_due() == Delivered(3, 0, 0)
    assert receiver.keys() == {f"unrecorded-{n}": 2 for n in range(3)}  # the receiver drops repeats by their key
    assert [(message(runtime, i).status, message(runtime, i).attempts) for i in ids] == [("delivered", 1)] * 3
    assert len(logged(runtime, request_id, "request.delivered")) == 3


def test_a_message_to_an_impossible_url_is_dead_at_once(runtime: Runtime) -> None:
    with runtime.sessions() as s:  # as notify() writes it, without enqueue's checks
        row = OutboxMessage(
            kind="webhook",
            target="http://[::1/hook",
            payload=PAYLOAD,
            idempotency_key="notification-3",
            status="pending",
            attempts=0,
            next_attempt_at=T0,
            created_at=T0,
        )
        s.add(row)
        s.commit()
    assert deliverer(runtime).deliver_due() == Delivered(0, 0, 1)
    assert message(runtime, row.id).last_error == "invalid URL: Invalid port: ':1'"


def test_enqueue_and_endpoints_refuse_bad_input(runtime: Runtime) -> None:
    with runtime.sessions() as s:
        with pytest.raises(Invalid, match="unknown delivery kind"):
            delivery.enqueue(s, kind="fax", target="x", request_id=None, payload=b"", key="k", now=T0)
        with pytest.raises(Invalid, match="not an http"):
            delivery.enqueue(s, kind="webhook", target="mailto:a@b", request_id=None, payload=b"", key="k", now=T0)
        with pytest.raises(Invalid, match="not an http"):
            delivery.set_endpoint(s, "civil", url="civil.example", key_id="k", secret="s", now=T0)
        with pytest.raises(Invalid, match="signing secret"):
            delivery.set_endpoint(s, "civil", url="https://civil.example/in", key_id="k", secret="", now=T0)
        first = delivery.set_endpoint(s, "civil", url="https://civil.example/in", key_id="k1", secret="s1", now=T0)
        later = T0 + dt.timedelta(days=1)
        second = delivery.set_endpoint(s, "civil", url="https://civil.example/v2", key_id="k2", secret="s2", now=later)
        assert second is first
        assert (second.url, second.key_id, second.secret, second.created_at) == (
            "https://civil.example/v2",
            "k2",
            "s2",
            T0,
        )


def test_outbox_commands(runtime: Runtime, database_url: str, tmp_path: Path, receiver: Receiver) -> None:
    config = tmp_path / "sealgate.toml"
    config.write_text(f'var_dir = "{tmp_path / "var"}"\n[database]\nurl = "{database_url}"\n')
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = CliState(config)

    root.add_typer(outbox_cmd.app, name="outbox")
    cli = CliRunner()
    secret_file = tmp_path / "civil.secret"
    secret_file.write_text(SECRET + "\n")

    done = cli.invoke(
        root,
        ["outbox", "endpoint", "civil", "--url", receiver.url, "--key-id", KEY_ID, "--secret-file", str(secret_file)],
    )
    assert done.exit_code == 0, done.output
    listed = cli.invoke(root, ["outbox", "endpoints"])
    assert receiver.url in listed.output
    assert KEY_ID in listed.output
    assert SECRET not in listed.output

    message_id = enqueue(runtime, "result-9")
    receiver.status = 400
    assert deliverer(runtime).deliver_due() == Delivered(0, 0, 1)
    dead_list = cli.invoke(root, ["outbox", "list", "--dead"])
    assert dead_list.exit_code == 0, dead_list.output
    assert f"{message_id}  bureau   civil  dead  1  -  HTTP 400: ok" in dead_list.output
    retried = cli.invoke(root, ["outbox", "retry", str(message_id)])
    assert retried.exit_code == 0, retried.output
    assert "civil  pending  0" in cli.invoke(root, ["outbox", "list"]).output
    assert cli.invoke(root, ["outbox", "list", "--dead"]).output == ""
    missing = cli.invoke(root, ["outbox", "retry", "999999"])
    assert isinstance(missing.exception, NotFound)


def test_a_pass_that_sent_a_whole_batch_says_more_may_wait(runtime: Runtime, receiver: Receiver) -> None:
    endpoint(runtime, receiver.url + "/deliveries")
    for n in range(delivery.BATCH + 1):
        enqueue(runtime, f"result-{n}")
    workers = Workers(runtime, Executors(), deliverer(runtime).deliver_due)
    assert workers.once() is True  # a whole batch sent: the next pass comes at once, not after the interval
    assert len(receiver.seen) == delivery.BATCH
    assert workers.once() is False
    assert len(receiver.seen) == delivery.BATCH + 1


def test_a_long_execution_holds_up_no_delivery(runtime: Runtime, receiver: Receiver) -> None:
    """A thread of its own sends the outbox (beside threads that write, which SQLite does not have): results
    reach their bureau while the executor is busy sealing, not in the gaps between its batches."""
    if runtime.engine.dialect.name == "sqlite":
        pytest.skip("SQLite writes one transaction at a time: one thread does every job")
    endpoint(runtime, receiver.url + "/deliveries")
    executing, released = threading.Event(), threading.Event()

    def execute(*, recover: bool = False) -> bool:  # a seal taking longer than the test's patience
        executing.set()
        released.wait(60)
        return False

    workers = Workers(runtime, Executors(), deliverer(runtime).deliver_due, interval=0.05)
    workers._execute = execute  # type: ignore[method-assign]
    thread, stop = workers.start()
    try:
        assert executing.wait(10)
        enqueue(runtime, "while-sealing")
        deadline = time.monotonic() + 10
        while not receiver.seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(receiver.seen) == 1  # delivered while the execution still runs
    finally:
        released.set()
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
