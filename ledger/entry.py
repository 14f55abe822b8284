"""What a log entry is: an event in RFC 8785 canonical JSON, linked to the previous entry of its subject.

``{"v":1,"id":...,"type":...,"time":...,"actor":...,"subject":...,"data":{...},"prev":<hex leaf hash>|null}``.
An append queues the entry with ``prev`` null; the integrator, which alone knows the order of the tree, sets it
with ``linked`` as it sequences the entry.
Personal data never enters an entry in clear: ``commit`` stores the value under a random salt and returns
``sha256:<hex>`` of salt and value, which an inspector can later open by revealing both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core import canonical_json, deferred
from core.errors import Invalid
from ledger.merkle import leaf_hash
from ledger.models import PersonalDatum

_KEEP = insert(PersonalDatum)

VERSION = 1
MAX_ENTRY_BYTES = 65_535  # entry bundles prefix each entry with a uint16 length
_LINK_ROOM = len('"' + "00" * 32 + '"') - len("null")  # what setting ``prev`` adds to an entry
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class InvalidEvent(Invalid):
    problem = "invalid-log-event"


@dataclass(frozen=True)
class Event:
    """Something that happened, to be logged in the same transaction as the change itself."""

    type: str
    subject: str
    actor: str
    data: Mapping[str, Any]
    time: dt.datetime
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not _TYPE.match(self.type):
            raise InvalidEvent(f"event type {self.type!r} is not dotted lower-case words")
        if not self.subject or len(self.subject) > 200:
            raise InvalidEvent("an event subject is 1 to 200 characters")
        if not self.id or len(self.id) > 64:
            raise InvalidEvent("an event id is 1 to 64 characters")
        if self.time.tzinfo is None:
            raise InvalidEvent("event time must be timezone-aware")


def timestamp(moment: dt.datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the one time format of the log."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(event: Event, prev: bytes | None) -> bytes:
    body: dict[str, Any] = {
        "v": VERSION,
        "id": event.id,
        "type": event.type,
        "time": timestamp(event.time),
        "actor": event.actor,
        "subject": event.subject,
        "data": dict(event.data),
        "prev": prev.hex() if prev is not None else None,
    }
    try:
        encoded = canonical_json.dumps(body)
    except (canonical_json.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"event {event.type} cannot be written as canonical JSON: {exc}") from None
    size = len(encoded) + (_LINK_ROOM if prev is None else 0)  # as it will be once linked
    if size > MAX_ENTRY_BYTES:
        raise InvalidEvent(f"event {event.type} is {size} bytes; an entry holds at most {MAX_ENTRY_BYTES}")
    return encoded


# The top-level ``prev`` member and the key after it. Inside a JSON string every quote is escaped (``\"``), so a
# quote after ``,`` or ``v`` is structure: each match is a ``prev`` member followed by a ``subject`` one. RFC 8785
# sorts members, and after the top-level ``prev`` come only the strings ``subject``, ``time``, ``type`` and the
# number ``v``: so the last match is the top-level one, whatever objects ``data`` holds.
_PREV = re.compile(rb',"prev":(?:null|"[0-9a-f]{64}"),"subject":')


def linked(body: bytes, prev: bytes | None) -> bytes:
    """The entry ``body`` (as ``encode`` made it) with ``prev`` set, byte for byte what ``encode`` gives with
    that ``prev``: a splice, not a parse and re-encoding, for it runs on every entry the integrator sequences."""
    found = None
    for match in _PREV.finditer(body):
        found = match
    if found is None:
        raise ValueError("not a log entry: no prev member")
    link = b"null" if prev is None else b'"' + prev.hex().encode() + b'"'
    return b"".join((body[: found.start()], b',"prev":', link, b',"subject":', body[found.end() :]))


@dataclass(frozen=True)
class Encoded:
    event: Event
    body: bytes
    leaf_hash: bytes


def encoded(event: Event, prev: bytes | None) -> Encoded:
    body = encode(event, prev)
    return Encoded(event, body, leaf_hash(body))


def commitment_of(salt: bytes, value: str) -> str:
    return "sha256:" + hashlib.sha256(salt + value.encode()).hexdigest()


def commit(session: Session, kind: str, value: str, now: dt.datetime) -> str:
    """Keep ``value`` in the database, with the transaction's next statement, and return the commitment that
    stands for it in log entries."""
    salt = secrets.token_bytes(16)
    commitment = commitment_of(salt, value)
    row = {"commitment": commitment, "kind": kind, "salt": salt, "value": value, "created_at": now}
    deferred.write(session.connection(), _KEEP, row)
    return commitment
