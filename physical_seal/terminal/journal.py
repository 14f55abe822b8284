"""The terminal's local journal: what it read from the machine, kept on disk until the service has it.

The machine keeps its own events, but a photo or an event read and not yet uploaded must survive the PC's power
loss, and uploads must go in counter order, so every read is committed (WAL, synchronous=FULL) before it counts.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    counter INTEGER PRIMARY KEY,
    cose BLOB NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'uploaded', 'refused')),
    answer TEXT
);
CREATE TABLE IF NOT EXISTS photos (
    counter INTEGER PRIMARY KEY REFERENCES events (counter),
    data BLOB NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'uploaded', 'refused')),
    answer TEXT
);
CREATE TABLE IF NOT EXISTS authorisations (id TEXT PRIMARY KEY, outcome TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Counts:
    read: int
    uploaded: int
    pending: int
    refused: int
    photos_pending: int


class Journal:
    """One SQLite file per machine; the credential lives in it, so the file is readable by its owner only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def credential(self) -> str | None:
        return self._get("credential")

    def pending_install(self) -> tuple[bytes, list[bytes]] | None:
        """The certificate and chain the service issued and the machine has not confirmed installing yet."""
        value = self._get("install")
        if value is None:
            return None
        stored = json.loads(value)
        return bytes.fromhex(stored["certificate"]), [bytes.fromhex(c) for c in stored["chain"]]

    def set_enrolment(self, credential: str, certificate: bytes, chain: list[bytes]) -> None:
        """Keep the credential and what INSTALL must carry in one commit: the enrolment code is spent now."""
        install = json.dumps({"certificate": certificate.hex(), "chain": [c.hex() for c in chain]})
        self._db.execute("BEGIN IMMEDIATE")
        self._set("credential", credential)
        self._set("install", install)
        self._db.execute("COMMIT")

    def installed(self) -> None:
        self._db.execute("DELETE FROM meta WHERE key = 'install'")

    def take_rid(self) -> int:
        """The next request number, stored before use: a restarted terminal must not repeat an old `rid`, or the
        machine would answer a new request with an old outcome (docs/protocol.md §4.2)."""
        rid = self.peek_rid()
        self._set("rid", str(rid + 1))
        return rid

    def peek_rid(self) -> int:
        return int(self._get("rid") or "1")

    def last_counter(self) -> int:
        """The highest event counter read from the machine."""
        return int(self._get("counter") or "0")

    def add_events(self, events: list[tuple[int, bytes, str]]) -> None:
        """Store (counter, COSE bytes, kind) read in one EVENTS answer; they must follow the last one read."""
        last = self.last_counter()
        for counter, _, _ in events:
            if counter <= last:
                raise ValueError(f"event {counter} does not follow {last}")
            last = counter
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT INTO events (counter, cose, kind) VALUES (?, ?, ?)", events)
            self._set("counter", str(last))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def pending_events(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest events not yet answered by the service, in counter order."""
        rows = self._db.execute(
            "SELECT counter, cose FROM events WHERE state = 'pending' ORDER BY counter LIMIT ?", (limit,)
        ).fetchall()
        return [(int(c), bytes(b)) for c, b in rows]

    def mark_event(self, counter: int, state: str, answer: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE events SET state = ?, answer = ? WHERE counter = ?", (state, json.dumps(answer), counter)
        )

    def photos_missing(self) -> list[int]:
        """Stamp events whose photo has not been read from the machine yet."""
        rows = self._db.execute(
            "SELECT e.counter FROM events e LEFT JOIN photos p ON p.counter = e.counter"
            " WHERE e.kind = 'stamp' AND p.counter IS NULL ORDER BY e.counter"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def add_photo(self, counter: int, data: bytes) -> None:
        self._db.execute("INSERT INTO photos (counter, data) VALUES (?, ?)", (counter, data))

    def pending_photos(self) -> list[tuple[int, bytes]]:
        """Photos not yet uploaded whose event the service already has (it refuses a photo before its event)."""
        rows = self._db.execute(
            "SELECT p.counter, p.data FROM photos p JOIN events e ON e.counter = p.counter"
            " WHERE p.state = 'pending' AND e.state = 'uploaded' ORDER BY p.counter"
        ).fetchall()
        return [(int(c), bytes(b)) for c, b in rows]

    def mark_photo(self, counter: int, state: str, answer: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE photos SET state = ?, answer = ? WHERE counter = ?", (state, json.dumps(answer), counter)
        )

    def event_state(self, counter: int) -> tuple[str, dict[str, Any] | None] | None:
        row = self._db.execute("SELECT state, answer FROM events WHERE counter = ?", (counter,)).fetchone()
        return None if row is None else (str(row[0]), None if row[1] is None else json.loads(row[1]))

    def authorisation_outcome(self, auth_id: str) -> str | None:
        row = self._db.execute("SELECT outcome FROM authorisations WHERE id = ?", (auth_id,)).fetchone()
        return None if row is None else str(row[0])

    def mark_authorisation(self, auth_id: str, outcome: str) -> None:
        """`outcome` is "loaded" or the machine's final refusal code; either way it is not sent again."""
        self._db.execute("INSERT OR REPLACE INTO authorisations (id, outcome) VALUES (?, ?)", (auth_id, outcome))

    def counts(self) -> Counts:
        by_state = dict(self._db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
        photos = self._db.execute("SELECT count(*) FROM photos WHERE state = 'pending'").fetchone()[0]
        return Counts(
            read=sum(by_state.values()),
            uploaded=by_state.get("uploaded", 0),
            pending=by_state.get("pending", 0),
            refused=by_state.get("refused", 0),
            photos_pending=int(photos),
        )
