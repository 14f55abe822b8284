"""Our COSE_Sign1 against pycose, an independent implementation, both ways; and the structures' strict reading."""

from __future__ import annotations

import datetime as dt
import hashlib

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pycose.algorithms import Es256, Es384
from pycose.headers import Algorithm
from pycose.keys.curves import P256, P384
from pycose.keys.ec2 import EC2Key
from pycose.keys.keyparam import EC2KpCurve, EC2KpD, EC2KpX, EC2KpY, KpKty
from pycose.keys.keytype import KtyEC2
from pycose.messages.sign1message import Sign1Message

from ca.profiles import AUTHORISATION_SIGNING
from physical_seal import cose, structures
from physical_seal.structures import Authorisation, EpochNotice, Event, StructureError

NOW = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)


def _pycose_key(key: ec.EllipticCurvePrivateKey) -> EC2Key:
    numbers = key.private_numbers()
    size = (key.curve.key_size + 7) // 8
    return EC2Key.from_dict(
        {
            KpKty: KtyEC2,
            EC2KpCurve: P256 if size == 32 else P384,
            EC2KpX: numbers.public_numbers.x.to_bytes(size, "big"),
            EC2KpY: numbers.public_numbers.y.to_bytes(size, "big"),
            EC2KpD: numbers.private_value.to_bytes(size, "big"),
        }
    )


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_pycose_verifies_ours(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    signed = cose.sign(b"the payload", key)
    tagged = cbor2.loads(signed)
    assert tagged.tag == 18
    # pycose's own decode expects cbor2 5's mutable lists; hand it the same parts as plain ones
    protected, unprotected, payload, signature = tagged.value
    message = Sign1Message.from_cose_obj([protected, dict(unprotected), payload, signature], True)
    message.key = _pycose_key(key)
    assert message.verify_signature()
    assert message.payload == b"the payload"
    assert message.phdr[Algorithm] is (Es256 if isinstance(curve, ec.SECP256R1) else Es384)


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_ours_verifies_pycose(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    alg = Es256 if isinstance(curve, ec.SECP256R1) else Es384
    message = Sign1Message(phdr={Algorithm: alg}, payload=b"from pycose")
    message.key = _pycose_key(key)
    encoded = message.encode(tag=True)
    parsed = cose.parse(encoded)
    cose.verify(parsed, key.public_key())
    assert parsed.payload == b"from pycose"
    with pytest.raises(cose.CoseError, match="does not verify"):
        cose.verify(parsed, ec.generate_private_key(curve).public_key())


def test_a_flipped_bit_anywhere_signed_fails() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signed = cose.sign(b"x" * 40, key)
    payload_at = signed.index(b"x" * 40)
    tampered = signed[:payload_at] + b"y" + signed[payload_at + 1 :]
    with pytest.raises(cose.CoseError):
        cose.verify(cose.parse(tampered), key.public_key())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        cbor2.dumps([b"", {}, b"", b""]),  # untagged
        cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b""])),  # three parts
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8}), {}, b"p", b"s"])),  # EdDSA: not ours
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7, 4: b"k"}), {}, b"p", b"s"])),  # more in protected
        cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -7}), {99: 1}, b"p", b"s"])),  # unknown unprotected
        b"\x81" * 100_000,  # deeply nested, and too large
    ],
)
def test_malformed_messages_are_refused(data: bytes) -> None:
    with pytest.raises(cose.CoseError):
        cose.parse(data)


def _authorisation(**changes: object) -> Authorisation:
    fields: dict[str, object] = {
        "id": "0" * 31 + "1",
        "machine": "shuinan-1",
        "slot": 1,
        "request": "YZ-2026-000001",
        "doc": hashlib.sha256(b"the approved document").digest(),
        "uses": 3,
        "nbf": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
        "fence": (183_500_000, 1_091_700_000, 200),
        "custodians": ("sn.custodian1", "sn.custodian2"),
        "epoch": 0,
        "iat": int(NOW.timestamp()),
    }
    fields.update(changes)
    return Authorisation(**fields)  # type: ignore[arg-type]


def test_a_structure_round_trips_and_its_encoding_is_deterministic() -> None:
    made = _authorisation()
    assert Authorisation.decode(made.encode()) == made
    swapped = dict(reversed(list(made.to_map().items())))
    assert cbor2.dumps(swapped) != made.encode()  # not sorted: refused below
    with pytest.raises(StructureError, match="deterministic"):
        Authorisation.decode(cbor2.dumps(swapped))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uses": 0}, "uses"),
        ({"uses": 1001}, "uses"),
        ({"id": "not-hex"}, "id"),
        ({"doc": b"short"}, "doc"),
        ({"fence": (950_000_000, 0, 10)}, "fence"),
        ({"custodians": ()}, "custodians"),
        ({"machine": "../etc"}, "machine"),
        ({"machine": "shuinan-1\n"}, "machine"),
        ({"exp": int(NOW.timestamp())}, "ends after it begins"),
        ({"slot": -1}, "slot"),
        ({"slot": True}, "slot"),
        ({"epoch": 2**31}, "epoch"),
        ({"exp": 253_402_300_800}, "exp"),
        ({"request": "YZ\x00"}, "request"),
    ],
)
def test_wrong_fields_are_refused(change: dict[str, object], message: str) -> None:
    fields = _authorisation().to_map()
    fields.update({k: list(v) if isinstance(v, tuple) else v for k, v in change.items()})
    with pytest.raises(StructureError, match=message):
        Authorisation.decode(cbor2.dumps(fields, canonical=True))


def test_missing_or_unknown_keys_and_the_wrong_type_are_refused() -> None:
    fields = _authorisation().to_map()
    for broken in ({k: v for k, v in fields.items() if k != "epoch"}, {**fields, "extra": 1}):
        with pytest.raises(StructureError, match="lacks"):
            Authorisation.decode(cbor2.dumps(broken, canonical=True))
    with pytest.raises(StructureError, match="unknown keys"):
        EpochNotice.decode(_authorisation().encode())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    purpose: bool = False,
) -> x509.Certificate:
    issuer_name, issuer_key = issuer if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if purpose:
        builder = builder.add_extension(x509.ExtendedKeyUsage([AUTHORISATION_SIGNING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def test_a_machine_accepts_only_what_an_authorisation_signer_of_its_root_signed() -> None:
    root_key, issuing_key, signer_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = _certificate("root", root_key, None, ca=True)
    issuing = _certificate("issuing", issuing_key, ("root", root_key), ca=True)
    signer = _certificate("authorisations", signer_key, ("issuing", issuing_key), purpose=True)
    device = _certificate("a machine", other_key, ("issuing", issuing_key))
    made = _authorisation()

    good = structures.sign(made, signer_key, [signer, issuing])
    assert structures.open_signed_by_service(Authorisation, good, root, NOW) == made

    by_device = structures.sign(made, other_key, [device, issuing])  # a certificate of the CA, but not for this
    with pytest.raises(StructureError, match="purpose") as refused:
        structures.open_signed_by_service(Authorisation, by_device, root, NOW)
    assert refused.value.code == "bad-signature"

    other_root_key = ec.generate_private_key(ec.SECP256R1())
    other_root = _certificate("root", other_root_key, None, ca=True)
    with pytest.raises(StructureError, match="does not chain"):
        structures.open_signed_by_service(Authorisation, good, other_root, NOW)

    with pytest.raises(StructureError, match="not valid now"):
        structures.open_signed_by_service(Authorisation, good, root, NOW + dt.timedelta(days=60))

    lying = structures.sign(made, other_key, [signer, issuing])  # the right chain, another key
    with pytest.raises(StructureError, match="does not verify"):
        structures.open_signed_by_service(Authorisation, lying, root, NOW)

    notice = EpochNotice(machine="shuinan-1", epoch=2, iat=int(NOW.timestamp()))
    assert (
        structures.open_signed_by_service(
            EpochNotice, structures.sign(notice, signer_key, [signer, issuing]), root, NOW
        )
        == notice
    )


def test_an_event_verifies_with_the_machine_key_only() -> None:
    machine_key = ec.generate_private_key(ec.SECP256R1())
    event = Event(
        machine="shuinan-1",
        counter=1,
        time=int(NOW.timestamp()),
        pos=(183_500_000, 1_091_700_000),
        kind="stamp",
        auth="0" * 31 + "1",
        use=1,
        custodian="sn.custodian1",
        doc=bytes(32),
        photo=bytes(32),
        alarm=None,
        detail="",
    )
    signed = structures.sign(event, machine_key)
    assert structures.open_event(signed, machine_key.public_key()) == event
    with pytest.raises(StructureError) as refused:
        structures.open_event(signed, ec.generate_private_key(ec.SECP256R1()).public_key())
    assert refused.value.code == "bad-signature"
    with pytest.raises(StructureError, match="a stamp event names"):
        Event.decode(cbor2.dumps({**event.to_map(), "photo": None}, canonical=True))
