"""Timestamps and long-term validation: signature timestamps from the service's own TSA (B-T), revocation data in
the document security store (B-LT) and a document timestamp over it all (B-LTA).

The TSA answers in process, so sealing does not go through HTTP to itself. B-LT and B-LTA updates are written
by pyHanko (``DocumentSecurityStore.add_dss``, ``PdfTimeStamper``): they are made once per document, after the
signature, and their speed matters less than their agreement with what validators expect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers import PdfTimeStamper
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from ca import tsa as tsa_
from ca.ocsp import Responder, Status
from ca.tsa import TimeStampAuthority

_MARGIN = 32  # serial number and fractional seconds of genTime can grow past the sample's


@dataclass(frozen=True)
class TsaTokens:
    """Signature timestamps (RFC 3161 tokens with the TSA's certificates) for the fast sealing path."""

    tsa: TimeStampAuthority

    def token(self, digest: bytes, hash_name: str) -> bytes:
        imprint = tsp.MessageImprint({"hash_algorithm": {"algorithm": hash_name}, "hashed_message": digest})
        request = tsa_.Request(imprint=imprint, nonce=None, cert_req=True)
        return tsa_.sign(self.tsa, tsa_.tst_info(self.tsa, request), True)

    @cached_property
    def max_token_size(self) -> int:
        """One token's size, plus the signature value at its longest and room for the fields that vary."""
        sample = self.token(bytes(64), "sha512")
        key_bytes = (self.tsa.key.key_size + 7) // 8
        return len(sample) + 2 * (key_bytes + 3) + _MARGIN


class LocalTimestamper(TimeStamper):
    """pyHanko's timestamper interface, answered by the service's TSA in process."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
        self.tsa = tsa

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(tsa_.respond(self.tsa, req.dump()))


@dataclass(frozen=True)
class RevocationData:
    certificates: Sequence[x509.Certificate]
    ocsp_responses: Sequence[bytes]
    crls: Sequence[bytes]


def ocsp_response(
    responder: Responder, certificate: x509.Certificate, issuer: x509.Certificate, status: Status, now: dt.datetime
) -> bytes:
    """The responder's answer for ``certificate``, with the status the caller read in its own transaction."""
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256()).build()
    response = responder.respond(request.public_bytes(Encoding.DER), now, status)
    if ocsp.load_der_ocsp_response(response).response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError(f"the OCSP responder did not answer for certificate {certificate.serial_number:x}")
    return response


def add_revocation_data(path: Path, signature: bytes, data: RevocationData) -> None:
    """Append a DSS update (B-LT) holding the certificates, OCSP responses and CRLs a verifier needs offline."""
    with path.open("r+b") as f:
        DocumentSecurityStore.add_dss(
            f,
            signature,
            certs=[asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in data.certificates],
            ocsps=[asn1_ocsp.OCSPResponse.load(r) for r in data.ocsp_responses],
            crls=[asn1_crl.CertificateList.load(c) for c in data.crls],
            force_write=True,
        )


def add_document_timestamp(path: Path, tsa: TimeStampAuthority) -> None:
    """Append a document timestamp (B-LTA) over the whole file, revocation data included."""
    with path.open("r+b") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        PdfTimeStamper(LocalTimestamper(tsa)).timestamp_pdf(writer, "sha256", in_place=True)
