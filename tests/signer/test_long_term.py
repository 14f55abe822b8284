"""The long-term validation a B-LTA seal carries: the DSS and document timestamp revisions the seal office writes,
and the revocation data it reuses between documents without ever hiding a revocation."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import pikepdf
import pytest
from cryptography import x509
from sqlalchemy import select

from ca import seals
from ca.models import Certificate
from core.runtime import Runtime
from signer.incremental import UnsealablePdf
from signer.models import Sealing
from signer.pades import SealingRefused
from signer.validation import PASSED, validate
from tests.signer.pki import validate_offline
from tests.signer.test_sealing import Bench, make_bench, seal_once

URL = "https://sealgate.example/r/YZ-1"


def dss_of(runtime: Runtime, sealing: Sealing) -> dict[str, list[bytes]]:
    """The DER of every certificate, OCSP response and CRL in the sealed file's DSS."""
    with pikepdf.open(io.BytesIO(runtime.blobs.get(sealing.sealed_sha256))) as pdf:
        dss = pdf.Root.DSS
        return {key: [bytes(s.read_bytes()) for s in dss[key]] for key in ("/Certs", "/OCSPs", "/CRLs")}


def crl_numbers(ders: list[bytes]) -> set[int]:
    return {
        x509.load_der_x509_crl(der).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number for der in ders
    }


def test_a_document_sealed_twice_keeps_one_dss_without_duplicates_and_every_signature_validates(
    runtime: Runtime, tmp_path: Path
) -> None:
    bench = make_bench(runtime, tmp_path, "B-LTA")
    first = seal_once(bench, qr_url=URL)
    second = seal_once(dataclasses.replace(bench, document=first.sealed_sha256), qr_url=URL)
    sealed = runtime.blobs.get(second.sealed_sha256)
    assert sealed.startswith(runtime.blobs.get(first.sealed_sha256))
    assert hashlib.sha256(sealed).hexdigest() == second.sealed_sha256
    dss = dss_of(runtime, second)
    for key, ders in dss.items():
        assert len(ders) == len(set(ders)), f"{key} holds a duplicate"
    assert set(dss_of(runtime, first)["/Certs"]) <= set(dss["/Certs"])
    (tmp_path / "twice.pdf").write_bytes(sealed)
    with pikepdf.open(tmp_path / "twice.pdf") as pdf:
        vri = pdf.Root.DSS.VRI
        assert len(vri.keys()) == 2  # one entry per seal, keyed by its signature's SHA-1
        names = [str(f.T) for f in pdf.Root.AcroForm.Fields]
    assert names == ["Seal1", "DocTimeStamp1", "Seal2", "DocTimeStamp2"]
    results = validate_offline(tmp_path / "twice.pdf", bench.office.authority.root, runtime.clock.now())
    assert len(results) == 4
    for status in results:
        assert status.intact
        assert status.valid
        assert status.trusted


def test_revocation_data_is_reused_between_documents(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-LT")
    first, second = seal_once(bench), seal_once(bench)
    assert first.sealed_sha256 != second.sealed_sha256
    assert dss_of(runtime, first)["/OCSPs"] == dss_of(runtime, second)["/OCSPs"]
    assert dss_of(runtime, first)["/CRLs"] == dss_of(runtime, second)["/CRLs"]


def test_a_revocation_after_a_seal_puts_the_new_crl_in_the_next_one(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-LT")
    before = crl_numbers(dss_of(runtime, seal_once(bench))["/CRLs"])
    other = _another_seal(runtime, bench)
    with runtime.sessions() as session:
        certificate = seals.current_certificate(session, other)
        assert certificate is not None
        revoked_serial = int(certificate.serial, 16)
        seals.revoke(
            session, bench.office.authority, runtime.settings, certificate, "superseded", runtime.clock.now(), "test"
        )
        session.commit()
    crls = dss_of(runtime, seal_once(bench))["/CRLs"]
    assert max(crl_numbers(crls)) > max(before)
    listed = {r.serial_number for der in crls for r in x509.load_der_x509_crl(der)}
    assert revoked_serial in listed


def test_a_revoked_timestamp_authority_stamps_no_seal(runtime: Runtime, tmp_path: Path) -> None:
    bench = make_bench(runtime, tmp_path, "B-LTA")
    seal_once(bench)
    serial = f"{bench.office.tsa.certificate.serial_number:x}"
    with runtime.sessions() as session:
        row = session.scalars(select(Certificate).where(Certificate.serial == serial)).one()
        row.revoked_at, row.revocation_reason = runtime.clock.now(), "keyCompromise"
        session.commit()
    with pytest.raises(SealingRefused, match="timestamp authority's certificate was revoked"):
        seal_once(bench)


def _another_seal(runtime: Runtime, bench: Bench) -> int:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        seal = seals.add(session, "sn", "finance", seals.SealForm.ELECTRONIC, "水南村民委员会", now, "test")
        seals.issue(session, runtime.keystore, bench.office.authority, runtime.settings, seal, now, "test")
        session.commit()
        return seal.id


def test_a_certifying_seal_keeps_its_certification_through_the_dss_and_the_document_timestamp(
    runtime: Runtime, tmp_path: Path
) -> None:
    """DocMDP P=2 allows the two updates after it: the verifier finds nothing changed and passes the document."""
    bench = make_bench(runtime, tmp_path, "B-LTA")
    sealing = seal_once(bench, certify=True, qr_url=URL)
    report = validate(
        runtime.blobs.get(sealing.sealed_sha256), trust=[bench.office.authority.root], moment=runtime.clock.now()
    )
    assert report.indication == PASSED, report.to_json()
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert report.signatures[0].modifications == []


def test_a_document_whose_dss_is_not_a_dictionary_is_refused_and_nothing_is_recorded(
    runtime: Runtime, tmp_path: Path
) -> None:
    """An upload may carry a /DSS of its own; one that cannot take revocation data is refused with the reason."""
    bench = make_bench(runtime, tmp_path, "B-LT")
    with pikepdf.open(io.BytesIO(runtime.blobs.get(bench.document))) as pdf:
        pdf.Root.DSS = pikepdf.Array([1, 2, 3])
        out = io.BytesIO()
        pdf.save(out)
    odd = dataclasses.replace(bench, document=runtime.blobs.put(out.getvalue()).sha256)
    with pytest.raises(UnsealablePdf, match="/DSS is not a dictionary"):
        seal_once(odd)
    with runtime.sessions() as session:
        assert session.scalars(select(Sealing)).all() == []
