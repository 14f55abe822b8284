"""The signed structures of docs/protocol.md §2: authorisations and epoch notices the service signs, events a
machine signs. Each is a deterministic CBOR map inside a COSE_Sign1; reading one checks every key and type, so
that a machine and the service refuse the same malformed input the same way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ca.profiles import AUTHORISATION_SIGNING
from physical_seal import cose
from physical_seal.cose import CoseError

VERSION = 1
MAX_USES = 1000
MAX_NUMBER = 2**31 - 1
LAST_MOMENT = 253_402_300_799
_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # machine ids and custodians' user names
EVENT_KINDS = frozenset({"stamp", "alarm", "close"})


class StructureError(ValueError):
    """A structure that is not what the protocol says, or not signed by whom it must be; ``code`` is the
    protocol's error code for it (docs/protocol.md §4.3)."""

    def __init__(self, message: str, code: str = "malformed") -> None:
        super().__init__(message)
        self.code = code


def _uint(v: object) -> bool:
    """A count or number that fits the 32-bit signed columns that keep it."""
    return type(v) is int and 0 <= v <= MAX_NUMBER


def _int(v: object) -> bool:
    return type(v) is int


def _moment(v: object) -> bool:
    """Seconds since 1970 up to the end of year 9999, the last a timestamp column holds."""
    return type(v) is int and 0 <= v <= LAST_MOMENT


def _text(v: object) -> bool:
    return isinstance(v, str) and 0 < len(v) <= 200 and "\x00" not in v  # PostgreSQL text holds no NUL


def _any_text(v: object) -> bool:
    return isinstance(v, str) and len(v) <= 500 and "\x00" not in v


def _hash(v: object) -> bool:
    return isinstance(v, bytes) and len(v) == 32


def _opt(check: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda v: v is None or check(v)


def _name(v: object) -> bool:
    return isinstance(v, str) and bool(_NAME.fullmatch(v))


def _names(v: object) -> bool:
    return isinstance(v, list) and 0 < len(v) <= 16 and all(_name(n) for n in v)


def _position(v: object) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_int(x) for x in v) and _latlon(v[0], v[1])


def _fence(v: object) -> bool:
    return isinstance(v, list) and len(v) == 3 and _position(v[:2]) and _uint(v[2])


def _uses(v: object) -> bool:
    return type(v) is int and 1 <= v <= MAX_USES


def _counter(v: object) -> bool:
    return _uint(v) and v != 0


def _id(v: object) -> bool:
    return isinstance(v, str) and bool(_ID.fullmatch(v))


def _latlon(lat: int, lon: int) -> bool:
    return -900_000_000 <= lat <= 900_000_000 and -1_800_000_000 <= lon <= 1_800_000_000


S = TypeVar("S", bound="_Structure")


@dataclass(frozen=True)
class _Structure:
    TYP: ClassVar[str]
    FIELDS: ClassVar[Mapping[str, Callable[[object], bool]]]

    def to_map(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        as_cbor = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return {"v": VERSION, "typ": self.TYP, **as_cbor}

    def encode(self) -> bytes:
        return cbor2.dumps(self.to_map(), canonical=True)

    @classmethod
    def decode(cls: type[S], payload: bytes) -> S:
        try:
            fields = cbor2.loads(payload)
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as exc:
            raise StructureError(f"the payload is not CBOR: {exc}") from None
        if not isinstance(fields, Mapping) or not all(isinstance(key, str) for key in fields):
            raise StructureError("the payload is not a CBOR map with text keys")
        expected = {"v", "typ", *cls.FIELDS}
        if set(fields) != expected:
            missing, unknown = expected - set(fields), set(fields) - expected
            raise StructureError(f"the payload lacks {sorted(missing)} or has unknown keys {sorted(unknown)}")
        if fields["v"] != VERSION or fields["typ"] != cls.TYP:
            raise StructureError(f"not a version {VERSION} {cls.TYP}")
        for key, check in cls.FIELDS.items():
            if not check(fields[key]):
                raise StructureError(f"{cls.TYP}: {key} has a wrong type or value")
        if cbor2.dumps(fields, canonical=True) != payload:
            raise StructureError("the payload is not in deterministic CBOR encoding")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in cls.FIELDS}
        made = cls(**values)
        made.check()
        return made

    def check(self) -> None:
        """Rules across fields, beyond each field's type."""


@dataclass(frozen=True)
class Authorisation(_Structure):
    TYP: ClassVar[str] = "sealgate/authorisation"
    FIELDS: ClassVar[Mapping[str, Callable[[object], bool]]] = {
        "id": _id,
        "machine": _name,
        "slot": _uint,
        "request": _text,
        "doc": _hash,
        "uses": _uses,
        "nbf": _moment,
        "exp": _moment,
        "fence": _fence,
        "custodians": _names,
        "epoch": _uint,
        "iat": _moment,
    }

    id: str
    machine: str
    slot: int
    request: str
    doc: bytes
    uses: int
    nbf: int
    exp: int
    fence: tuple[int, int, int]
    custodians: tuple[str, ...]
    epoch: int
    iat: int

    def check(self) -> None:
        if self.exp <= self.nbf:
            raise StructureError("an authorisation ends after it begins")


@dataclass(frozen=True)
class EpochNotice(_Structure):
    TYP: ClassVar[str] = "sealgate/epoch"
    FIELDS: ClassVar[Mapping[str, Callable[[object], bool]]] = {"machine": _name, "epoch": _uint, "iat": _moment}

    machine: str
    epoch: int
    iat: int


@dataclass(frozen=True)
class Event(_Structure):
    TYP: ClassVar[str] = "sealgate/event"
    FIELDS: ClassVar[Mapping[str, Callable[[object], bool]]] = {
        "machine": _name,
        "counter": _counter,
        "time": _moment,
        "pos": _position,
        "kind": lambda v: v in EVENT_KINDS,
        "auth": _opt(_id),
        "use": _uint,
        "custodian": _opt(_name),
        "doc": _opt(_hash),
        "photo": _opt(_hash),
        "alarm": _opt(_text),
        "detail": _any_text,
    }

    machine: str
    counter: int
    time: int
    pos: tuple[int, int]
    kind: str
    auth: str | None
    use: int
    custodian: str | None
    doc: bytes | None
    photo: bytes | None
    alarm: str | None
    detail: str

    def check(self) -> None:
        if self.kind == "stamp" and (self.auth is None or self.use < 1 or self.doc is None or self.photo is None):
            raise StructureError("a stamp event names its authorisation, use, document and photo")
        if self.kind == "alarm" and self.alarm is None:
            raise StructureError("an alarm event names its alarm")
        if self.kind == "close" and self.auth is None:
            raise StructureError("a close event names its authorisation")


def sign(structure: _Structure, key: ec.EllipticCurvePrivateKey, chain: Sequence[x509.Certificate] = ()) -> bytes:
    """The structure as a COSE_Sign1 signed by ``key``, carrying ``chain`` (signer first) when the service signs."""
    return cose.sign(structure.encode(), key, x5chain=[c.public_bytes(Encoding.DER) for c in chain])


def read(kind: type[S], data: bytes) -> tuple[S, cose.Sign1]:
    """The structure in a COSE_Sign1, its signature NOT yet checked (the caller finds the key by its content)."""
    try:
        message = cose.parse(data)
    except CoseError as exc:
        raise StructureError(str(exc)) from None
    return kind.decode(message.payload), message


def verify_with(message: cose.Sign1, public: ec.EllipticCurvePublicKey) -> None:
    try:
        cose.verify(message, public)
    except CoseError as exc:
        raise StructureError(str(exc), "bad-signature") from None


def open_signed_by_service(kind: type[S], data: bytes, root: x509.Certificate, at: dt.datetime) -> S:
    """An authorisation or epoch notice, checked as a machine checks it: signed by a certificate for
    authorisation signing, issued by a CA the ``root`` issued, both valid at ``at``."""
    structure, message = read(kind, data)
    verify_with(message, authorisation_signer(message.x5chain, root, at))
    return structure


def authorisation_signer(chain: Sequence[bytes], root: x509.Certificate, at: dt.datetime) -> ec.EllipticCurvePublicKey:
    """The key of the first certificate of ``chain`` if it chains to ``root`` and may sign authorisations."""
    if len(chain) != 2:
        raise StructureError("x5chain must be the signer's certificate and its issuing CA", "bad-signature")
    try:
        leaf, issuing = (x509.load_der_x509_certificate(c) for c in chain)
    except ValueError:
        raise StructureError("x5chain holds something that is not a certificate", "bad-signature") from None
    try:
        issuing.verify_directly_issued_by(root)
        leaf.verify_directly_issued_by(issuing)
    except (InvalidSignature, ValueError, TypeError) as exc:  # or a name or algorithm mismatch
        raise StructureError(f"the signer's certificate does not chain to the root: {exc}", "bad-signature") from None
    for certificate in (issuing, leaf):
        if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
            raise StructureError("a certificate of the chain is not valid now", "bad-signature")
    try:
        is_ca = issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        purposes = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise StructureError("the chain lacks the CA mark or the signer's purpose", "bad-signature") from None
    if not is_ca or AUTHORISATION_SIGNING not in purposes:
        raise StructureError("the signer's certificate is not one for authorisations", "bad-signature")
    public = leaf.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise StructureError("the signer's key is not an EC key", "bad-signature")
    return public


def open_event(data: bytes, device: ec.EllipticCurvePublicKey) -> Event:
    """An event checked against the machine's own key."""
    event, message = read(Event, data)
    verify_with(message, device)
    return event
