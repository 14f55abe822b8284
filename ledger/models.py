"""Tables of the log: the pending queue, sequenced entries, tiles, tree state, checkpoints, subject heads,
personal data behind commitments, and a witness's own state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class PendingEntry(Base):
    """An entry written by a domain transaction and not yet given an index: its body has ``prev`` null and no
    leaf hash yet, both fixed by the integrator as it sequences the entry."""

    __tablename__ = "ledger_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class Entry(Base):
    """A sequenced entry: ``idx`` is its position in the tree."""

    __tablename__ = "ledger_entries"

    __table_args__ = (Index("ix_ledger_entries_subject_type", "subject", "type"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    body: Mapped[bytes] = mapped_column(LargeBinary)


class SubjectHead(Base):
    """The leaf hash of the newest sequenced entry of a subject, the ``prev`` of its next; the integrator's own."""

    __tablename__ = "ledger_subject_heads"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class Tile(Base):
    """A C2SP tlog-tiles tile: up to 256 hashes; a partial tile of width W is the prefix of this one."""

    __tablename__ = "ledger_tiles"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class TreeState(Base):
    """The integrated tree: its size, root and compact range (the roots of its perfect subtrees)."""

    __tablename__ = "ledger_tree"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    compact: Mapped[bytes] = mapped_column(LargeBinary)


class Checkpoint(Base):
    """A checkpoint the log signed; ``note`` carries the log's signature and any witness cosignatures."""

    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published: Mapped[bool] = mapped_column(Boolean, index=True)


class PersonalDatum(Base):
    """A value the log refers to only by its salted commitment; revealing salt and value proves the entry."""

    __tablename__ = "ledger_personal_data"

    commitment: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class WitnessState(Base):
    """A witness's newest cosigned checkpoint per log origin (tlog-witness keeps nothing else)."""

    __tablename__ = "ledger_witness_state"

    origin: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    checkpoint: Mapped[str] = mapped_column(Text)
