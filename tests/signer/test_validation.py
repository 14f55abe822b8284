"""The verifier on seals made here: what passes, and the changes after a seal that make it fail."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest

from core.keystore import Keystore
from signer.incremental import Update, array_with, changed, open_original, ref
from signer.isolation import verify
from signer.pades import Options
from signer.validation import FAILED, INDETERMINATE, PASSED, NotSigned, UnreadablePdf, validate
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import NOW, pki, seal  # noqa: F401  (the module's PKI fixture)


def test_a_fresh_seal_passes(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    sealed = seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    report = validate((tmp_path / "out.pdf").read_bytes(), trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert report.indication == PASSED
    (signature,) = report.signatures
    assert signature.intact
    assert signature.coverage == "entire_file"
    assert signature.modifications == []
    assert signature.pades_level == "B-B"
    assert signature.signature_sha256 == sealed.signature_sha256
    assert signature.certificate_serial == f"{pki.seal.serial_number:x}"


def test_without_revocation_data_it_is_indeterminate(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    """The seal and the issuing CA could have been revoked: nothing in a B-B file says they were not."""
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    report = validate((tmp_path / "out.pdf").read_bytes(), trust=[pki.root], moment=NOW)
    assert report.indication == INDETERMINATE
    assert report.sub_indication == "TRY_LATER"
    assert "no revocation data" in report.signatures[0].problems[0]


def test_without_the_root_it_is_indeterminate(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    report = validate((tmp_path / "out.pdf").read_bytes(), moment=NOW)
    assert report.indication == INDETERMINATE
    assert report.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_one_changed_byte_fails(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    data = bytearray((tmp_path / "out.pdf").read_bytes())
    at = data.index(b"595")
    data[at + 2] = ord("6")  # the page's width, inside the signed bytes
    report = validate(bytes(data), trust=[pki.root], moment=NOW)
    assert report.indication == FAILED
    assert report.sub_indication == "HASH_FAILURE"
    assert not report.signatures[0].intact


def test_an_annotation_added_after_the_seal_fails(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    with open_original(tmp_path / "out.pdf") as original:  # an incremental update, as an editor would append
        update = Update(original)
        note = update.new()
        update.put(note, b"<</Type/Annot/Subtype/Text/Rect[100 100 120 120]/Contents(void)>>")
        page = original.pdf.pages[0].obj
        update.replace(page, changed(page, {"/Annots": array_with(page.Annots, ref(note))}))
        body, _ = update.write()
    (tmp_path / "annotated.pdf").write_bytes((tmp_path / "out.pdf").read_bytes() + bytes(body))
    report = validate((tmp_path / "annotated.pdf").read_bytes(), trust=[pki.root], moment=NOW)
    assert report.indication == FAILED
    assert report.signatures[0].modifications


def test_an_unreadable_update_after_the_seal_fails_naming_it(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    """The shadow attack's shape: an update whose new page content cannot be parsed by a careful reader."""
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    with open_original(tmp_path / "out.pdf") as original:
        update = Update(original)
        broken = update.new()
        update.put(broken, b"<</Length 4000>>\nstream\nBT (hidden) Tj ET")  # no endstream where /Length says
        page = original.pdf.pages[0].obj
        update.replace(page, changed(page, {"/Contents": ref(broken)}))
        body, _ = update.write()
    report = validate((tmp_path / "out.pdf").read_bytes() + bytes(body), trust=[pki.root], moment=NOW)
    assert report.indication == FAILED
    (signature,) = report.signatures
    assert signature.intact
    assert signature.coverage == "entire_revision"
    assert any("cannot be read" in m for m in signature.modifications)


def test_a_second_seal_and_a_timestamp_keep_both_passing(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "one.pdf")
    seal(pki, keystore, tmp_path / "one.pdf", tmp_path / "two.pdf", Options(timestamp=True), timestamps=True)
    report = validate((tmp_path / "two.pdf").read_bytes(), trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert [s.indication for s in report.signatures] == [PASSED, PASSED]
    assert [s.pades_level for s in report.signatures] == ["B-B", "B-T"]
    assert report.signatures[0].coverage == "entire_revision"


def test_an_unsigned_pdf_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotSigned, match="no signature"):
        verify(blank_pdf(tmp_path / "in.pdf").read_bytes())


def test_an_encrypted_or_broken_pdf_is_an_error(tmp_path: Path) -> None:
    with pikepdf.open(blank_pdf(tmp_path / "in.pdf")) as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(UnreadablePdf, match="encrypted"):
        verify((tmp_path / "locked.pdf").read_bytes())
    with pytest.raises(UnreadablePdf):
        verify(b"%PDF-1.7\n" + bytes(range(256)) * 50)


def test_a_page_whose_annotations_are_an_indirect_array_keeps_them(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    """The seal's widget joins the page's own /Annots array: the link before it stays, and the seal is whole."""
    source = blank_pdf(tmp_path / "in.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        link = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[10, 10, 50, 50], Border=[0, 0, 0]
            )
        )
        pdf.pages[0].obj.Annots = pdf.make_indirect(pikepdf.Array([link]))
        pdf.save(source)
    seal(pki, keystore, source, tmp_path / "out.pdf")
    with pikepdf.open(tmp_path / "out.pdf") as pdf:
        subtypes = [str(a.Subtype) for a in pdf.pages[0].obj.Annots]
    assert subtypes == ["/Link", "/Widget"]
    report = validate((tmp_path / "out.pdf").read_bytes(), trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert report.indication == PASSED, report.to_json()
