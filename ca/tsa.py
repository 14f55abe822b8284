"""RFC 3161 time stamps, signed in the token, with the signing certificate named as RFC 5816 asks (ESSCertIDv2).

Requests are parsed and TSTInfo built with asn1crypto, because `cryptography` has no RFC 3161 builder; the token's
SignedData comes from the CMS builder the seals use (``ca.cms``), and the signature itself from `cryptography`'s
key interface, that is, in the token.
A bad request is answered, never raised: status rejection with the PKIFailureInfo bit that says what was wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from ca import der
from ca.cms import SignerTemplate
from ca.der import sequence
from ca.signing import TokenKey
from core.clock import Clock

#: Message imprint hashes a request may use, with their digest lengths.
IMPRINT_HASHES: dict[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}
_GRANTED = bytes(tsp.PKIStatusInfo({"status": "granted"}).dump())


class Rejected(Exception):
    """A request answered with status rejection; ``failure`` is the asn1crypto name of the PKIFailureInfo bit."""

    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure, self.reason = failure, reason


class TimeStampResp(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """RFC 3161 §2.4.2, with timeStampToken OPTIONAL as the RFC has it: asn1crypto 1.5.1's tsp.TimeStampResp
    makes it required, which leaves a rejection (no token) unencodable."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class Request:
    """What a TimeStampReq asks for, once checked."""

    imprint: bytes  # the MessageImprint's DER, echoed as it came
    nonce: int | None
    cert_req: bool


@dataclass(frozen=True)
class TimeStampAuthority:
    key: TokenKey  # the TSA's signing key in the token
    certificate: x509.Certificate  # TSA certificate (critical EKU id-kp-timeStamping)
    chain: tuple[x509.Certificate, ...]  # issuing CA certificates above it (may be empty)
    policy: str  # default TSA policy OID, dotted, from settings
    clock: Clock
    accuracy_ms: int = 1000  # put in TSTInfo.accuracy

    def __post_init__(self) -> None:
        if self.accuracy_ms < 0:
            raise ValueError("accuracy_ms must not be negative")
        if self.certificate.public_key() != self.key.public_key():
            raise ValueError(f"the TSA certificate is not for key {self.key.label!r}")

    @cached_property
    def _template(self) -> SignerTemplate:
        """What every token repeats, DER-encoded once per authority; the certificate is hashed with SHA-256 in
        signing-certificate-v2 (RFC 5816's default, so left out) whatever the key's hash."""
        return SignerTemplate(self.certificate, self.chain, content_type="tst_info", ess_hash="sha256")

    @cached_property
    def _tsa_name(self) -> bytes:
        """TSTInfo.tsa: the TSA's subject as a directoryName."""
        subject = asn1_x509.Certificate.load(self.certificate.public_bytes(Encoding.DER)).subject
        return bytes(asn1_x509.GeneralName({"directory_name": subject}).dump())

    @cached_property
    def _fixed(self) -> tuple[bytes, bytes]:
        """TSTInfo's policy, and its accuracy (empty when zero), DER-encoded once."""
        seconds, millis = divmod(self.accuracy_ms, 1000)
        accuracy = (der.integer(seconds) if seconds else b"") + (der.tlv(0x80, _signed(millis)) if millis else b"")
        return bytes(core.ObjectIdentifier(self.policy).dump()), der.sequence(accuracy) if accuracy else b""


def respond(tsa: TimeStampAuthority, request: bytes) -> bytes:
    """DER TimeStampResp for a DER TimeStampReq. Never raises on a bad request: answers status rejection with
    the right PKIFailureInfo (badAlg for a hash other than SHA-256/384/512 or a wrong digest length,
    badDataFormat for undecodable DER, unacceptedPolicy for a reqPolicy other than tsa.policy, unacceptedExtension
    for any request extension) and a statusString saying why."""
    try:
        req = parse(request, tsa.policy)
    except Rejected as rejected:
        return rejection(rejected.failure, rejected.reason)
    return sequence(_GRANTED, sign(tsa, tst_info(tsa, req), req.cert_req))


def parse(request: bytes, policy: str) -> Request:
    """The request, checked; Rejected if it is not one this authority answers."""
    try:
        req = tsp.TimeStampReq.load(request, strict=True)
        req.native  # noqa: B018 - asn1crypto parses lazily; this makes every field parse here
        version = req["version"].native
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        req_policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"].native
    except Exception as exc:  # asn1crypto fails on hostile input in more ways than ValueError (AttributeError too)
        detail = next(iter(str(exc).splitlines()), type(exc).__name__)
        raise Rejected("bad_data_format", f"the request is not a DER TimeStampReq: {detail}") from None
    if version != "v1":
        raise Rejected("bad_data_format", f"TimeStampReq version {version} is not v1")
    if algorithm not in IMPRINT_HASHES:
        raise Rejected("bad_alg", f"message imprint hash {algorithm} is not one of {', '.join(IMPRINT_HASHES)}")
    if len(digest) != IMPRINT_HASHES[algorithm]:
        raise Rejected(
            "bad_alg", f"a {algorithm} message imprint has {IMPRINT_HASHES[algorithm]} bytes, not {len(digest)}"
        )
    if req_policy is not None and req_policy != policy:
        raise Rejected("unaccepted_policy", f"policy {req_policy} is not this authority's policy {policy}")
    if extensions:
        names = ", ".join(str(e["extn_id"]) for e in extensions)
        raise Rejected("unaccepted_extensions", f"request extensions are not supported: {names}")
    return Request(imprint=bytes(imprint.dump()), nonce=nonce, cert_req=cert_req)


def imprint(hash_name: str, digest: bytes) -> bytes:
    """The DER MessageImprint of ``digest``, made with ``hash_name`` (one of ``IMPRINT_HASHES``): the service's own
    requests skip asn1crypto, whose object building cost a third of a token's assembly."""
    return der.sequence(_digest_algorithm(hash_name), der.octet_string(digest))


@functools.cache
def _digest_algorithm(hash_name: str) -> bytes:
    return bytes(algos.DigestAlgorithm({"algorithm": hash_name}).dump())


def rejection(failure: str, reason: str) -> bytes:
    status = {"status": "rejection", "status_string": [reason], "fail_info": tsp.PKIFailureInfo({failure})}
    return bytes(TimeStampResp({"status": status}).dump())


def tst_info(tsa: TimeStampAuthority, req: Request) -> bytes:
    """The DER TSTInfo (RFC 3161 §2.4.2), joined from prepared parts as the OCSP responder's response is: built
    with asn1crypto it cost as much as the rest of the token. The serial number is random, so unique without
    state: 127 bits keep it positive and within RFC 3161's 160 (``or 1``: never 0)."""
    policy, accuracy = tsa._fixed
    return der.sequence(
        der.integer(1),
        policy,
        req.imprint,
        der.integer(secrets.randbits(127) or 1),
        _gen_time(tsa.clock.now()),
        accuracy,
        der.tlv(der.INTEGER, _signed(req.nonce)) if req.nonce is not None else b"",
        der.explicit(0, tsa._tsa_name),
    )


def _gen_time(moment: dt.datetime) -> bytes:
    """GeneralizedTime in UTC, with fractional seconds only when they are not zero and no trailing zeros in them,
    as RFC 3161 §2.4.2 asks."""
    utc = moment.astimezone(dt.UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return der.tlv(der.GENERALIZED_TIME, (utc.strftime("%Y%m%d%H%M%S") + fraction + "Z").encode())


def _signed(value: int) -> bytes:
    """An INTEGER's content octets, two's complement in the fewest bytes (a request's nonce may be negative)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)


def sign(tsa: TimeStampAuthority, content: bytes, cert_req: bool) -> bytes:
    """The DER TimeStampToken: CMS SignedData over the DER TSTInfo ``content``, signed in the token (RFC 3161
    §2.4.2, RFC 5652 §5)."""
    template = tsa._template
    attributes = template.signed_attributes(hashlib.new(template.hash_name, content).digest())
    signature = tsa.key.sign(attributes, ec.ECDSA(tsa.key.hash))
    return template.content_info(attributes, signature, content=content, certificates=cert_req)
