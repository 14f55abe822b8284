"""The chain of each subject, linked by the integrator: byte for byte the entry ``encode`` gives, unbroken under
concurrent appends to one subject, and never two entries for one event id."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.runtime import Runtime
from ledger.append import append, append_many
from ledger.audit import audit_database
from ledger.entry import Event, InvalidEvent, encode, linked
from ledger.merkle import leaf_hash
from ledger.models import Entry, PendingEntry
from ledger.note import parse_vkey
from ledger.service import LogService
from tests.conftest import T0
from tests.ledger.support import ORIGIN, append_committed, events

# Keys and strings that look like the member the integrator sets, at every depth of the data.
_TRICKY = st.sampled_from(['"prev":null,"subject":', ',"prev":null,"subject":"x"', "prev", "subject", '\\"', ""])
_TEXT = st.one_of(_TRICKY, st.text(max_size=12))
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**53) + 1, 2**53 - 1), _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=12,
)
_HASH = st.one_of(st.none(), st.binary(min_size=32, max_size=32))


@given(
    data=st.dictionaries(st.one_of(st.sampled_from(["prev", "subject", "time"]), _TEXT), _JSON, max_size=5),
    subject=st.one_of(_TRICKY.filter(bool), st.text(min_size=1, max_size=30)),
    queued_with=_HASH,
    prev=_HASH,
)
def test_linking_gives_the_entry_encode_gives(
    data: dict[str, Any], subject: str, queued_with: bytes | None, prev: bytes | None
) -> None:
    event = Event("test.linked", subject, 'actor,"prev":null,"subject":', data, T0, "e1")
    assert linked(encode(event, queued_with), prev) == encode(event, prev)


def test_an_entry_fits_once_linked() -> None:
    event = Event("test.big", "x:1", "system", {"blob": ""}, T0)
    room = 65_535 - len(encode(event, os.urandom(32)))
    assert len(encode(Event("test.big", "x:1", "system", {"blob": "x" * room}, T0, event.id), None)) < 65_535
    too_big = Event("test.big", "x:1", "system", {"blob": "x" * (room + 1)}, T0, event.id)
    for prev in (None, os.urandom(32)):
        with pytest.raises(InvalidEvent, match="at most 65535"):
            encode(too_big, prev)


def _chain(runtime: Runtime, subject: str) -> list[dict[str, Any]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Entry.body, Entry.leaf_hash).where(Entry.subject == subject).order_by(Entry.idx))
        return [{**json.loads(body), "leaf": leaf.hex()} for body, leaf in rows]


def _audit(runtime: Runtime, log: LogService) -> None:
    with runtime.sessions() as session:
        report = audit_database(session, ORIGIN, [parse_vkey(log.vkey)])
    assert report.ok, report.problems


def test_concurrent_appends_to_one_subject_make_one_unbroken_chain(runtime: Runtime, log: LogService) -> None:
    writers, transactions = 8, 20
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for n in range(transactions):
                with runtime.sessions() as session:
                    batch = [
                        Event("test.hot", "hot:1", f"w:{writer}", {"w": writer, "n": n, "k": k}, T0) for k in (0, 1)
                    ]
                    append_many(session, [*batch, Event("test.cold", f"cold:{writer}", "system", {"n": n}, T0)])
                    session.commit()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    thread, stop = log.integrator.start()  # sequencing while the writers append
    try:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        thread.join()
    assert failures == []
    log.integrator.run_until_idle()
    hot = _chain(runtime, "hot:1")
    assert len(hot) == writers * transactions * 2
    assert [e["prev"] for e in hot] == [None, *(e["leaf"] for e in hot[:-1])]
    for w in range(writers):  # each writer's two entries of a transaction stay next to each other, in order
        mine = [(e["data"]["n"], e["data"]["k"]) for e in hot if e["data"]["w"] == w]
        assert mine == [(n, k) for n in range(transactions) for k in (0, 1)]
        cold = _chain(runtime, f"cold:{w}")
        assert [e["prev"] for e in cold] == [None, *(e["leaf"] for e in cold[:-1])]
    _audit(runtime, log)


def test_one_event_appended_at_once_by_many_transactions_is_logged_once(runtime: Runtime, log: LogService) -> None:
    event = events(1)[0]
    writers = 8
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            with runtime.sessions() as session:
                append(session, event, fresh=writer % 2 == 0)  # some even claim the id is new
                session.commit()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with runtime.sessions() as session:
        assert session.scalars(select(PendingEntry.event_id)).all() == [event.id]
    log.integrator.run_until_idle()
    append_committed(runtime, events(1, start=1))
    with runtime.sessions() as session:  # sent again once in the tree, by a caller sure it is new
        append(session, event, fresh=True)
        session.commit()
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Entry).where(Entry.event_id == event.id)) == 1
        assert session.scalar(select(func.count()).select_from(PendingEntry)) == 0
    _audit(runtime, log)


def test_entries_queued_before_the_integrator_linked_chains_are_linked_again(runtime: Runtime, log: LogService) -> None:
    """Queued by an earlier version with ``prev`` already set: the integrator sets it to the head in the tree."""
    first, second, third = events(3, subjects=1)
    append_committed(runtime, [first])
    log.integrator.run_until_idle()
    [head] = _chain(runtime, "thing:0")
    old_bodies = [encode(second, bytes.fromhex(head["leaf"])), encode(third, os.urandom(32))]
    with runtime.sessions() as session:
        for event, body in zip((second, third), old_bodies, strict=True):
            session.add(PendingEntry(event_id=event.id, type=event.type, subject=event.subject, body=body))
        session.commit()
    log.integrator.run_until_idle()
    chain = _chain(runtime, "thing:0")
    assert [e["id"] for e in chain] == [first.id, second.id, third.id]
    assert [e["prev"] for e in chain] == [None, chain[0]["leaf"], chain[1]["leaf"]]
    assert leaf_hash(old_bodies[0]).hex() == chain[1]["leaf"]  # the same entry as before
    _audit(runtime, log)
