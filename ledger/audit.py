"""Auditing: replay the whole log and check that it is what its checkpoints, tiles and entries claim.

From the database or from a remote service through its tiles alone, the replay recomputes every leaf hash and
every checkpoint root from the entries, compares every tile with the recomputed one, follows each subject's
``prev`` chain, and checks the newest checkpoint against the last one this auditor saw (kept in a state file).
All checkpoints are roots of prefixes of one replayed tree, so they are consistent with one another.
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from ledger.merkle import EMPTY_ROOT, HASH_SIZE, CompactRange, leaf_hash
from ledger.models import Checkpoint, Entry, PendingEntry, Tile
from ledger.note import NoteError, Verifier, open_checkpoint
from ledger.tiles import WIDTH, tile_path, width_at

Progress = Callable[[int], None]
Check = Callable[[Session], Iterable[str]]


def logged(session: Session, types: Iterable[str]) -> list[tuple[str, str, bytes]]:
    """Every entry of these types, sequenced or still queued, as (type, subject, body): what a completeness
    check matches its rows against."""
    wanted = list(types)
    query = union_all(
        select(Entry.type, Entry.subject, Entry.body).where(Entry.type.in_(wanted)),
        select(PendingEntry.type, PendingEntry.subject, PendingEntry.body).where(PendingEntry.type.in_(wanted)),
    )
    return [(t, s, b) for t, s, b in session.execute(query)]


CHUNK = 10_000


@dataclass
class Report:
    origin: str
    size: int = 0
    root: bytes = b""
    checkpoints: int = 0
    tiles: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def rate(self) -> float:
        return self.size / self.seconds if self.seconds else 0.0


class Replay:
    """Feeds entries in index order into one tree and checks everything that can be checked on the way."""

    def __init__(
        self, report: Report, expected: dict[int, tuple[bytes, str]], tile_source: Callable[[int, int], bytes]
    ) -> None:
        self.report = report
        self.tree = CompactRange()
        self.expected = expected
        self.tile_source = tile_source
        self.heads: dict[str, str] = {}
        self.event_ids: set[str] = set()
        self.buffers: dict[int, list[bytes]] = {}
        if 0 in expected and expected[0][0] != EMPTY_ROOT:
            self.problem(f"{expected[0][1]} at size 0 does not have the empty root")

    def problem(self, text: str) -> None:
        if len(self.report.problems) < 100:
            self.report.problems.append(text)

    def feed(self, index: int, body: bytes, stored_leaf: bytes | None = None) -> None:
        if index != self.tree.size:
            self.problem(f"entry {index} found where entry {self.tree.size} was expected")
            return
        leaf = leaf_hash(body)
        if stored_leaf is not None and stored_leaf != leaf:
            self.problem(f"entry {index}: stored leaf hash does not match its body")
        self._check_entry(index, body, leaf)
        self._add_to_tile(0, index, leaf)
        for level, node_index, node in self.tree.append(leaf):
            if level % 8 == 0:
                self._add_to_tile(level // 8, node_index, node)
        size = self.tree.size
        if size in self.expected:
            root, what = self.expected[size]
            if self.tree.root() != root:
                self.problem(f"{what} at size {size} has a root the entries do not give")

    def _check_entry(self, index: int, body: bytes, leaf: bytes) -> None:
        try:
            entry = json.loads(body)
            event_id, subject, prev = entry["id"], entry["subject"], entry["prev"]
        except (ValueError, KeyError, TypeError):
            self.problem(f"entry {index} is not a sealgate log entry")
            return
        if event_id in self.event_ids:
            self.problem(f"entry {index} repeats event {event_id}")
        self.event_ids.add(event_id)
        if prev != self.heads.get(subject):
            self.problem(
                f"entry {index} breaks the chain of {subject}: prev {prev}, expected {self.heads.get(subject)}"
            )
        self.heads[subject] = leaf.hex()

    def _add_to_tile(self, level: int, index: int, node: bytes) -> None:
        buffer = self.buffers.setdefault(level, [])
        buffer.append(node)
        if len(buffer) == WIDTH:
            self._compare_tile(level, index // WIDTH, buffer)
            self.buffers[level] = []

    def _compare_tile(self, level: int, tile_index: int, hashes: list[bytes]) -> None:
        stored = self.tile_source(level, tile_index)
        expected = b"".join(hashes)
        if stored[: len(expected)] != expected:
            self.problem(f"tile {level}/{tile_index} differs from the tree the entries give")
        self.report.tiles += 1

    def finish(self) -> None:
        size = self.tree.size
        for level, buffer in self.buffers.items():
            if buffer:
                tile_index = (size >> (8 * level)) // WIDTH
                self._compare_tile(level, tile_index, buffer)
        self.report.size = size
        self.report.root = self.tree.root()
        beyond = [n for n in self.expected if n > size]
        if beyond:
            self.problem(f"{self.expected[max(beyond)][1]} claims size {max(beyond)}, but the log has {size} entries")


def _remembered(state: Path | None) -> tuple[int, bytes] | None:
    if state is None or not state.exists():
        return None
    data = json.loads(state.read_text())
    return int(data["size"]), base64.b64decode(data["root"])


def _expect_remembered(expected: dict[int, tuple[bytes, str]], state: Path | None) -> None:
    """The checkpoint seen last time must still be the root of the same prefix: a log only grows."""
    remembered = _remembered(state)
    if remembered is None:
        return
    size, root = remembered
    if size in expected and expected[size][0] != root:
        expected[size] = (root, SEEN_BEFORE + " (it conflicts with the log's own checkpoint)")
    else:
        expected.setdefault(size, (root, SEEN_BEFORE))


def _remember(state: Path | None, report: Report, checkpoint: str) -> None:
    if state is None or not report.ok:
        return
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps({"size": report.size, "root": base64.b64encode(report.root).decode(), "checkpoint": checkpoint})
    )


SEEN_BEFORE = "the checkpoint this auditor saw before"


def audit_database(
    session: Session,
    origin: str,
    verifiers: list[Verifier],
    *,
    state: Path | None = None,
    checks: Iterable[Check] = (),
    progress: Progress | None = None,
) -> Report:
    started = time.perf_counter()
    report = Report(origin)
    expected: dict[int, tuple[bytes, str]] = {}
    newest_note = ""
    for row in session.scalars(select(Checkpoint).order_by(Checkpoint.size)):
        try:
            signed, _ = open_checkpoint(row.note, origin, verifiers)
        except NoteError as exc:
            report.problems.append(f"checkpoint at size {row.size}: {exc}")
            continue
        if signed.size != row.size or signed.root != row.root:
            report.problems.append(f"checkpoint at size {row.size}: its note says size {signed.size}")
        expected[signed.size] = (signed.root, "the checkpoint")
        report.checkpoints += 1
        newest_note = row.note
    _expect_remembered(expected, state)

    def stored_tile(level: int, index: int) -> bytes:
        return session.scalar(select(Tile.hashes).where(Tile.level == level, Tile.idx == index)) or b""

    replay = Replay(report, expected, stored_tile)
    for index, body, stored_leaf in _entries(session):
        replay.feed(index, body, stored_leaf)
        if progress is not None and (index + 1) % CHUNK == 0:
            progress(CHUNK)
    replay.finish()
    if progress is not None:
        progress(report.size % CHUNK)
    for check in checks:
        for problem in check(session):
            report.problems.append(problem)
    report.seconds = time.perf_counter() - started
    _remember(state, report, newest_note)
    return report


def _entries(session: Session) -> Iterator[tuple[int, bytes, bytes]]:
    last = -1
    while True:
        rows = session.execute(
            select(Entry.idx, Entry.body, Entry.leaf_hash).where(Entry.idx > last).order_by(Entry.idx).limit(CHUNK)
        ).all()
        if not rows:
            return
        yield from ((idx, body, leaf) for idx, body, leaf in rows)
        last = rows[-1][0]


def parse_bundle(data: bytes) -> list[bytes]:
    """Entries of a tlog-tiles entry bundle: big-endian uint16 length, then the entry, repeated."""
    entries = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError("entry bundle ends inside a length prefix")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise ValueError("entry bundle ends inside an entry")
        entries.append(data[offset : offset + length])
        offset += length
    return entries


def tile_hashes(data: bytes) -> list[bytes]:
    if len(data) % HASH_SIZE:
        raise ValueError("a tile is a whole number of 32-byte hashes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


class RemoteLog:
    """A log read over HTTP through its C2SP tiles, bundles fetched ahead in parallel."""

    def __init__(self, client: httpx.Client, base_url: str) -> None:
        self.client = client
        self.base = base_url.rstrip("/") + "/log/"
        self.prefetched: dict[tuple[int, int], bytes] = {}

    def get(self, path: str) -> bytes:
        response = self.client.get(self.base + path)
        if response.status_code != 200:
            raise RemoteError(f"GET {self.base}{path}: HTTP {response.status_code}")
        return response.content

    def tile(self, level: int, index: int, size: int) -> bytes:
        cached = self.prefetched.pop((level, index), None)
        if cached is not None:
            return cached
        width = width_at(level, index, size)
        return self.get(tile_path(level, index, width)) if width else b""

    def bundle(self, index: int, size: int) -> tuple[list[bytes], bytes]:
        width = width_at(0, index, size)
        entries = parse_bundle(self.get(tile_path("entries", index, width)))
        if len(entries) != width:
            raise RemoteError(f"entry bundle {index} holds {len(entries)} entries, expected {width}")
        return entries, self.get(tile_path(0, index, width))


class RemoteError(RuntimeError):
    pass


def audit_remote(
    client: httpx.Client,
    base_url: str,
    verifiers: list[Verifier],
    *,
    state: Path | None = None,
    progress: Progress | None = None,
    parallel: int = 8,
) -> Report:
    started = time.perf_counter()
    origin = verifiers[0].name
    report = Report(origin)
    remote = RemoteLog(client, base_url)
    note = remote.get("checkpoint").decode()
    checkpoint, _ = open_checkpoint(note, origin, verifiers)
    report.checkpoints = 1
    size = checkpoint.size
    expected = {size: (checkpoint.root, "the checkpoint")}
    _expect_remembered(expected, state)
    replay = Replay(report, expected, lambda level, index: remote.tile(level, index, size))
    bundles = -(-size // WIDTH)
    with ThreadPoolExecutor(parallel) as pool:
        window: deque[Future[tuple[list[bytes], bytes]]] = deque()
        next_bundle = 0
        for current in range(bundles):
            while next_bundle < bundles and len(window) < parallel * 2:
                window.append(pool.submit(remote.bundle, next_bundle, size))
                next_bundle += 1
            entries, level0 = window.popleft().result()
            remote.prefetched[(0, current)] = level0
            for offset, body in enumerate(entries):
                replay.feed(current * WIDTH + offset, body)
            if progress is not None:
                progress(len(entries))
    replay.finish()
    report.seconds = time.perf_counter() - started
    _remember(state, report, note)
    return report
