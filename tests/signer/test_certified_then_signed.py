"""A document certified with DocMDP P=2 and then signed into an existing field, as Acrobat and PDFBox do it
(RUB-NDS PDF-Tester's ``*_cert_p2_sign_original.pdf``, whose licence does not let them be copied here): the
second signer also rewrites a font of the form's default resources. Filling a signature field is what P=2
allows, so neither signature fails; the same update that also changes a page fails the certification."""

from __future__ import annotations

# mypy: disable-error-code="no-untyped-call"
import datetime as dt
from pathlib import Path

import pikepdf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm, SigFieldSpec

from signer.validation import FAILED, PASSED, validate
from tests.signer.pki import blank_pdf


def software_signer(directory: Path, name: str) -> signers.SimpleSigner:
    """A signer whose self-signed certificate the verifier takes as an anchor, as the corpus tests do."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    loaded = signers.SimpleSigner.load(str(directory / f"{name}.key"), str(directory / f"{name}.pem"))
    assert isinstance(loaded, signers.SimpleSigner)
    return loaded


def certified(tmp_path: Path) -> Path:
    """A one-page form whose default resources name Helvetica (with the obsolete /Name), certified with P=2 and
    carrying an empty field for the approver."""
    with pikepdf.open(blank_pdf(tmp_path / "blank.pdf", pages=2)) as pdf:
        font = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Font,
                Subtype=pikepdf.Name.Type1,
                BaseFont=pikepdf.Name.Helvetica,
                Name=pikepdf.Name.Helv,
            )
        )
        pdf.Root.AcroForm = pikepdf.Dictionary(
            Fields=pikepdf.Array(), DR=pikepdf.Dictionary(Font=pikepdf.Dictionary(Helv=font))
        )
        pdf.save(tmp_path / "form.pdf")
    target = tmp_path / "certified.pdf"
    with (tmp_path / "form.pdf").open("rb") as f, target.open("wb") as out:
        writer = IncrementalPdfFileWriter(f)
        fields.append_signature_field(writer, SigFieldSpec("Approver", box=(300, 100, 500, 160), on_page=1))
        fields.append_signature_field(writer, SigFieldSpec("Witness", box=(300, 200, 500, 260), on_page=1))
        meta = signers.PdfSignatureMetadata(field_name="Author", certify=True, docmdp_permissions=MDPPerm.FILL_FORMS)
        signers.sign_pdf(writer, meta, signer=software_signer(tmp_path, "author"), output=out)
    return target


def spread(writer: IncrementalPdfFileWriter, field: str) -> None:
    """Show a field's widget on the first page too, as PDFBox does when it signs a field of another page."""
    widget = next(ref for ref in writer.root["/AcroForm"].raw_get("/Fields") if ref.get_object().get("/T") == field)
    first = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = first.get_object()
    page[generic.pdf_name("/Annots")] = generic.ArrayObject([*page.get("/Annots", []), widget])
    writer.mark_update(first.reference)


def signed_into_the_field(
    tmp_path: Path,
    source: Path,
    *,
    change_page: bool = False,
    spread_approver: bool = False,
    draw_witness: bool = False,
) -> bytes:
    target = tmp_path / "signed.pdf"
    with source.open("rb") as f, target.open("wb") as out:
        writer = IncrementalPdfFileWriter(f)
        helv = writer.root["/AcroForm"]["/DR"]["/Font"].raw_get("/Helv")
        assert isinstance(helv, IndirectObject)
        font = helv.get_object()
        del font["/Name"]
        writer.mark_update(helv.reference)
        if change_page:
            page = writer.root["/Pages"]["/Kids"][0].get_object()
            content = page.raw_get("/Contents")
            assert isinstance(content, IndirectObject)
            stream = content.get_object()
            stream._data = b"BT /F1 24 Tf 72 720 Td (page 1, amount 9999) Tj ET"
            stream._encoded_data = None
            stream.pop("/Filter", None)
            writer.mark_update(content.reference)
        if spread_approver:  # the approver's widget on page 1 as well, and a spare empty field over the whole page
            spread(writer, "Approver")
            fields.append_signature_field(writer, SigFieldSpec("Spare", box=(0, 0, 595, 842)))
            spare = next(
                ref.get_object()
                for ref in writer.root["/AcroForm"].raw_get("/Fields")
                if ref.get_object().get("/T") == "Spare"
            )
            del spare["/AP"]  # as PDFBox leaves it: a widget that draws nothing
        if draw_witness:  # the unsigned witness field on page 1, now drawing a box where nothing was
            witness = next(
                ref.get_object()
                for ref in writer.root["/AcroForm"].raw_get("/Fields")
                if ref.get_object().get("/T") == "Witness"
            )
            box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 200, 60))
            drawn = generic.StreamObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
                    generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
                    generic.pdf_name("/BBox"): box,
                },
                stream_data=b"0 g 0 0 200 60 re f",
            )
            witness[generic.pdf_name("/AP")] = generic.DictionaryObject(
                {generic.pdf_name("/N"): writer.add_object(drawn)}
            )
            writer.update_container(witness)
            spread(writer, "Witness")
        meta = signers.PdfSignatureMetadata(field_name="Approver")
        signers.sign_pdf(writer, meta, signer=software_signer(tmp_path, "approver"), output=out)
    return target.read_bytes()


def test_signing_the_approver_field_after_a_p2_certification_passes(tmp_path: Path) -> None:
    data = signed_into_the_field(tmp_path, certified(tmp_path), change_page=False)
    report = validate(data, trust_embedded=True)
    assert [s.field for s in report.signatures] == ["Author", "Approver"]
    assert [s.modifications for s in report.signatures] == [[], []]
    assert report.indication == PASSED, report.to_json()


def test_an_approver_widget_shown_on_another_page_and_a_spare_field_pass(tmp_path: Path) -> None:
    """RUB-NDS's NDA original: the signer shows the signed field on page 1 too and adds an empty field."""
    data = signed_into_the_field(tmp_path, certified(tmp_path), spread_approver=True)
    report = validate(data, trust_embedded=True)
    assert [s.modifications for s in report.signatures] == [[], []]
    assert report.indication == PASSED, report.to_json()


def test_an_unsigned_field_drawn_onto_another_page_fails_the_certification(tmp_path: Path) -> None:
    data = signed_into_the_field(tmp_path, certified(tmp_path), draw_witness=True)
    report = validate(data, trust_embedded=True)
    author = report.signatures[0]
    assert author.indication == FAILED
    assert author.modifications


def test_the_same_update_changing_the_page_fails_the_certification(tmp_path: Path) -> None:
    data = signed_into_the_field(tmp_path, certified(tmp_path), change_page=True)
    report = validate(data, trust_embedded=True)
    author = report.signatures[0]
    assert author.indication == FAILED
    assert author.modifications
