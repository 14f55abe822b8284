"""The seal machine's persistent state: one SQLite file, written with WAL and synchronous=FULL so that whatever a
machine answered survives the power failing a moment later.

The device key is kept as unencrypted PEM in the database. That is right for an emulator only: a real machine
keeps it in a secure element it cannot leave.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cbor2

from core.private import make_directory, private_files
from physical_seal.structures import Authorisation, read

ANSWERS_KEPT = 256

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS auths (
    id TEXT PRIMARY KEY, cose BLOB NOT NULL, used INTEGER NOT NULL DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (counter INTEGER PRIMARY KEY, cose BLOB NOT NULL, photo BLOB);
CREATE TABLE IF NOT EXISTS in_progress (
    counter INTEGER PRIMARY KEY, auth TEXT NOT NULL, doc BLOB NOT NULL, custodian TEXT, time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    n INTEGER PRIMARY KEY AUTOINCREMENT, rid INTEGER NOT NULL, digest BLOB NOT NULL, response BLOB NOT NULL,
    UNIQUE (rid, digest)
);
"""


@dataclass(frozen=True)
class Loaded:
    """An authorisation on the machine and how much of it is gone."""

    auth: Authorisation
    used: int
    closed: bool

    @property
    def uses_left(self) -> int:
        return 0 if self.closed else max(0, self.auth.uses - self.used)


@dataclass(frozen=True)
class Pending:
    """A stamp whose counter was reserved but whose event is not yet journaled."""

    counter: int
    auth: str
    doc: bytes
    custodian: str | None
    time: int


class OtherMachine(ValueError):
    """The state directory belongs to another machine."""


class Store:
    """Reads and writes of the machine's state; writes happen inside ``transaction()``."""

    def __init__(self, directory: Path, machine_id: str) -> None:
        # The state holds the machine's private key: 0700 and 0600, whatever umask the machine runs under.
        make_directory(directory)
        with private_files():
            self._db = sqlite3.connect(directory / "machine.sqlite3", isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        # A state directory is one machine's for good: its key and counter mean nothing under another id.
        with self.transaction():
            known = self.get("machine")
            if known is None:
                self.put("machine", machine_id.encode())
            elif known.decode() != machine_id:
                raise OtherMachine(f"{directory} holds the state of machine {known.decode()}, not {machine_id}")
        self.machine_id = machine_id

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One durable step: committed as a whole, or rolled back on an exception."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def commit_point(self) -> None:
        """Make what the current transaction wrote durable now, and go on in a new one."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN IMMEDIATE")

    # Single values: key, certificates, counter, epoch, tamper.

    def get(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, value: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def get_int(self, key: str) -> int:
        value = self.get(key)
        return 0 if value is None else int(value)

    def put_int(self, key: str, value: int) -> None:
        self.put(key, str(value).encode())

    def next_counter(self) -> int:
        """Reserve the next event number: never reused, whatever happens to the event."""
        counter = self.get_int("counter") + 1
        self.put_int("counter", counter)
        return counter

    # Authorisations.

    def add_auth(self, auth: Authorisation, cose: bytes) -> None:
        self._db.execute("INSERT INTO auths (id, cose) VALUES (?, ?)", (auth.id, cose))

    def auth(self, auth_id: str) -> Loaded | None:
        row = self._db.execute("SELECT cose, used, closed FROM auths WHERE id = ?", (auth_id,)).fetchone()
        return None if row is None else _loaded(row)

    def auths(self) -> list[Loaded]:
        return [_loaded(row) for row in self._db.execute("SELECT cose, used, closed FROM auths ORDER BY rowid")]

    def use(self, auth_id: str) -> None:
        self._db.execute("UPDATE auths SET used = used + 1 WHERE id = ?", (auth_id,))

    def close_auth(self, auth_id: str) -> None:
        self._db.execute("UPDATE auths SET closed = 1 WHERE id = ?", (auth_id,))

    # The journal and the stamp in progress.

    def journal(self, counter: int, cose: bytes, photo: bytes | None = None) -> None:
        self._db.execute("INSERT INTO events (counter, cose, photo) VALUES (?, ?, ?)", (counter, cose, photo))

    def events(self, after: int, limit: int) -> list[bytes]:
        rows = self._db.execute(
            "SELECT cose FROM events WHERE counter > ? ORDER BY counter LIMIT ?", (after, limit)
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def photo(self, counter: int) -> bytes | None:
        row = self._db.execute("SELECT photo FROM events WHERE counter = ?", (counter,)).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def begin_stamp(self, pending: Pending) -> None:
        self._db.execute(
            "INSERT INTO in_progress (counter, auth, doc, custodian, time) VALUES (?, ?, ?, ?, ?)",
            (pending.counter, pending.auth, pending.doc, pending.custodian, pending.time),
        )

    def pending(self) -> Pending | None:
        row = self._db.execute("SELECT counter, auth, doc, custodian, time FROM in_progress").fetchone()
        return None if row is None else Pending(row[0], row[1], bytes(row[2]), row[3], row[4])

    def end_stamp(self, counter: int) -> None:
        self._db.execute("DELETE FROM in_progress WHERE counter = ?", (counter,))

    # Answers already given, so that a repeated request is not carried out twice.

    def answer(self, rid: int, digest: bytes) -> dict[str, object] | None:
        row = self._db.execute("SELECT response FROM answers WHERE rid = ? AND digest = ?", (rid, digest)).fetchone()
        if row is None:
            return None
        response: dict[str, object] = cbor2.loads(row[0])
        return response

    def remember(self, rid: int, digest: bytes, response: dict[str, object]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers (rid, digest, response) VALUES (?, ?, ?)",
            (rid, digest, cbor2.dumps(response, canonical=True)),
        )
        self._db.execute("DELETE FROM answers WHERE n <= (SELECT MAX(n) FROM answers) - ?", (ANSWERS_KEPT,))


def _loaded(row: tuple[bytes, int, int]) -> Loaded:
    # The fields are read again from the signed bytes, the one record of what the service allowed.
    auth, _ = read(Authorisation, bytes(row[0]))
    return Loaded(auth, row[1], bool(row[2]))
