"""The log as the service runs it: origin, key, publisher, reader and integrator, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from core.errors import ConfigError
from core.runtime import Runtime
from core.settings import env_name
from ledger.integrator import Integrator
from ledger.keys import log_signer
from ledger.note import CosignatureVerifier, NoteError, parse_checkpoint, parse_note, parse_vkey
from ledger.proofs import LogReader
from ledger.publish import Publisher, WitnessPeer, newest


@dataclass
class LogService:
    origin: str
    vkey: str
    publisher: Publisher
    reader: LogReader
    integrator: Integrator

    @classmethod
    def open(cls, rt: Runtime) -> LogService:
        ledger = rt.settings.ledger
        origin = rt.settings.log_origin
        _check_origin(rt, origin)
        signer = log_signer(rt.keystore, origin, rt.engine)
        peers = [_peer(i, w.url, w.vkey) for i, w in enumerate(ledger.witnesses)]
        if ledger.witness_quorum > len(peers):
            raise ConfigError(
                env_name("ledger", "witness_quorum"), f"{ledger.witness_quorum} is more than the {len(peers)} witnesses"
            )
        publisher = Publisher(origin, signer, peers, ledger.witness_quorum, httpx.Client(timeout=10.0))
        integrator = Integrator(
            rt.engine, publisher, rt.clock, batch_size=ledger.batch_size, idle_seconds=ledger.idle_seconds
        )
        return cls(origin, signer.vkey, publisher, LogReader(), integrator)


def _peer(position: int, url: str, vkey: str) -> WitnessPeer:
    try:
        verifier = parse_vkey(vkey)
    except (NoteError, ValueError) as exc:
        raise ConfigError(env_name("ledger", "witnesses"), f"witness {position}: {exc}") from None
    if not isinstance(verifier, CosignatureVerifier):
        raise ConfigError(env_name("ledger", "witnesses"), f"witness {position}: not a cosignature (0x04) key")
    return WitnessPeer(url, verifier)


def _check_origin(rt: Runtime, origin: str) -> None:
    """A log keeps its origin for life: refuse to sign under another name over the same tree."""
    with rt.sessions() as session:
        last = newest(session)
    if last is None:
        return
    stored = parse_checkpoint(parse_note(last.note).text).origin
    if stored != origin:
        raise ConfigError(
            env_name("ledger", "origin"), f"is {origin!r}, but the log in the database is {stored!r}; set it back"
        )
