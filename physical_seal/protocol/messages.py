"""Message types and their CBOR maps (docs/protocol.md §4.2-§4.4), checked against one schema table."""

from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any

import cbor2

PROTOCOL = 1


class Kind(IntEnum):
    ACK = 0x01
    NAK = 0x02
    HELLO = 0x10
    HELLO_OK = 0x11
    TIME = 0x12
    TIME_OK = 0x13
    LOAD = 0x14
    LOAD_OK = 0x15
    EPOCH = 0x16
    EPOCH_OK = 0x17
    LOGIN = 0x18
    LOGIN_OK = 0x19
    STAMP = 0x1A
    STAMP_OK = 0x1B
    EVENTS = 0x1C
    EVENTS_OK = 0x1D
    PHOTO = 0x1E
    PHOTO_OK = 0x1F
    STATUS = 0x20
    STATUS_OK = 0x21
    CLOSE = 0x22
    CLOSE_OK = 0x23
    ENROL = 0x24
    ENROL_OK = 0x25
    INSTALL = 0x26
    INSTALL_OK = 0x27
    LOGOUT = 0x28
    LOGOUT_OK = 0x29


ERRORS = frozenset(
    {
        "not-enrolled",
        "bad-signature",
        "wrong-machine",
        "replayed",
        "stale-epoch",
        "not-yet-valid",
        "expired",
        "outside-fence",
        "unknown-authorisation",
        "uses-exceeded",
        "document-mismatch",
        "not-logged-in",
        "custodian-not-allowed",
        "bad-login",
        "tampered",
        "malformed",
    }
)
MACHINE_ALARMS = frozenset(
    {
        "tamper",
        "unauthorised-stamp",
        "uses-exceeded",
        "outside-window",
        "outside-fence",
        "document-mismatch",
        "custodian-not-allowed",
        "clock-drift",
        "power-loss",
    }
)
SERVICE_ALARMS = frozenset(
    {"counter-gap", "counter-replay", "forged-event", "revoked-machine", "machine-silent", "photo-missing"}
)


class Malformed(ValueError):
    """A payload that breaks §4.2; `rid` (and `kind`) when the request's number could still be read, so that the
    machine refuses it rather than leave the terminal waiting."""

    def __init__(self, reason: str, rid: int | None = None, kind: int | None = None) -> None:
        super().__init__(reason)
        self.rid = rid
        self.kind = kind if rid is not None else None


Check = Callable[[Any], bool]


def _uint(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**64


def _int(value: Any) -> bool:
    return type(value) is int and -(2**64) <= value < 2**64


def _text(value: Any) -> bool:
    return type(value) is str


def _bool(value: Any) -> bool:
    return type(value) is bool


def _bstr(size: int | None = None) -> Check:
    return lambda value: type(value) is bytes and (size is None or len(value) == size)


def _between(low: int, high: int) -> Check:
    return lambda value: _uint(value) and low <= value <= high


def _nullable(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _array(check: Check) -> Check:
    return lambda value: type(value) is list and all(check(item) for item in value)


def _tuple(*checks: Check) -> Check:
    return lambda value: (
        type(value) is list and len(value) == len(checks) and all(c(v) for c, v in zip(checks, value, strict=True))
    )


# Request fields besides `rid`; response fields besides `rid` and `ok`, when `ok` is true.
SCHEMA: dict[Kind, dict[str, Check]] = {
    Kind.HELLO: {"terminal": _text},
    Kind.HELLO_OK: {
        "machine": _text,
        "firmware": _text,
        "protocol": lambda value: _uint(value) and value == PROTOCOL,
        "counter": _uint,
        "epoch": _uint,
        "time": _uint,
        "enrolled": _bool,
    },
    Kind.TIME: {"time": _uint},
    Kind.TIME_OK: {"time": _uint, "drift": _int},
    Kind.LOAD: {"auth": _bstr()},
    Kind.LOAD_OK: {"id": _text, "uses_left": _uint},
    Kind.EPOCH: {"notice": _bstr()},
    Kind.EPOCH_OK: {"epoch": _uint},
    Kind.LOGIN: {"custodian": _text, "pin": _text},
    Kind.LOGIN_OK: {"custodian": _text},
    Kind.STAMP: {"auth": _text, "doc": _bstr(32)},
    Kind.STAMP_OK: {"event": _bstr()},
    Kind.EVENTS: {"after": _uint, "max": _between(1, 32)},
    Kind.EVENTS_OK: {"events": _array(_bstr())},
    Kind.PHOTO: {"counter": _uint, "offset": _uint, "size": _between(1, 2048)},
    Kind.PHOTO_OK: {"total": _uint, "data": _bstr()},
    Kind.STATUS: {},
    Kind.STATUS_OK: {
        "counter": _uint,
        "epoch": _uint,
        "time": _uint,
        "tamper": _bool,
        "custodian": _nullable(_text),
        "auths": _array(_tuple(_text, _uint, _uint)),
    },
    Kind.CLOSE: {"auth": _text},
    Kind.CLOSE_OK: {"event": _bstr()},
    Kind.ENROL: {"machine": _text},
    Kind.ENROL_OK: {"csr": _bstr()},
    Kind.INSTALL: {"certificate": _bstr(), "chain": _array(_bstr())},
    Kind.INSTALL_OK: {},
    Kind.LOGOUT: {},
    Kind.LOGOUT_OK: {},
}
_REFUSAL: dict[str, Check] = {"error": _text, "message": _text}


def is_response(kind: int) -> bool:
    """Responses are the odd types from 0x11 up: each request's type plus one."""
    return kind >= Kind.HELLO and kind % 2 == 1


def encode_fields(fields: Mapping[str, Any]) -> bytes:
    """The deterministic CBOR map (RFC 8949 §4.2.1) of a message."""
    encoded: bytes = cbor2.dumps(dict(fields), canonical=True)
    return encoded


def decode_fields(kind: int, payload: bytes) -> dict[str, Any]:
    """The fields of a received message, refused unless they are exactly what §4.2 says for its type."""
    if kind in (Kind.ACK, Kind.NAK):
        if payload:
            raise Malformed("ACK and NAK carry no payload")
        return {}
    if kind not in SCHEMA:
        raise Malformed(f"unknown message type 0x{kind:02x}")
    try:
        fields = cbor2.loads(payload)
    except cbor2.CBORDecodeError as error:
        raise Malformed(f"not CBOR: {error}") from None
    if type(fields) is not dict or not all(type(key) is str for key in fields):
        raise Malformed("not a CBOR map with text keys")
    rid = fields["rid"] if _uint(fields.get("rid")) else None
    expected = {"rid": _uint, **SCHEMA[Kind(kind)]}
    if is_response(kind):
        ok = fields.get("ok")
        if not _bool(ok):
            raise Malformed("`ok` missing or not a bool", rid, kind)
        expected = {"rid": _uint, "ok": _bool, **(SCHEMA[Kind(kind)] if ok else _REFUSAL)}
    if fields.keys() != expected.keys():
        missing, unknown = expected.keys() - fields.keys(), fields.keys() - expected.keys()
        raise Malformed(f"missing {sorted(missing)}, unknown {sorted(unknown)}", rid, kind)
    wrong = sorted(key for key, check in expected.items() if not check(fields[key]))
    if wrong:
        raise Malformed(f"wrong type for {wrong}", rid, kind)
    # Only now is every value of a type that encodes back, so the comparison cannot fail on a decoder's extension.
    if encode_fields(fields) != payload:
        raise Malformed("not in deterministic encoding, or bytes after the map", rid, kind)
    return fields


def refusal(rid: int, error: str, message: str) -> dict[str, Any]:
    """The fields of an `ok: false` response."""
    if error not in ERRORS:
        raise ValueError(f"unknown error code {error!r}")
    return {"rid": rid, "ok": False, "error": error, "message": message}
