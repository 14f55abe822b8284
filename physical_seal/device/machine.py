"""The seal machine of docs/protocol.md: it trusts only its pinned root, numbers and signs every event itself, and
answers each request of §4.2 from its store, so that a terminal cannot make it stamp outside an authorisation."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from physical_seal.device.store import Loaded, Pending, Store
from physical_seal.geo import distance_m
from physical_seal.protocol.messages import PROTOCOL, Kind, Malformed, decode_fields, encode_fields, refusal
from physical_seal.structures import (
    Authorisation,
    EpochNotice,
    Event,
    StructureError,
    open_signed_by_service,
    sign,
)

FIRMWARE = "sealgate device-sim 1"
LOGIN_SECONDS = 600
EVENTS_BYTES = 3600  # events in one EVENTS response, so the frame stays under its 4096-byte payload
# Requests that change what the machine keeps: a repeat of one is answered from memory, never carried out again.
_REMEMBERED = frozenset({Kind.LOAD, Kind.EPOCH, Kind.STAMP, Kind.CLOSE, Kind.ENROL, Kind.INSTALL})


class Camera(Protocol):
    def photograph(self, *, doc: bytes, request: str, counter: int, time: int) -> bytes: ...


class Refusal(Exception):
    """A request the machine refuses; a refused STAMP is also recorded as the alarm ``alarm``."""

    def __init__(self, code: str, message: str, alarm: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.alarm = alarm


class Machine:
    """One seal machine over its store; ``press`` moves the seal (the emulator's power-loss point)."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        position: tuple[int, int],
        custodians: Mapping[str, str],
        camera: Camera,
        drift_limit: int = 120,
        press: Callable[[], None] = lambda: None,
    ) -> None:
        self.id = store.machine_id
        self._store = store
        self._clock = clock
        self._position = position
        self._custodians = dict(custodians)
        self._camera = camera
        self._drift_limit = drift_limit
        self._press = press
        self._login: tuple[str, int] | None = None  # custodian, until
        self._handlers: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
            Kind.HELLO: self._hello,
            Kind.TIME: self._time,
            Kind.LOAD: self._load,
            Kind.EPOCH: self._epoch,
            Kind.LOGIN: self._login_request,
            Kind.STAMP: self._stamp,
            Kind.EVENTS: self._events,
            Kind.PHOTO: self._photo,
            Kind.STATUS: self._status,
            Kind.CLOSE: self._close,
            Kind.ENROL: self._enrol,
            Kind.INSTALL: self._install,
            Kind.LOGOUT: self._logout,
        }
        self._recover()

    def handle(self, kind: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The response's fields (with ``rid`` and ``ok``) to one request."""
        rid = fields.get("rid")
        rid = rid if type(rid) is int and rid >= 0 else 0
        if kind not in self._handlers:
            return refusal(rid, "malformed", f"0x{kind:02x} is not a request")
        try:
            checked = decode_fields(kind, encode_fields(fields))
        except (Malformed, cbor2.CBOREncodeError, TypeError, ValueError) as exc:
            return refusal(rid, "malformed", str(exc) or "malformed request")
        digest = hashlib.sha256(encode_fields(checked)).digest()
        with self._store.transaction():
            if kind in _REMEMBERED and (answer := self._store.answer(rid, digest)) is not None:
                return answer
            try:
                response = {"rid": rid, "ok": True, **self._handlers[kind](checked)}
            except Refusal as exc:
                response = refusal(rid, exc.code, exc.message[:200])
            if kind in _REMEMBERED:
                self._store.remember(rid, digest, response)
        return response

    def tamper(self) -> None:
        """The case was opened: an alarm, and no stamp until a custodian has inspected it (``reset_tamper``)."""
        with self._store.transaction():
            self._store.put_int("tamper", 1)
            if self._key() is not None:
                self._event("alarm", alarm="tamper", detail="the case was opened")

    def reset_tamper(self) -> None:
        with self._store.transaction():
            self._store.put_int("tamper", 0)

    # Requests.

    def _hello(self, f: dict[str, Any]) -> dict[str, Any]:
        return {
            "machine": self.id,
            "firmware": FIRMWARE,
            "protocol": PROTOCOL,
            "counter": self._store.get_int("counter"),
            "epoch": self._store.get_int("epoch"),
            "time": self._now(),
            "enrolled": self._root() is not None,
        }

    def _time(self, f: dict[str, Any]) -> dict[str, Any]:
        # The machine never takes the terminal's time: a terminal that could set it could reopen an expired window.
        now = self._now()
        drift = now - f["time"]
        if abs(drift) > self._drift_limit and self._key() is not None:
            self._event("alarm", alarm="clock-drift", detail=f"machine {now}, terminal {f['time']}")
        return {"time": now, "drift": drift}

    def _load(self, f: dict[str, Any]) -> dict[str, Any]:
        auth = self._open(Authorisation, f["auth"])
        if auth.machine != self.id:
            raise Refusal("wrong-machine", f"the authorisation is for machine {auth.machine}")
        if self._store.auth(auth.id) is not None:
            raise Refusal("replayed", f"authorisation {auth.id} is already loaded")
        epoch = self._store.get_int("epoch")
        if auth.epoch != epoch:
            raise Refusal("stale-epoch", f"the authorisation is of epoch {auth.epoch}, the machine's is {epoch}")
        if auth.exp <= self._now():
            raise Refusal("expired", "the authorisation has expired")
        self._store.add_auth(auth, f["auth"])
        return {"id": auth.id, "uses_left": auth.uses}

    def _epoch(self, f: dict[str, Any]) -> dict[str, Any]:
        notice = self._open(EpochNotice, f["notice"])
        if notice.machine != self.id:
            raise Refusal("wrong-machine", f"the notice is for machine {notice.machine}")
        current = self._store.get_int("epoch")
        if notice.epoch <= current:
            raise Refusal("replayed", f"epoch {notice.epoch} is not above the machine's {current}")
        self._store.put_int("epoch", notice.epoch)
        return {"epoch": notice.epoch}

    def _login_request(self, f: dict[str, Any]) -> dict[str, Any]:
        pin = self._custodians.get(f["custodian"])
        if pin is None or not hmac.compare_digest(pin.encode(), f["pin"].encode()):
            raise Refusal("bad-login", "unknown custodian or wrong PIN")
        self._login = (f["custodian"], self._now() + LOGIN_SECONDS)
        return {"custodian": f["custodian"]}

    def _logout(self, f: dict[str, Any]) -> dict[str, Any]:
        self._login = None
        return {}

    def _stamp(self, f: dict[str, Any]) -> dict[str, Any]:
        key = self._key()
        if key is None or self._root() is None:
            raise Refusal("not-enrolled", "the machine is not enrolled")
        now, custodian = self._now(), self._custodian()
        loaded = self._store.auth(f["auth"])
        try:
            self._may_stamp(loaded, f["doc"], custodian, now)
        except Refusal as exc:
            known = loaded is not None
            detail = exc.message if known else f"{exc.message} (asked for {f['auth'][:100]!r})"
            self._event("alarm", auth=f["auth"] if known else None, custodian=custodian, doc=f["doc"],
                        alarm=exc.alarm, detail=detail)  # fmt: skip
            raise
        assert loaded is not None, "_may_stamp refuses an unknown authorisation"
        counter = self._store.next_counter()
        self._store.begin_stamp(Pending(counter, loaded.auth.id, f["doc"], custodian, now))
        self._store.commit_point()
        self._press()
        photo = self._camera.photograph(doc=f["doc"], request=loaded.auth.request, counter=counter, time=now)
        event = self._make_event(
            counter, "stamp", auth=loaded.auth.id, use=loaded.used + 1, custodian=custodian, doc=f["doc"],
            photo=hashlib.sha256(photo).digest(), detail=f"request {loaded.auth.request}", at=now,
        )  # fmt: skip  # the time checked against the window, not a moment after the press
        cose = sign(event, key)
        self._store.journal(counter, cose, photo)
        self._store.use(loaded.auth.id)
        self._store.end_stamp(counter)
        return {"event": cose}

    def _may_stamp(self, loaded: Loaded | None, doc: bytes, custodian: str | None, now: int) -> None:
        """Refuse a stamp in the order the protocol lists the reasons."""
        if self._store.get_int("tamper"):
            raise Refusal("tampered", "the case was opened: no stamp before an inspection", "unauthorised-stamp")
        if custodian is None:
            raise Refusal("not-logged-in", "no custodian is logged in", "unauthorised-stamp")
        if loaded is None:
            raise Refusal("unknown-authorisation", "no such authorisation on the machine", "unauthorised-stamp")
        auth = loaded.auth
        if auth.epoch < self._store.get_int("epoch"):
            raise Refusal("stale-epoch", "the authorisation was revoked by a later epoch", "unauthorised-stamp")
        if now < auth.nbf:
            raise Refusal("not-yet-valid", f"the authorisation is valid from {auth.nbf}", "outside-window")
        if auth.exp <= now:
            raise Refusal("expired", f"the authorisation expired at {auth.exp}", "outside-window")
        lat, lon, radius = auth.fence
        distance = distance_m((lat, lon), self._position)
        if distance > radius:
            raise Refusal(
                "outside-fence", f"{distance:.0f} m from the fence's centre, {radius} allowed", "outside-fence"
            )
        if custodian not in auth.custodians:
            raise Refusal("custodian-not-allowed", f"{custodian} may not stamp under it", "custodian-not-allowed")
        if doc != auth.doc:
            raise Refusal("document-mismatch", "the sheet is not the approved document", "document-mismatch")
        if loaded.uses_left == 0:
            raise Refusal("uses-exceeded", f"all {auth.uses} uses are spent or it was closed", "uses-exceeded")

    def _events(self, f: dict[str, Any]) -> dict[str, Any]:
        events: list[bytes] = []
        size = 0
        for cose in self._store.events(f["after"], f["max"]):
            size += len(cose) + 3
            if events and size > EVENTS_BYTES:
                break
            events.append(cose)
        return {"events": events}

    def _photo(self, f: dict[str, Any]) -> dict[str, Any]:
        photo = self._store.photo(f["counter"])
        if photo is None:
            raise Refusal("malformed", f"event {f['counter']} has no photo")
        if f["offset"] > len(photo):
            raise Refusal("malformed", f"the photo has {len(photo)} bytes")
        return {"total": len(photo), "data": photo[f["offset"] : f["offset"] + f["size"]]}

    def _status(self, f: dict[str, Any]) -> dict[str, Any]:
        epoch = self._store.get_int("epoch")
        usable = [a for a in self._store.auths() if not a.closed and a.auth.epoch >= epoch]
        return {
            "counter": self._store.get_int("counter"),
            "epoch": epoch,
            "time": self._now(),
            "tamper": bool(self._store.get_int("tamper")),
            "custodian": self._custodian(),
            "auths": [[a.auth.id, a.uses_left, a.auth.exp] for a in usable],
        }

    def _close(self, f: dict[str, Any]) -> dict[str, Any]:
        if self._key() is None or self._root() is None:
            raise Refusal("not-enrolled", "the machine is not enrolled")
        loaded = self._store.auth(f["auth"])
        if loaded is None:
            raise Refusal("unknown-authorisation", "no such authorisation on the machine")
        if loaded.closed:
            raise Refusal("uses-exceeded", "the authorisation is already closed")
        self._store.close_auth(loaded.auth.id)
        detail = f"closed after {loaded.used} of {loaded.auth.uses} uses"
        return {"event": self._event("close", auth=loaded.auth.id, custodian=self._custodian(), detail=detail)}

    def _enrol(self, f: dict[str, Any]) -> dict[str, Any]:
        if f["machine"] != self.id:
            raise Refusal("wrong-machine", f"this is machine {self.id}")
        key = self._key()
        if key is None:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            self._store.put("key", pem)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.SERIAL_NUMBER, self.id),
                x509.NameAttribute(NameOID.COMMON_NAME, f"seal machine {self.id}"),
            ]
        )
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        return {"csr": csr.public_bytes(serialization.Encoding.DER)}

    def _install(self, f: dict[str, Any]) -> dict[str, Any]:
        key = self._key()
        if key is None:
            raise Refusal("not-enrolled", "ENROL first: the machine has no key")
        if len(f["chain"]) != 2:
            raise Refusal("malformed", "the chain is the issuing CA's certificate, then the root's")
        try:
            certificate, issuing, root = (x509.load_der_x509_certificate(c) for c in [f["certificate"], *f["chain"]])
        except ValueError:
            raise Refusal("malformed", "not a DER certificate") from None
        pinned = self._root()
        if pinned is not None and pinned != root:
            raise Refusal("bad-signature", "the machine already trusts another root")
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise Refusal("bad-signature", "the certificate is not for this machine's key")
        serials = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        if [s.value for s in serials] != [self.id]:
            raise Refusal("wrong-machine", "the certificate's serialNumber is not this machine's id")
        try:
            root.verify_directly_issued_by(root)
            issuing.verify_directly_issued_by(root)
            certificate.verify_directly_issued_by(issuing)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise Refusal("bad-signature", f"the certificate does not chain to the root: {exc}") from None
        der = serialization.Encoding.DER
        self._store.put("certificate", certificate.public_bytes(der))
        self._store.put("chain", cbor2.dumps([issuing.public_bytes(der), root.public_bytes(der)]))
        self._store.put("root", root.public_bytes(der))
        return {}

    # Helpers.

    def _recover(self) -> None:
        """A stamp found in progress at start is an alarm, and its use is spent: the seal may have been pressed."""
        pending = self._store.pending()
        if pending is None:
            return
        with self._store.transaction():
            loaded = self._store.auth(pending.auth)
            spent = 0 if loaded is None else loaded.used + 1
            use = f" (use {spent})" if spent else ""
            cose = sign(
                self._make_event(
                    pending.counter, "alarm", auth=pending.auth, custodian=pending.custodian, doc=pending.doc,
                    use=spent, alarm="power-loss", detail=f"power lost during the stamp begun at {pending.time}{use}",
                ),
                self._signing_key(),
            )  # fmt: skip
            self._store.journal(pending.counter, cose)
            self._store.use(pending.auth)
            self._store.end_stamp(pending.counter)

    def _open(self, kind: type[Authorisation] | type[EpochNotice], data: bytes) -> Any:
        root = self._root()
        if root is None:
            raise Refusal("not-enrolled", "the machine is not enrolled: it trusts no root yet")
        try:
            return open_signed_by_service(kind, data, root, dt.datetime.fromtimestamp(self._now(), dt.UTC))
        except StructureError as exc:
            raise Refusal(exc.code, str(exc)) from None

    def _event(
        self,
        kind: str,
        *,
        auth: str | None = None,
        custodian: str | None = None,
        doc: bytes | None = None,
        alarm: str | None = None,
        detail: str = "",
    ) -> bytes:
        """Number, sign and journal an alarm or close event."""
        counter = self._store.next_counter()
        event = self._make_event(counter, kind, auth=auth, custodian=custodian, doc=doc, alarm=alarm, detail=detail)
        cose = sign(event, self._signing_key())
        self._store.journal(counter, cose)
        return cose

    def _make_event(
        self,
        counter: int,
        kind: str,
        *,
        auth: str | None,
        custodian: str | None,
        doc: bytes | None,
        use: int = 0,
        photo: bytes | None = None,
        alarm: str | None = None,
        detail: str = "",
        at: int | None = None,
    ) -> Event:
        moment = self._now() if at is None else at
        return Event(
            machine=self.id, counter=counter, time=moment, pos=self._position, kind=kind, auth=auth, use=use,
            custodian=custodian, doc=doc, photo=photo, alarm=alarm, detail=detail[:500],
        )  # fmt: skip

    def _now(self) -> int:
        return int(self._clock())

    def _custodian(self) -> str | None:
        if self._login is None or self._login[1] <= self._now():
            return None
        return self._login[0]

    def _key(self) -> ec.EllipticCurvePrivateKey | None:
        pem = self._store.get("key")
        if pem is None:
            return None
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey), "the machine only ever makes EC keys"
        return key

    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        key = self._key()
        assert key is not None, "events are only signed by an enrolled machine"
        return key

    def _root(self) -> x509.Certificate | None:
        der = self._store.get("root")
        return None if der is None else x509.load_der_x509_certificate(der)


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der
