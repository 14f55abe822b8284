"""A signature whose dictionary sits in one revision while its bytes cover the next one too, as in a linearised
original (the first-page cross-reference section at the start of the file is the newest of the two; RUB-NDS
PDF-Tester's NDA original is one). pyHanko places such a signature in the older revision and judges its coverage
nonstandard once anything follows; the verifier judges it by the newest revision its bytes end with."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pikepdf

from core.keystore import Keystore
from signer.incremental import Update, changed, open_original
from signer.validation import PASSED, validate
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_certified_then_signed import software_signer
from tests.signer.test_pades import NOW, pki, seal  # noqa: F401  (the module's PKI fixture)

PLACEHOLDER = 8192  # bytes of CMS the /Contents can hold


def signed_over_two_revisions(tmp_path: Path) -> Path:
    """Revision 0 holds the signature dictionary (still empty), revision 1 updates the catalog; the signature is
    then made over both, to where the file ends."""
    source = blank_pdf(tmp_path / "blank.pdf")
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        value = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Sig,
                Filter=pikepdf.Name("/Adobe.PPKLite"),
                SubFilter=pikepdf.Name("/ETSI.CAdES.detached"),
                ByteRange=pikepdf.Array([0, 10**9, 10**9, 10**9]),
                Contents=pikepdf.String(bytes(PLACEHOLDER)),
            )
        )
        widget = pdf.make_indirect(
            pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Widget,
                FT=pikepdf.Name.Sig,
                T=pikepdf.String("Author"),
                Rect=[0, 0, 0, 0],
                F=132,
                V=value,
                P=pdf.pages[0].obj,
            )
        )
        pdf.pages[0].obj.Annots = pikepdf.Array([widget])
        pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([widget]), SigFlags=3)
        pdf.save(source, object_stream_mode=pikepdf.ObjectStreamMode.disable, compress_streams=False)
    with open_original(source) as original:
        update = Update(original)
        root = original.pdf.Root
        assert isinstance(root, pikepdf.Dictionary)
        update.replace(root, changed(root, {"/Lang": b"(zh-CN)"}))
        body, _ = update.write()
    data = bytearray(source.read_bytes() + bytes(body))
    contents = re.search(rb"/Contents\s*<(0+)>", data)
    assert contents is not None
    start, end = contents.start(1) - 1, contents.end(1) + 1
    ranges = (0, start, end, len(data) - end)
    found = re.search(rb"/ByteRange\s*\[[^\]]*\]", data)
    assert found is not None
    written = b"/ByteRange [" + b" ".join(str(v).encode() for v in ranges) + b"]"
    assert len(written) <= found.end() - found.start()
    data[found.start() : found.end()] = written.ljust(found.end() - found.start())
    digest = hashlib.sha256(bytes(data[:start]) + bytes(data[end:])).digest()
    signer = software_signer(tmp_path, "author")
    cms = asyncio.run(signer.async_sign(digest, "sha256", use_pades=True)).dump()
    assert len(cms) <= PLACEHOLDER
    data[start + 1 : end - 1] = cms.hex().encode().ljust(end - start - 2, b"0")
    target = tmp_path / "signed.pdf"
    target.write_bytes(bytes(data))
    return target


def test_a_signature_over_the_revision_after_its_own_is_whole(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    first = signed_over_two_revisions(tmp_path)
    seal(pki, keystore, first, tmp_path / "countersealed.pdf")  # a revision after both: a second signature
    report = validate((tmp_path / "countersealed.pdf").read_bytes(), trust_embedded=True)
    author, _ = report.signatures
    assert author.coverage == "entire_revision", author
    assert author.modifications == []
    assert report.indication == PASSED, report.to_json()
