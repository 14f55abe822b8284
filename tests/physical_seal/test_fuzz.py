"""What the service and a machine read from the other side, fuzzed: any bytes, or a genuine message with a byte
changed, are refused with the protocol's own errors, and never pass as genuine or escape as another exception."""

from __future__ import annotations

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from physical_seal import structures
from physical_seal.protocol.messages import Kind, Malformed, decode_fields, encode_fields
from physical_seal.structures import Authorisation, Event, StructureError

KEY = ec.generate_private_key(ec.SECP256R1())
EVENT = Event(
    machine="shuinan-1",
    counter=7,
    time=1_796_500_000,
    pos=(183_660_000, 1_091_620_000),
    kind="stamp",
    auth="0" * 31 + "1",
    use=1,
    custodian="sn.custodian1",
    doc=bytes(32),
    photo=bytes(range(32)),
    alarm=None,
    detail="",
)
SIGNED = structures.sign(EVENT, KEY)

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_are_refused_as_the_protocol_says(data: bytes) -> None:
    for kind in (Event, Authorisation):
        try:
            structures.read(kind, data)
        except StructureError as exc:
            code = exc.code
        else:
            code = "read"
        assert code in ("malformed", "read")


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(SIGNED) - 1), st.integers(min_value=1, max_value=255))
def test_a_genuine_event_with_one_byte_changed_never_passes(at: int, mask: int) -> None:
    changed = SIGNED[:at] + bytes([SIGNED[at] ^ mask]) + SIGNED[at + 1 :]
    try:
        opened = structures.open_event(changed, KEY.public_key())
    except StructureError:
        return
    raise AssertionError(f"a changed event passed as genuine: {opened}")


@settings(max_examples=300, deadline=None)
@given(cbor_values)
def test_any_cbor_payload_is_a_structure_or_refused(value: object) -> None:
    payload = cbor2.dumps(value, canonical=True)
    try:
        decoded = Event.decode(payload)
    except StructureError:
        return
    assert decoded.encode() == payload


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Kind)), st.binary(max_size=200) | cbor_values.map(lambda v: cbor2.dumps(v, canonical=True)))
def test_any_message_payload_decodes_or_is_malformed(kind: Kind, payload: bytes) -> None:
    try:
        fields = decode_fields(kind, payload)
    except Malformed:
        return
    assert encode_fields(fields) == payload or kind in (Kind.ACK, Kind.NAK)
