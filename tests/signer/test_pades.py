"""Sealing PDFs with a key in the token: checked by poppler's pdfsig, pyHanko's validator, asn1crypto and OpenSSL."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import weasyprint
from asn1crypto import cms, tsp
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, NO_CHANGES_DIFF_POLICY, ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from core.keystore import KeyKind, Keystore
from signer.appearance import round_seal
from signer.cms import der_length, signature_sha256
from signer.incremental import UnsealablePdf
from signer.pades import Options, Placement, Sealed, SealingRefused
from signer.placement import find_anchor, seal_box
from tests.conftest import T0
from tests.signer.pki import Pki, blank_pdf, make_pki, pdfsig, timestamp_verifies
from tests.signer.test_appearance import count, red_mask

NOW = T0 + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pki(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(keystore, tmp_path_factory.mktemp("pki"), T0)


def seal(pki: Pki, keystore: Keystore, source: Path, target: Path, options: Options | None = None, **kw: Any) -> Sealed:
    with target.open("wb") as out:
        return pki.sealer(keystore, **kw).seal(source, out, options or Options(), NOW)


def pyhanko_status(path: Path, pki: Pki, index: int = 0, *, strict: bool = False) -> Any:
    """pyHanko's verdict; ``strict`` with its no-changes diff policy, which lets nothing follow the signature."""
    root = asn1_x509.Certificate.load(asn1_pem.unarmor(pki.root_pem.read_bytes())[2])
    with path.open("rb") as f:
        signature = PdfFileReader(f).embedded_signatures[index]
        context = ValidationContext(trust_roots=[root], allow_fetching=False, moment=NOW)
        policy = NO_CHANGES_DIFF_POLICY if strict else DEFAULT_DIFF_POLICY
        return validate_pdf_signature(signature, context, diff_policy=policy)


def contents(path: Path, sealed: Sealed) -> bytes:
    data = path.read_bytes()
    raw = bytes.fromhex(data[sealed.byte_range[1] + 1 : sealed.byte_range[2] - 1].decode())
    return raw[: der_length(raw)]


@pytest.mark.parametrize("object_streams", [False, True], ids=["xref-table", "xref-stream"])
def test_poppler_and_pyhanko_find_the_seal_valid_and_whole(
    pki: Pki, keystore: Keystore, tmp_path: Path, object_streams: bool
) -> None:
    source = blank_pdf(tmp_path / "in.pdf", object_streams=object_streams)
    sealed = seal(pki, keystore, source, tmp_path / "out.pdf")

    report = pdfsig(tmp_path / "out.pdf", pki)
    assert "Signature Validation: Signature is Valid." in report
    assert "Total document signed" in report
    # pdfsig asks the OCSP responder named in the certificate, which runs only with the service: the trust
    # verdict is checked in tests/signer/test_service.py, against a running service.
    assert "Signature Type: ETSI.CAdES.detached" in report

    status = pyhanko_status(tmp_path / "out.pdf", pki, strict=True)
    assert (status.intact, status.valid, status.trusted) == (True, True, True)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.modification_level == ModificationLevel.NONE

    data = (tmp_path / "out.pdf").read_bytes()
    assert data.startswith(source.read_bytes())  # an incremental update: the original bytes are untouched
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    assert sealed.size == len(data)
    assert sealed.signature_sha256 == hashlib.sha256(contents(tmp_path / "out.pdf", sealed)).hexdigest()


def test_the_cms_is_pades_baseline(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    """ETSI EN 319 142-1 §6.3: content-type, message-digest and signing-certificate-v2 signed; no signing-time."""
    sealed = seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    info = cms.ContentInfo.load(contents(tmp_path / "out.pdf", sealed))
    signed_data = info["content"]
    assert info["content_type"].native == "signed_data"
    assert signed_data["encap_content_info"]["content"].native is None  # detached
    signer = signed_data["signer_infos"][0]
    types = [a["type"].native for a in signer["signed_attrs"]]
    assert sorted(types) == ["content_type", "message_digest", "signing_certificate_v2"]
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    ess = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_certificate_v2")
    cert_hash = ess["values"][0]["certs"][0]["cert_hash"].native
    assert cert_hash == hashlib.sha256(pki.seal.public_bytes(Encoding.DER)).digest()
    certificates = {c.chosen.sha256 for c in signed_data["certificates"]}
    assert hashlib.sha256(pki.root.public_bytes(Encoding.DER)).digest() in certificates


def test_contents_is_sized_from_the_template_not_guessed(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    sealed = seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    reserved = (sealed.byte_range[2] - sealed.byte_range[1] - 2) // 2
    used = len(contents(tmp_path / "out.pdf", sealed))
    assert used <= reserved <= used + 2  # at most the two bytes an ECDSA signature can be shorter by


def test_b_t_carries_a_timestamp_openssl_accepts(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    sealed = seal(
        pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf", Options(timestamp=True), timestamps=True
    )
    signer = cms.ContentInfo.load(contents(tmp_path / "out.pdf", sealed))["content"]["signer_infos"][0]
    (attribute,) = signer["unsigned_attrs"]
    assert attribute["type"].native == "signature_time_stamp_token"
    chain = pki.tsa.certificate.public_bytes(Encoding.PEM) + pki.issuing.public_bytes(Encoding.PEM)
    assert "Verification: OK" in timestamp_verifies(signer, tmp_path, pki.root_pem, chain)
    token = attribute["values"][0]
    digest = hashlib.sha256(signer["signature"].native).hexdigest()
    tst = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].parsed.dump())
    assert tst["message_imprint"]["hashed_message"].native == bytes.fromhex(digest)

    status = pyhanko_status(tmp_path / "out.pdf", pki)
    assert status.intact
    assert status.trusted
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact


def test_a_second_seal_keeps_the_first_valid(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    first = seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "one.pdf")
    second = seal(pki, keystore, tmp_path / "one.pdf", tmp_path / "two.pdf")
    assert (first.field, second.field) == ("Seal1", "Seal2")
    report = pdfsig(tmp_path / "two.pdf", pki)
    assert report.count("Signature is Valid.") == 2
    earlier, later = pyhanko_status(tmp_path / "two.pdf", pki, 0), pyhanko_status(tmp_path / "two.pdf", pki, 1)
    assert earlier.intact
    assert later.intact
    assert earlier.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    # pyHanko counts a new signature as form filling; what changed is the new seal's field, and nothing else
    assert earlier.modification_level == ModificationLevel.FORM_FILLING
    assert earlier.diff_result.changed_form_fields == {"Seal2"}
    assert later.coverage == SignatureCoverageLevel.ENTIRE_FILE


def test_certification_is_for_the_first_seal_only(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "one.pdf", Options(certify=True))
    assert pyhanko_status(tmp_path / "one.pdf", pki).intact
    with (tmp_path / "one.pdf").open("rb") as f:
        assert PdfFileReader(f).embedded_signatures[0].docmdp_level == MDPPerm.FILL_FORMS
    with pytest.raises(SealingRefused, match="first seal"):
        seal(pki, keystore, tmp_path / "one.pdf", tmp_path / "two.pdf", Options(certify=True))
    seal(pki, keystore, tmp_path / "one.pdf", tmp_path / "two.pdf")  # P=2 lets further seals in
    assert pyhanko_status(tmp_path / "two.pdf", pki, 0).docmdp_ok


def test_rsa_3072_seals_validate(keystore: Keystore, tmp_path: Path) -> None:
    rsa_pki = make_pki(keystore, tmp_path, T0, KeyKind.RSA_3072)
    sealed = seal(rsa_pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    status = pyhanko_status(tmp_path / "out.pdf", rsa_pki)
    assert status.intact
    assert status.valid
    assert status.trusted
    signer = cms.ContentInfo.load(contents(tmp_path / "out.pdf", sealed))["content"]["signer_infos"][0]
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_rsa"
    assert "Signature is Valid." in pdfsig(tmp_path / "out.pdf", rsa_pki)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a pdf at all", "not a PDF"),
        (b"%PDF-1.7\n1 0 obj <<>> endobj\nstartxref\n999999\n%%EOF\n", "outside the file"),
    ],
)
def test_what_is_not_a_pdf_is_refused(pki: Pki, keystore: Keystore, tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "bad.pdf").write_bytes(data)
    with pytest.raises(UnsealablePdf, match=message):
        seal(pki, keystore, tmp_path / "bad.pdf", tmp_path / "out.pdf")


def test_an_encrypted_pdf_is_refused(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    with pikepdf.open(blank_pdf(tmp_path / "in.pdf")) as pdf:
        pdf.save(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user=""))
    with pytest.raises(UnsealablePdf, match="encrypted"):
        seal(pki, keystore, tmp_path / "locked.pdf", tmp_path / "out.pdf")


def test_signature_sha256_ignores_padding() -> None:
    der = bytes.fromhex("3003020101")
    assert signature_sha256(der + bytes(20)) == hashlib.sha256(der).hexdigest()


FIVE_PAGES = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 20mm; } body { font-family: "Noto Sans CJK SC", sans-serif; font-size: 14pt; }
section { break-after: page; } section:last-child { break-after: auto; }
</style></head><body>
<section><p>土地承包合同 第一页</p></section><section><p>第二页</p></section><section><p>第三页</p></section>
<section><p>第四页</p></section>
<section><p>第五页</p><p style="margin-top: 80mm; text-align: right">发包方（盖章）</p></section>
</body></html>"""


def test_the_visible_seal_and_the_paging_seal_render(pki: Pki, keystore: Keystore, tmp_path: Path) -> None:
    source = tmp_path / "contract.pdf"
    source.write_bytes(weasyprint.HTML(string=FIVE_PAGES).write_pdf())
    anchor = find_anchor(source, "（盖章）")
    assert anchor is not None
    assert anchor.page == 4
    art = round_seal("水南村村民委员会")
    page, x, y = seal_box(anchor, art.size)
    options = Options(placement=Placement(page, x, y), paging=True, qr_url="http://127.0.0.1:8000/verify?request=YZ-1")
    seal(pki, keystore, source, tmp_path / "out.pdf", options, art=art)

    status = pyhanko_status(tmp_path / "out.pdf", pki)
    assert status.intact
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    subprocess.run(["pdftoppm", "-r", "50", "-png", tmp_path / "out.pdf", tmp_path / "page"], check=True)
    pages = [Image.open(p).convert("RGB") for p in sorted(tmp_path.glob("page-*.png"))]
    assert len(pages) == 5
    strip = art.size / 5 * 50 / 72  # each page carries a fifth of the seal at its right edge
    for image in pages:
        width, height = image.size
        edge = red_mask(image.crop((int(width - strip - 1), 0, width, height)))
        rest = red_mask(image.crop((0, 0, int(width - strip - 2), height)))
        assert count(edge) > 20
        if image is not pages[-1]:
            assert count(rest) == 0
    last = pages[-1]
    left, top, side = x * 50 / 72, last.size[1] - (y + art.size) * 50 / 72, art.size * 50 / 72
    around = red_mask(last.crop((int(left), int(top), int(left + side), int(top + side))))
    assert count(around) > 0.1 * side * side  # the round seal over "（盖章）"
