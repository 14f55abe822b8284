"""The few DER encoders the OCSP responder fills its prepared response with.

Written by hand for speed: building a response with asn1crypto, or with `cryptography`'s OCSP builder, costs two
to three times the signature itself, while these primitives only join bytes. Their output is checked in tests
by `cryptography`'s parser and by ``openssl ocsp``.
"""

from __future__ import annotations

import datetime as dt

INTEGER, OCTET_STRING, NULL, OID, SEQUENCE, ENUMERATED = 0x02, 0x04, 0x05, 0x06, 0x30, 0x0A
GENERALIZED_TIME, BIT_STRING = 0x18, 0x03


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def explicit(number: int, content: bytes) -> bytes:
    """A context-specific, constructed tag around ``content``: ``[number] EXPLICIT``."""
    return tlv(0xA0 | number, content)


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("only non-negative integers are encoded here")
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def generalized_time(moment: dt.datetime) -> bytes:
    """Whole seconds in UTC, as RFC 5280 §4.1.2.5.2 asks."""
    return tlv(GENERALIZED_TIME, moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode())


def bit_string(value: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + value)
