"""The terminal agent: relays authorisations to the machine and the machine's events and photos to the service.

All serial I/O happens in the caller's thread, one request at a time. A pass goes on when the service is down
(events are still read and journalled) and when the machine is down (what is journalled is still uploaded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from physical_seal import structures
from physical_seal.protocol.link import Client, Link, LinkDown, Port, Refused
from physical_seal.protocol.messages import Kind
from physical_seal.structures import Event, StructureError
from physical_seal.terminal.journal import Journal
from physical_seal.terminal.service import Rejected, TerminalService, Unreachable

log = logging.getLogger(__name__)

EVENTS_PER_REQUEST = 32
PHOTO_CHUNK = 2048
UPLOAD_BATCH = 100
TIME_EVERY = 60.0
# Refusals of LOAD that may pass later (the machine's enrolment): anything else is final.
_LOAD_RETRY = frozenset({"not-enrolled"})


class Caller(Protocol):
    def call(self, kind: int, **fields: Any) -> dict[str, Any]: ...


class AgentError(Exception):
    """A fault the operator must fix: the wrong machine on the port, or an enrolment that failed."""


@dataclass(frozen=True)
class PassReport:
    read: int
    photos: int
    uploaded: int
    pending: int
    machine: bool
    service: bool


def connect(port: Port, journal: Journal) -> Client:
    """A client whose request numbers go on from the last one this journal gave out."""
    return Client(Link(port), first_rid=journal.peek_rid())


class Agent:
    def __init__(
        self,
        machine: str,
        caller: Caller,
        journal: Journal,
        service: TerminalService,
        *,
        terminal: str = "sealgate-terminal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.machine = machine
        self.journal = journal
        self.service = service
        self._caller = caller
        self._terminal = terminal
        self._clock = clock
        self._fresh = True
        self._epoch = 0
        self._timed_at: float | None = None
        self._code: str | None = None  # an enrolment code waiting for the service

    def call(self, kind: Kind, **fields: Any) -> dict[str, Any]:
        """One request; the link is greeted again first when it is new or was down."""
        if self._fresh:
            self._hello()
        return self._raw(kind, **fields)

    def _raw(self, kind: Kind, **fields: Any) -> dict[str, Any]:
        self.journal.take_rid()  # mirrors the client's numbering, so a restart starts above it
        try:
            return self._caller.call(kind, **fields)
        except LinkDown:
            self._fresh = True
            raise

    def _hello(self) -> None:
        hello = self._raw(Kind.HELLO, terminal=self._terminal)
        if hello["machine"] != self.machine:
            raise AgentError(f"the machine on this port is {hello['machine']!r}, not {self.machine!r}")
        self._epoch = hello["epoch"]
        self._fresh = False
        self._timed_at = None
        log.info(
            "machine %s: firmware %s, counter %d, epoch %d",
            self.machine,
            hello["firmware"],
            hello["counter"],
            hello["epoch"],
        )
        install = self.journal.pending_install()
        if install is not None:
            self._install(*install)
        elif not hello["enrolled"]:
            log.warning("machine %s is not enrolled: run with --enrol CODE", self.machine)

    def _install(self, certificate: bytes, chain: list[bytes]) -> None:
        self._raw(Kind.INSTALL, certificate=certificate, chain=chain)
        self.journal.installed()
        log.info("machine %s: certificate installed", self.machine)

    def enrol(self, code: str) -> None:
        """ENROL at the machine, the code and CSR to the service, INSTALL: once; later starts skip it. While the
        service cannot be reached, or the machine does not answer (a noisy line, a machine still starting), the
        code is kept and tried again at every pass; a code the service refuses is an error. The machine keeps the
        key of a first ENROL, so asking again gives a CSR for the same key."""
        if self.journal.credential is not None:
            log.info("already enrolled; the enrolment code is not used")
            return
        self._code = code
        try:
            self._enrol()
        except LinkDown as exc:
            log.warning("machine %s does not answer; enrolment tried again at the next pass: %s", self.machine, exc)

    def _enrol(self) -> None:
        if self._code is None or self.journal.credential is not None:
            return
        csr = self.call(Kind.ENROL, machine=self.machine)["csr"]
        try:
            enrolment = self.service.enrol(self._code, csr)
        except Unreachable as exc:
            log.warning("service unreachable, enrolment tried again at the next pass: %s", exc)
            return
        except Rejected as exc:
            raise AgentError(f"enrolment failed: {exc}") from None
        self._code = None
        self.journal.set_enrolment(enrolment.credential, enrolment.certificate, enrolment.chain)
        self.service.credential = enrolment.credential
        self._install(enrolment.certificate, enrolment.chain)

    def sync(self) -> PassReport:
        """One pass: greet and set the clock, load authorisations, read events and photos, upload."""
        read = photos = 0
        machine = service = True
        try:
            self._enrol()
            self._time()
            service = self._authorise()
            read = self._read_events()
            photos = self._read_photos()
        except LinkDown as exc:
            log.warning("machine %s does not answer: %s", self.machine, exc)
            machine = False
        uploaded = 0
        if service:
            uploaded, service = self._upload()
        return PassReport(read, photos, uploaded, self.journal.counts().pending, machine, service)

    def _time(self) -> None:
        now = self._clock()
        if self._fresh or self._timed_at is None or now - self._timed_at >= TIME_EVERY:
            answer = self.call(Kind.TIME, time=int(self._clock()))
            self._timed_at = now
            if abs(answer["drift"]) > 120:
                log.warning("machine %s clock is %d s off", self.machine, answer["drift"])

    def _authorise(self) -> bool:
        """LOAD what the service offers and the machine lacks, and raise its epoch; False if the service is down."""
        if self.journal.credential is None:
            return False  # not enrolled: the service would refuse every call
        try:
            offered = self.service.authorisations()
        except Unreachable as exc:
            log.warning("service unreachable: %s", exc)
            return False
        except Rejected as exc:
            log.error("service refused the authorisations query: %s", exc)
            return True
        if offered.epoch > self._epoch and offered.epoch_notice is not None:
            try:
                self._epoch = self.call(Kind.EPOCH, notice=offered.epoch_notice)["epoch"]
            except Refused as exc:
                if exc.code != "replayed":
                    log.error("machine refused epoch %d: %s", offered.epoch, exc)
        for item in offered.items:
            if self.journal.authorisation_outcome(item.id) is not None:
                continue
            try:
                answer = self.call(Kind.LOAD, auth=item.cose)
                log.info("authorisation %s (%s) loaded, %d uses left", item.id, item.request, answer["uses_left"])
                self.journal.mark_authorisation(item.id, "loaded")
            except Refused as exc:
                if exc.code == "replayed":
                    self.journal.mark_authorisation(item.id, "loaded")
                else:
                    log.error("machine refused authorisation %s: %s", item.id, exc)
                    if exc.code not in _LOAD_RETRY:
                        self.journal.mark_authorisation(item.id, exc.code)
        return True

    def _read_events(self) -> int:
        read = 0
        while True:
            after = self.journal.last_counter()
            batch = self.call(Kind.EVENTS, after=after, max=EVENTS_PER_REQUEST)["events"]
            if not batch:
                return read
            try:
                events = [_event(data) for data in batch]
                self.journal.add_events([(e.counter, data, e.kind) for e, data in zip(events, batch, strict=True)])
            except (StructureError, ValueError) as exc:
                log.error("machine %s sent events after %d the journal cannot take: %s", self.machine, after, exc)
                return read
            read += len(batch)

    def _read_photos(self) -> int:
        read = 0
        for counter in self.journal.photos_missing():
            data = b""
            try:
                while True:
                    chunk = self.call(Kind.PHOTO, counter=counter, offset=len(data), size=PHOTO_CHUNK)
                    data += chunk["data"]
                    if len(data) >= chunk["total"] or not chunk["data"]:
                        break
            except Refused as exc:
                log.error("machine %s has no photo for event %d: %s", self.machine, counter, exc)
                continue
            self.journal.add_photo(counter, data)
            read += 1
        return read

    def _upload(self) -> tuple[int, bool]:
        """Events in counter order, then photos; the count uploaded and whether the service answered."""
        uploaded = 0
        while batch := self.journal.pending_events(UPLOAD_BATCH):
            try:
                results = self.service.upload_events([data for _, data in batch])
            except Unreachable as exc:
                log.warning("service unreachable, %d events wait: %s", self.journal.counts().pending, exc)
                return uploaded, False
            except Rejected as exc:
                log.error("service refused an upload of events from %d: %s", batch[0][0], exc)
                return uploaded, True
            for (counter, _), result in zip(batch, results, strict=True):
                answer = {"status": result.status, "reason": result.reason, "alarms": result.alarms}
                self.journal.mark_event(counter, "refused" if result.status == "refused" else "uploaded", answer)
                if result.status == "refused" or result.alarms:
                    log.error("event %d: %s %s, alarms %s", counter, result.status, result.reason, result.alarms)
            uploaded += len(batch)
        for counter, png in self.journal.pending_photos():
            try:
                digest = self.service.upload_photo(counter, png)
            except Unreachable as exc:
                log.warning("service unreachable for photos: %s", exc)
                return uploaded, False
            except Rejected as exc:
                if exc.status == 404:
                    continue
                log.error("service refused the photo of event %d: %s", counter, exc)
                self.journal.mark_photo(counter, "refused", {"status": exc.status, "detail": exc.detail})
                continue
            self.journal.mark_photo(counter, "uploaded", {"sha256": digest})
        return uploaded, True

    def login(self, custodian: str, pin: str) -> dict[str, Any]:
        return self.call(Kind.LOGIN, custodian=custodian, pin=pin)

    def logout(self) -> dict[str, Any]:
        return self.call(Kind.LOGOUT)

    def stamp(self, auth: str, doc: bytes) -> Event:
        return _event(self.call(Kind.STAMP, auth=auth, doc=doc)["event"])

    def close(self, auth: str) -> Event:
        return _event(self.call(Kind.CLOSE, auth=auth)["event"])

    def status(self) -> dict[str, Any]:
        return self.call(Kind.STATUS)


def _event(data: bytes) -> Event:
    """An event as the machine sent it; the service checks its signature, the terminal only needs its fields."""
    event, _ = structures.read(Event, data)
    return event
