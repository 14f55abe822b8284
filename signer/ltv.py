"""Timestamps and long-term validation: signature timestamps from the service's own TSA (B-T), revocation data in
the document security store (B-LT) and a document timestamp over it all (B-LTA).

The TSA answers in process, so sealing does not go through HTTP to itself. The B-LT and B-LTA revisions are
incremental updates written with ``signer.incremental`` as the seal's own is: pyHanko's writer re-reads and
re-serialises the file for each and took most of a seal's time. The document timestamp is hashed from the state
of the sealed file's hash, so the file is not read again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pikepdf import Array, Dictionary, Name, Stream

from ca import tsa as tsa_
from ca.ocsp import Responder, Status
from ca.tsa import TimeStampAuthority
from signer import fields
from signer.incremental import (
    UnsealablePdf,
    Update,
    array_with,
    changed,
    dictionary,
    open_original,
    ref,
    stream,
)

_MARGIN = 32  # serial number and fractional seconds of genTime can grow past the sample's


@dataclass(frozen=True)
class TsaTokens:
    """Signature timestamps (RFC 3161 tokens with the TSA's certificates) for the fast sealing path."""

    tsa: TimeStampAuthority

    def token(self, digest: bytes, hash_name: str) -> bytes:
        request = tsa_.Request(imprint=tsa_.imprint(hash_name, digest), nonce=None, cert_req=True)
        return tsa_.sign(self.tsa, tsa_.tst_info(self.tsa, request), True)

    @cached_property
    def max_token_size(self) -> int:
        """One token's size, plus the signature value at its longest and room for the fields that vary."""
        sample = self.token(bytes(64), "sha512")
        key_bytes = (self.tsa.key.key_size + 7) // 8
        return len(sample) + 2 * (key_bytes + 3) + _MARGIN


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


def add_revocation_data(path: Path, signature: bytes, data: RevocationData, whole: Hash) -> None:
    """Append a DSS update (B-LT) holding the certificates, OCSP responses and CRLs a verifier needs offline,
    filed under the signature in /VRI as well (Adobe reads them there); ``whole`` (the file's SHA-256 so far)
    takes the appended bytes."""
    with open_original(path) as original:
        update = Update(original)
        root = original.root
        assert isinstance(root, Dictionary), "qpdf opens only files whose catalog is a dictionary"
        dss = root.get(Name.DSS)
        if dss is not None and not isinstance(dss, Dictionary):
            raise UnsealablePdf("the document's /DSS is not a dictionary: it cannot take revocation data")
        entries: dict[str, bytes] = {}
        vri: dict[str, bytes] = {}
        for key, vri_name, ders in (
            ("/Certs", "/Cert", [c.public_bytes(Encoding.DER) for c in data.certificates]),
            ("/OCSPs", "/OCSP", list(data.ocsp_responses)),
            ("/CRLs", "/CRL", list(data.crls)),
        ):
            found = dss.get(key) if dss is not None else None
            held = found if isinstance(found, Array) else None
            known = {bytes(s.read_bytes()): s.unparse() for s in held or () if isinstance(s, Stream)}
            added = [_new_stream(update, der) for der in dict.fromkeys(ders) if der not in known]
            entries[key] = array_with(held, *added)
            vri[vri_name] = array_with(None, *(known[der] for der in dict.fromkeys(ders) if der in known), *added)
        key = "/" + hashlib.sha1(signature).hexdigest().upper()  # noqa: S324  (the /VRI key ETSI EN 319 142-1 names)
        held_vri = dss.get(Name.VRI) if dss is not None else None
        entries["/VRI"] = (
            changed(held_vri, {key: dictionary(vri)})
            if isinstance(held_vri, Dictionary)
            else dictionary({key: dictionary(vri)})
        )
        number = update.new()
        update.put(number, changed(dss, dict(entries)) if dss is not None else dictionary(entries))
        update.replace(root, changed(root, {"/DSS": ref(number)}))
        body, _ = update.write()
    _append(path, body, whole)


def add_document_timestamp(path: Path, tokens: TsaTokens, whole: Hash) -> None:
    """Append a document timestamp (B-LTA) over the whole file, revocation data included: an invisible field on
    the first page whose /Contents is an RFC 3161 token over the update's byte ranges."""
    with open_original(path) as original:
        update = Update(original)
        pages = original.pdf.pages
        if not pages:
            raise UnsealablePdf("the PDF has no pages")
        page = pages[0].obj
        signature, widget = update.new(), update.new()
        entries = {
            "/Type": b"/DocTimeStamp",
            "/Filter": b"/Adobe.PPKLite",
            "/SubFilter": b"/ETSI.RFC3161",
            **fields.hole(tokens.max_token_size),
        }
        update.put(signature, dictionary(entries))
        name = fields.field_name(fields.form_fields(update), "DocTimeStamp")
        update.put(widget, fields.widget(signature, page, name, b"[0 0 0 0]"))
        annots = fields.annots_with(update, page, widget)
        if annots is not None:
            update.replace(page, changed(page, {"/Annots": annots}))
        fields.register(update, widget)
        body, _ = update.write()
        start, end, _ = fields.fill_byte_range(body, original.size)
    digest = whole.copy()
    digest.update(body[:start])
    digest.update(body[end:])
    fields.fill_contents(body, start, end, tokens.token(digest.digest(), "sha256"))
    _append(path, body, whole)


def _new_stream(update: Update, data: bytes) -> bytes:
    number = update.new()
    update.put(number, stream({}, data))
    return ref(number)


def _append(path: Path, body: bytes | bytearray, whole: Hash) -> None:
    with path.open("ab") as f:
        f.write(body)
    whole.update(body)
