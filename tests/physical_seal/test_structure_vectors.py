"""The signed-structure vectors of docs/protocol.md §8, read from the document itself: sealgate's encoder gives the
documented payloads, protected headers and Sig_structures byte for byte, the documented bytes decode to the
documented values, and the documented COSE_Sign1 messages verify with the documented test key and are rebuilt
exactly from their parts."""

import datetime as dt
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from physical_seal import cose
from physical_seal.structures import (
    Authorisation,
    EpochNotice,
    Event,
    StructureError,
    authorisation_signer,
    open_event,
    open_signed_by_service,
)
from tests.physical_seal.vectors import hex_blocks

HEADING = "## 8. Test vectors (signed structures)"

AUTH_ID = "0123456789abcdef0123456789abcdef"
# The values §8 lists in words above each vector.
AUTHORISATION = Authorisation(
    id=AUTH_ID,
    machine="SM-0001",
    slot=1,
    request="R-2026-0001",
    doc=b"\x11" * 32,
    uses=3,
    nbf=1767225600,
    exp=1767484800,
    fence=(182528000, 1095119000, 200),
    custodians=("alice", "bob"),
    epoch=0,
    iat=1767225600,
)
EVENT = Event(
    machine="SM-0001",
    counter=1,
    time=1767229200,
    pos=(182528100, 1095119100),
    kind="stamp",
    auth=AUTH_ID,
    use=1,
    custodian="alice",
    doc=b"\x11" * 32,
    photo=b"\x22" * 32,
    alarm=None,
    detail="request R-2026-0001",
)
EPOCH = EpochNotice(machine="SM-0001", epoch=1, iat=1767312000)
STRUCTURES: dict[str, Authorisation | Event] = {"authorisation": AUTHORISATION, "event": EVENT}
ES256_PROTECTED = bytes.fromhex("a10126")  # {1: -7}


BLOCKS = hex_blocks(HEADING)


def documented_key() -> ec.EllipticCurvePublicKey:
    """The documented test key: its public point is the one its private scalar gives."""
    d = int.from_bytes(BLOCKS["testkey.d"], "big")
    x, y = (int.from_bytes(BLOCKS[f"testkey.{c}"], "big") for c in "xy")
    public = ec.derive_private_key(d, ec.SECP256R1()).public_key()
    assert (public.public_numbers().x, public.public_numbers().y) == (x, y)
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


TEST_KEY = documented_key()


def test_the_document_has_every_vector_and_nothing_else() -> None:
    expected = {"testkey.d", "testkey.x", "testkey.y", "epoch.payload"}
    expected |= {f"{n}.{p}" for n in STRUCTURES for p in ("payload", "protected", "tobesigned", "cose")}
    expected |= {"authorisation.certificate", "authorisation.ca"}
    assert set(BLOCKS) == expected
    assert all(len(BLOCKS[f"testkey.{c}"]) == 32 for c in "dxy")


@pytest.mark.parametrize("name", STRUCTURES)
def test_encoding_gives_the_documented_bytes(name: str) -> None:
    structure = STRUCTURES[name]
    assert structure.encode() == BLOCKS[f"{name}.payload"]
    message = cose.parse(BLOCKS[f"{name}.cose"])
    assert message.protected == BLOCKS[f"{name}.protected"] == ES256_PROTECTED
    assert cbor2.loads(message.protected) == {1: cose.ES256}
    tbs = cose.Sign1(ES256_PROTECTED, cose.ES256, (), structure.encode(), b"").to_be_signed()
    assert tbs == BLOCKS[f"{name}.tobesigned"]
    assert cbor2.loads(tbs) == ["Signature1", ES256_PROTECTED, b"", BLOCKS[f"{name}.payload"]]


def test_epoch_notice_encodes_and_decodes() -> None:
    assert EPOCH.encode() == BLOCKS["epoch.payload"]
    assert EpochNotice.decode(BLOCKS["epoch.payload"]) == EPOCH


@pytest.mark.parametrize("name", STRUCTURES)
def test_decoding_the_documented_bytes_gives_the_values(name: str) -> None:
    kind = type(STRUCTURES[name])
    assert kind.decode(BLOCKS[f"{name}.payload"]) == STRUCTURES[name]
    message = cose.parse(BLOCKS[f"{name}.cose"])
    assert message.payload == BLOCKS[f"{name}.payload"]
    assert message.alg == cose.ES256
    assert message.to_be_signed() == BLOCKS[f"{name}.tobesigned"]


@pytest.mark.parametrize("name", STRUCTURES)
def test_the_documented_message_verifies_and_is_rebuilt_from_its_parts(name: str) -> None:
    data = BLOCKS[f"{name}.cose"]
    message = cose.parse(data)
    cose.verify(message, TEST_KEY)
    assert len(message.signature) == 64
    assert data.endswith(b"\x58\x40" + message.signature)
    unprotected: dict[int, Any] = {cose.HEADER_X5CHAIN: list(message.x5chain)} if message.x5chain else {}
    parts = [message.protected, unprotected, message.payload, message.signature]
    assert cbor2.dumps(cbor2.CBORTag(cose.TAG_SIGN1, parts), canonical=True) == data


def test_a_changed_byte_does_not_verify() -> None:
    message = cose.parse(BLOCKS["event.cose"])
    payload = bytearray(message.payload)
    payload[-1] ^= 1
    forged = cose.Sign1(message.protected, message.alg, message.x5chain, bytes(payload), message.signature)
    with pytest.raises(cose.CoseError):
        cose.verify(forged, TEST_KEY)


def test_the_event_carries_no_chain_and_opens_with_the_machine_key() -> None:
    assert cose.parse(BLOCKS["event.cose"]).x5chain == ()
    assert open_event(BLOCKS["event.cose"], TEST_KEY) == EVENT


def test_the_authorisation_opens_as_a_machine_opens_it() -> None:
    """Its x5chain is the two documented certificates, the CA's standing in for the machine's pinned root."""
    message = cose.parse(BLOCKS["authorisation.cose"])
    assert message.x5chain == (BLOCKS["authorisation.certificate"], BLOCKS["authorisation.ca"])
    root = x509.load_der_x509_certificate(BLOCKS["authorisation.ca"])
    at = dt.datetime.fromtimestamp(AUTHORISATION.iat, dt.UTC)
    signer = authorisation_signer(message.x5chain, root, at)
    assert signer.public_numbers() == TEST_KEY.public_numbers()
    assert open_signed_by_service(Authorisation, BLOCKS["authorisation.cose"], root, at) == AUTHORISATION
    with pytest.raises(StructureError) as raised:  # the certificates end on 2036-01-01
        open_signed_by_service(
            Authorisation, BLOCKS["authorisation.cose"], root, dt.datetime(2036, 6, 1, tzinfo=dt.UTC)
        )
    assert raised.value.code == "bad-signature"
