"""The verifier reports what intake refuses: a sealed file that prints other than it shows, or acts on its own, is
not TOTAL-PASSED and its report names why; the service's own seals, visible, with a QR code or across the pages,
still pass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import weasyprint
from pikepdf import Array, Dictionary, Name, String
from PIL import Image, ImageChops

from core.keystore import Keystore
from signer.active_content import warnings
from signer.appearance import round_seal
from signer.pades import Options, Placement
from signer.validation import INDETERMINATE, PASSED, validate
from tests.signer.pki import Pki
from tests.signer.test_pades import NOW, pki, seal  # noqa: F401  (the module's PKI fixture)
from tests.workflow import deceptive, pdfs


def _linked(action: Dictionary) -> bytes:
    """A link on page 1, in a direct /Annots array: the sealer drops an indirect one from the page it seals."""
    pdf = pdfs.one_page()
    pdf.pages[0].obj.Annots = Array([pdf.make_indirect(pdfs.link(action))])
    return pdfs.save(pdf)


SEALED: dict[str, tuple[Callable[[], bytes], str]] = {
    "one amount on screen, another on paper": (
        deceptive.usage_amounts,
        "optional content prints differently than it shows "
        "(/Usage /Print /PrintState of an optional content group on page 1, at /Resources/Properties/P)",
    ),
    "an /AS auto-state for printing": (
        lambda: deceptive.auto_state_amounts(Name.Print),
        "optional content prints differently than it shows "
        "(an /AS auto-state for the /Print event in the trailer, at /Root/OCProperties/D/AS/0)",
    ),
    "a note shown and not printed": (
        lambda: deceptive.flagged(None),
        "an annotation shows on screen and does not print (a /FreeText annotation with /F 0 on page 1, at /Annots/0)",
    ),
    "a javascript: link as /OpenAction": (
        lambda: pdfs.open_action(deceptive.uri("  JavaScript:app.alert(1)")),
        "the PDF contains JavaScript (a javascript: URI (/URI) in /OpenAction)",
    ),
    "a /GoToR link": (
        lambda: _linked(Dictionary(S=Name.GoToR, F=String("other.pdf"), D=[0, Name.Fit])),
        "the PDF opens another document (/GoToR action on page 1, at /Annots/0/A)",
    ),
    "a /SubmitForm action in a page's /AA": (
        lambda: pdfs.page_additional_action(Dictionary(S=Name.SubmitForm, F=String("https://collector.example/"))),
        "the PDF submits form data to a server (/SubmitForm action on page 1, at /AA/O/Next)",
    ),
    "an attachment": (pdfs.attachment, "the PDF carries attachments (/Names/EmbeddedFiles)"),
}


@pytest.mark.parametrize(("build", "warning"), SEALED.values(), ids=SEALED.keys())
def test_a_sealed_file_that_deceives_is_not_passed_and_the_report_says_why(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    build: Callable[[], bytes],
    warning: str,
) -> None:
    (tmp_path / "in.pdf").write_bytes(build())
    seal(pki, keystore, tmp_path / "in.pdf", tmp_path / "out.pdf")
    report = validate((tmp_path / "out.pdf").read_bytes(), trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert [s.indication for s in report.signatures] == [PASSED]  # the seal itself is sound: the document is not
    assert (report.indication, report.sub_indication) == (INDETERMINATE, "FORMAT_FAILURE")
    assert warning in report.problems


FIVE_PAGES = """<!doctype html><html><head><meta charset="utf-8"><style>
@page { size: A4; margin: 20mm } body { font-family: "Noto Serif CJK SC", serif } section { break-after: page }
</style></head><body>
<section><p>土地承包合同 <a href="https://www.gov.cn/">政策</a> <a href="#end">末页</a></p></section>
<section><p>第二页</p></section><section><p>第三页</p></section><section><p>第四页</p></section>
<section id="end"><p>第五页</p><p style="margin-top: 80mm; text-align: right">发包方（盖章）</p></section>
</body></html>"""


def test_the_services_visible_seal_qr_code_and_paging_seal_pass(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    (tmp_path / "in.pdf").write_bytes(weasyprint.HTML(string=FIVE_PAGES).write_pdf())
    qr = "http://127.0.0.1:8000/verify?request=YZ-1"
    options = Options(placement=Placement(4, 380, 300), paging=True, qr_url=qr)
    seal(pki, keystore, tmp_path / "in.pdf", tmp_path / "out.pdf", options, art=round_seal("水南村村民委员会"))
    data = (tmp_path / "out.pdf").read_bytes()
    assert warnings(data) == []
    report = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert (report.indication, report.problems) == (PASSED, [])


def test_each_reason_is_reported_once_at_its_first_place() -> None:
    """javascript: links on three pages, a JavaScript /OpenAction and a note not printed: two reasons."""
    pdf = pdfs.one_page(pages=3)
    for page in pdf.pages:
        page.obj.Annots = Array([pdf.make_indirect(pdfs.link(deceptive.uri("javascript:app.alert(1)")))])
    pdf.Root.OpenAction = pdfs.javascript_action()
    pdf.pages[2].obj.Annots.append(deceptive.note_annotation(pdf, None))
    assert warnings(pdfs.save(pdf)) == [
        "the PDF contains JavaScript (/JS in /OpenAction)",
        "an annotation shows on screen and does not print (a /FreeText annotation with /F 0 on page 3, at /Annots/1)",
    ]


def test_a_file_the_check_cannot_read_is_a_warning_not_an_error() -> None:
    (warning,) = warnings(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    assert warning.startswith("the PDF cannot be checked for active content: ")


def _band(data: bytes, rows: tuple[int, int], mode: str | None) -> Image.Image:
    """The rows ``rows`` (from the top, at 72 dpi) of page 1, rendered by PDFium for the screen (None) or for
    printing ("print"), in black and white."""
    document = pdfium.PdfDocument(data)
    try:
        image = document[0].render(scale=1, optimize_mode=mode, draw_annots=True, grayscale=True).to_pil()
    finally:
        document.close()
    band: Image.Image = image.convert("L").crop((0, rows[0], image.width, rows[1]))
    return band.point(lambda v: 255 if v < 128 else 0)


def _ink(image: Image.Image) -> int:
    return image.histogram()[255]


SCREEN_ROWS, PAPER_ROWS = (105, 145), (165, 205)  # the two amounts' lines, baselines at y 700 and 640 of 842
NOTE_ROWS = (202, 242)  # the note, y 600 to 640


def test_the_tricks_are_real_pdfium_shows_one_amount_and_prints_another() -> None:
    """Not a check of the code under test: a check that the tests' files deceive a real renderer."""
    groups = deceptive.usage_amounts()
    assert _ink(_band(groups, SCREEN_ROWS, None)) > 100
    assert _ink(_band(groups, PAPER_ROWS, None)) == 0
    assert _ink(_band(groups, SCREEN_ROWS, "print")) == 0
    assert _ink(_band(groups, PAPER_ROWS, "print")) > 100
    note = deceptive.flagged(None)  # on screen the note covers the page's amount with its own
    screen, paper = _band(note, NOTE_ROWS, None), _band(note, NOTE_ROWS, "print")
    assert _ink(screen) > 100
    assert _ink(paper) > 100
    assert _ink(ImageChops.difference(screen, paper)) > 100
