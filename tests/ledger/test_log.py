"""Appending, sequencing, integrating and publishing on the database under test."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import func, select

from core.runtime import Runtime
from ledger import integrate
from ledger.append import append, append_many
from ledger.entry import Event, InvalidEvent, commit, commitment_of, encode
from ledger.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from ledger.models import Checkpoint, Entry, PendingEntry, PersonalDatum, Tile
from ledger.note import open_checkpoint, parse_vkey
from ledger.receipt import ReceiptError, parse_receipt, verify_receipt
from ledger.sequence import sequence
from ledger.service import LogService
from ledger.tiles import TileReader, width_at
from tests.conftest import T0
from tests.ledger.support import ORIGIN, append_committed, events


def test_entries_are_canonical_json_chained_per_subject(runtime: Runtime, log: LogService) -> None:
    appended = append_committed(runtime, events(7, subjects=2))
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        rows = session.scalars(select(Entry).order_by(Entry.idx)).all()
    assert [r.event_id for r in rows] == [a.event_id for a in appended]
    bodies = [json.loads(r.body) for r in rows]
    assert bodies[0] == {
        "v": 1,
        "id": appended[0].event_id,
        "type": "test.happened",
        "time": "2026-11-02T09:00:00.000Z",
        "actor": "system",
        "subject": "thing:0",
        "data": {"n": 0},
        "prev": None,
    }
    assert rows[0].body == json.dumps(bodies[0], separators=(",", ":"), sort_keys=True).encode()
    heads: dict[str, str | None] = {}
    for row, body in zip(rows, bodies, strict=True):
        assert body["prev"] == heads.get(body["subject"])
        assert row.leaf_hash == leaf_hash(row.body)
        heads[body["subject"]] = row.leaf_hash.hex()


def test_chains_continue_across_transactions_and_batches(runtime: Runtime, log: LogService) -> None:
    append_committed(runtime, events(3, subjects=1))
    log.integrator.run_until_idle()
    later = append_committed(runtime, events(2, subjects=1, start=3))
    with runtime.sessions() as session:
        first_pending = session.scalar(select(PendingEntry).order_by(PendingEntry.id).limit(1))
    assert first_pending is not None
    assert first_pending.event_id == later[0].event_id
    assert json.loads(first_pending.body)["prev"] is None  # linked when sequenced, not when queued
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        rows = session.scalars(select(Entry).order_by(Entry.idx)).all()
    assert [r.idx for r in rows] == [0, 1, 2, 3, 4]
    assert [json.loads(r.body)["prev"] for r in rows] == [None, *(r.leaf_hash.hex() for r in rows[:4])]
    assert all(r.leaf_hash == leaf_hash(r.body) for r in rows)


def test_appends_are_idempotent_on_the_event_id(runtime: Runtime, log: LogService) -> None:
    batch = events(4)
    first = append_committed(runtime, batch)
    again = append_committed(runtime, [batch[1], batch[1]])
    assert [a.duplicate for a in first] == [False] * 4
    assert [a.duplicate for a in again] == [True, True]
    assert [a.event_id for a in again] == [batch[1].id] * 2
    log.integrator.run_until_idle()
    assert append_committed(runtime, [batch[2]])[0].duplicate
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        assert session.scalars(select(Entry.event_id).order_by(Entry.idx)).all() == [e.id for e in batch]


def test_an_event_replayed_as_if_fresh_is_still_logged_once(runtime: Runtime, log: LogService) -> None:
    """A caller that vouches wrongly for its ids skips the look for duplicates: the queue's uniqueness and the
    integrator still keep one entry, whether the replay finds the event queued or already in the tree."""
    event = events(1)[0]

    def replayed() -> None:
        with runtime.sessions() as session:
            append_many(session, [event], fresh=True)  # one event: the single-row statement
            session.commit()

    replayed()
    replayed()  # still queued
    log.integrator.run_until_idle()
    replayed()  # already in the tree
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        assert session.scalars(select(Entry.event_id)).all() == [event.id]


def test_a_rolled_back_transaction_logs_nothing(runtime: Runtime, log: LogService) -> None:
    with runtime.sessions() as session:
        append_many(session, events(3))
        session.rollback()
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Entry)) == 0
        assert log.reader.published(session).size == 0


def test_personal_data_enters_only_as_a_commitment(runtime: Runtime, log: LogService) -> None:
    with runtime.sessions() as session:
        committed = commit(session, "id_number", "460200199001011234", T0)
        append(session, Event("test.person", "person:1", "system", {"id_number": committed}, T0))
        session.commit()
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        body = session.scalars(select(Entry.body)).one()
        datum = session.get(PersonalDatum, committed)
    assert b"460200199001011234" not in body
    assert datum is not None
    assert commitment_of(datum.salt, datum.value) == committed
    assert commitment_of(datum.salt, "460200199001011235") != committed


def test_bad_events_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="dotted"):
        Event("Created", "x:1", "system", {}, T0)
    big = Event("test.big", "x:1", "system", {"blob": "x" * 70_000}, T0)
    with pytest.raises(InvalidEvent, match="at most 65535"):
        encode(big, None)
    not_a_number = Event("test.float", "x:1", "system", {"value": float("nan")}, T0)
    with pytest.raises(InvalidEvent, match="canonical JSON"):
        encode(not_a_number, None)


def test_checkpoints_sign_the_tree_and_proofs_verify(runtime: Runtime, log: LogService) -> None:
    verifier = parse_vkey(log.vkey)
    sizes: list[int] = []
    for chunk in (5, 1, 300, 17):
        append_committed(runtime, events(chunk, start=sum(sizes)))
        log.integrator.run_until_idle()
        sizes.append(chunk)
    with runtime.sessions() as session:
        checkpoints = session.scalars(select(Checkpoint).order_by(Checkpoint.size)).all()
        leaves = session.scalars(select(Entry.leaf_hash).order_by(Entry.idx)).all()
        reference = MemoryTree(leaves)
        assert [c.size for c in checkpoints] == [5, 6, 306, 323]
        for c in checkpoints:
            body, _ = open_checkpoint(c.note, ORIGIN, [verifier])
            assert (body.size, body.root) == (c.size, reference.root(c.size))
        for index in (0, 4, 5, 255, 256, 305, 322):
            proof = log.reader.inclusion(session, index, 323)
            verify_inclusion(leaves[index], index, 323, proof, reference.root(323))
        for size1 in (0, 1, 5, 6, 256, 306):
            proof = log.reader.consistency(session, size1, 323)
            verify_consistency(size1, 323, proof, reference.root(size1), reference.root(323))


def test_tiles_of_a_70000_leaf_tree_match_the_spec(runtime: Runtime) -> None:
    """The C2SP tlog-tiles example: 273 full level-0 tiles and a partial of 112, one full level-1 tile and a
    partial of 17, and a partial level-2 tile of width 1."""
    leaves = [leaf_hash(os.urandom(8)) for _ in range(70_000)]
    with runtime.sessions() as session:
        for start in range(0, 70_000, 9_999):
            state, tree = integrate.load(session, for_update=True)
            integrate.integrate(session, state, tree, leaves[start : start + 9_999])
            session.commit()
        tiles = {(t.level, t.idx): len(t.hashes) // 32 for t in session.scalars(select(Tile))}
        reference = MemoryTree(leaves)
        assert integrate.current(session).root == reference.root()
        reader = TileReader(session)
        for level, index in [(0, 0), (3, 5), (8, 1), (9, 0), (16, 0), (7, 300)]:
            assert reader.node(level, index) == reference.node(level, index)
    assert sum(1 for (level, _), width in tiles.items() if level == 0 and width == 256) == 273
    assert tiles[(0, 273)] == 112
    assert tiles[(1, 0)] == 256
    assert tiles[(1, 1)] == 17
    assert tiles[(2, 0)] == 1
    assert len(tiles) == 273 + 1 + 2 + 1
    assert width_at(2, 0, 70_000) == 1
    assert width_at(1, 1, 70_000) == 17


def test_a_crash_after_integrating_is_finished_by_the_next_cycle(runtime: Runtime, log: LogService) -> None:
    """Killed between the integrate transaction and signing: the next cycle signs the same tree."""
    append_committed(runtime, events(10))
    with runtime.sessions() as session:
        state, tree = integrate.load(session, for_update=True)
        batch = sequence(session, state.size, 100)
        integrate.integrate(session, state, tree, batch.leaves)
        session.commit()
        assert session.scalar(select(func.count()).select_from(Checkpoint)) == 0
    log.integrator.run_until_idle()
    with runtime.sessions() as session:
        checkpoint = log.reader.published(session)
        assert checkpoint.size == 10


def test_await_integrated_returns_a_receipt_that_verifies(runtime: Runtime, log: LogService) -> None:
    appended = append_committed(runtime, events(40))
    thread, stop = log.integrator.start()
    try:
        done = log.reader.await_integrated(runtime.sessions, appended[17].event_id, timeout=20)
    finally:
        stop.set()
        thread.join()
    assert done.index == 17
    with runtime.sessions() as session:
        body = session.scalars(select(Entry.body).where(Entry.idx == 17)).one()
    receipt = parse_receipt(done.receipt)
    verified = verify_receipt(receipt, body, origin=ORIGIN, log_verifiers=[parse_vkey(log.vkey)])
    assert verified.entry_checked
    with pytest.raises(ReceiptError):
        verify_receipt(receipt, body + b" ", origin=ORIGIN, log_verifiers=[parse_vkey(log.vkey)])
