"""Documents filled into a laid-out shape read and look exactly like WeasyPrint's rendering of the same HTML.

Every comparison renders the same HTML both ways in this process: ``layout.render`` (the fast path, with a
reference callable that counts how often it had to fall back to WeasyPrint) and WeasyPrint alone. They are
compared by their extracted text (each page's by pdfium, the whole document's by poppler's pdftotext) and by each
page's pixels at 100 dpi in grayscale, with a tolerance of ``LEVELS`` gray levels per pixel: none, since the
glyphs are the same outlines at the same positions (to the 1/1024 px WeasyPrint rounds to), and every page
compared so far has matched pixel for pixel.
"""

from __future__ import annotations

import dataclasses
import io
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import pikepdf
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]
from PIL import Image, ImageChops

from core.runtime import Runtime
from core.settings import SignerSettings
from signer.placement import Anchor, Located, find_anchor
from tests.signer.pki import validate_offline
from tests.signer.test_sealing import make_bench, seal_once
from workflow import catalogs, documents, layout
from workflow.documents import TEMPLATES, check_upload
from workflow.documents import render as render_document

LIMIT = 20 * 2**20
DPI = 100
LEVELS = 0  # gray levels any pixel may differ by
SUBSIDY = "winter_vegetable_subsidy.html"
ANCHOR = SignerSettings().anchor  # the text the service stamps its seal over
CATALOG = catalogs.check(catalogs.read(Path(__file__).resolve().parents[2] / "workflow" / "data" / "catalog.yaml"))


@dataclasses.dataclass
class Place:
    name: str


@dataclasses.dataclass
class Request:
    number: str
    purpose: str
    copies: int = 2


class Counting:
    """WeasyPrint as the fast path's reference, counting the documents it had to render."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, html: str, base_url: str) -> tuple[bytes, Any]:
        self.calls += 1
        return documents.reference_layout(html, base_url)


def _context(template: str, form: dict[str, Any], **request: Any) -> dict[str, Any]:
    matter = next(m for m in CATALOG.matters if m.template == template)
    request = dict(request)
    organisation, today = request.pop("organisation", "崖州区水南村民委员会"), request.pop("today", "2026年12月6日")
    return {
        "matter": matter,
        "organisation": Place(organisation),
        "form": form,
        "request": Request(**{"number": "SG-2026-000123", "purpose": "申请2026年冬季瓜菜种植补贴", **request}),
        "today": today,
    }


def _html(template: str, context: dict[str, Any]) -> str:
    return documents.html(template, context)


def _subsidy(**values: Any) -> dict[str, Any]:
    form = {
        "applicant": "王小明",
        "id_number": "460200199001011234",
        "ssn": "460200199001011234",
        "phone": "13876543210",
        "crop": "辣椒",
        "cycles": 2,
        "area": 3.5,
        "location": "水南村东洋",
        "amount": 2100.0,
    }
    form.update(values)
    return {key: value for key, value in form.items() if value is not None}


def _pages(pdf: bytes) -> list[tuple[str, Image.Image]]:
    document = pdfium.PdfDocument(pdf)
    pages = []
    for page in document:
        text = page.get_textpage().get_text_range()
        image = page.render(scale=DPI / 72, grayscale=True).to_pil().convert("L")
        pages.append((text, image))
    return pages


def _pdftotext(pdf: bytes) -> str:
    """poppler's reading of the text, from stdin: a second extractor, with its own idea of lines and spaces."""
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def assert_same(fast: bytes, reference: bytes) -> None:
    if shutil.which("pdftotext") is not None:
        assert _pdftotext(fast) == _pdftotext(reference)
    ours, theirs = _pages(fast), _pages(reference)
    assert len(ours) == len(theirs)
    for (text, image), (their_text, their_image) in zip(ours, theirs, strict=True):
        assert text == their_text
        assert image.size == their_image.size
        _, high = cast(tuple[int, int], ImageChops.difference(image, their_image).getextrema())  # one band
        assert high <= LEVELS
    with pikepdf.open(io.BytesIO(fast)) as ours_pdf, pikepdf.open(io.BytesIO(reference)) as their_pdf:
        assert str(ours_pdf.docinfo.get("/Title")) == str(their_pdf.docinfo.get("/Title"))


@pytest.fixture
def warm() -> None:
    """A shape of the subsidy form (every optional field filled), with its fonts prepared, made for each test
    and the only layout kept: the layouts of earlier tests' fallbacks, of the same shape, would push it out, and
    which tests ran before depends on how they are shared among workers."""
    layout.forget_shapes()
    layout.render(
        _html(SUBSIDY, _context(SUBSIDY, _subsidy(bank_account="6217001234567890123"))), str(TEMPLATES), Counting()
    )
    layout.wait_for_fonts()


FORMS = {
    "short": (_subsidy(applicant="李四", location="东", phone="0898-1234567"), {}),
    "long name and place": (
        _subsidy(
            applicant="欧阳娜娜木措", location="水南村东洋片区第三村民小组南侧二号地块", area=123.45, amount=111105.0
        ),
        {"number": "SG-2027-999999", "purpose": "申请冬季瓜菜补贴"},
    ),
    "latin and digits": (
        _subsidy(ssn="AB12345678XYZ", id_number="46020019900101123X", crop="圣女果", cycles=3),
        {"organisation": "梅山镇新村村民委员会", "number": "YZ-2027-42", "today": "2027年1月31日"},
    ),
    "other crop and rate": (_subsidy(crop="甜玉米", cycles=1, area=0.5, amount=75.0), {"number": "A-1"}),
}


@pytest.mark.parametrize("case", FORMS)
def test_the_subsidy_form_filled_is_what_weasyprint_renders(warm: None, case: str) -> None:
    form, request = FORMS[case]
    html = _html(SUBSIDY, _context(SUBSIDY, form, **request))
    reference = Counting()
    fast = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == 0  # filled, not rendered by WeasyPrint
    assert_same(fast, documents.reference_layout(html, str(TEMPLATES))[0])


_HANZI = [bytes((high, low)).decode("gb2312") for high in range(0xB0, 0xD7) for low in range(0xA1, 0xFF)]
_LATIN = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MARKS = "，。：；、！？·—-/#%.,:;'"


@pytest.mark.parametrize("seed", range(12))
def test_random_forms_filled_are_what_weasyprint_renders(warm: None, seed: int) -> None:
    """Names, places and numbers drawn at random from common hanzi, Latin letters, digits and punctuation, short
    enough to stay on their lines: each is filled, exactly as WeasyPrint renders it."""
    rng = random.Random(seed)

    def draw(low: int, high: int, alphabet: str | list[str]) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    form = _subsidy(
        applicant=draw(2, 6, _HANZI),
        location=draw(1, 14, _HANZI + list(_LATIN[:20]) + list(_MARKS)),
        ssn=draw(9, 20, _LATIN[:36] + _LATIN[36:40]),
        phone=draw(11, 11, _LATIN[:10]),
        bank_account=draw(12, 30, _LATIN[:10]),
    )
    request = {"number": draw(1, 18, _LATIN + _MARKS), "purpose": draw(1, 24, _HANZI + list(_LATIN[:10]))}
    html = _html(SUBSIDY, _context(SUBSIDY, form, **request))
    reference = Counting()
    pdf = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == 0
    assert_same(pdf, documents.reference_layout(html, str(TEMPLATES))[0])


@pytest.mark.parametrize(
    "values",
    [
        {"location": "水南村东洋" * 12},  # wraps onto a second line
        {"applicant": "Ⅻ"},  # a letter of no script the fast path shapes
        {"location": "东洋（A区）"},  # brackets around a change of script
        {"applicant": "José Müller"},  # a space, and Latin letters outside ASCII
        {"applicant": "王小明😀"},  # a character the font has not
        {"purpose": "申请 补贴"},
    ],
    ids=["wraps", "numeral", "brackets", "space", "emoji", "space-in-purpose"],
)
def test_a_value_that_does_not_fit_falls_back_to_weasyprint(warm: None, values: dict[str, Any]) -> None:
    purpose = values.pop("purpose", "申请2026年冬季瓜菜种植补贴")
    html = _html(SUBSIDY, _context(SUBSIDY, _subsidy(**values), purpose=purpose))
    reference = Counting()
    pdf = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == 1
    assert_same(pdf, documents.reference_layout(html, str(TEMPLATES))[0])


def test_a_blank_optional_field_is_a_shape_of_its_own(warm: None) -> None:
    form = _subsidy(bank_account=None, amount=None)
    html = _html(SUBSIDY, _context(SUBSIDY, form))
    first, second = Counting(), Counting()
    layout.render(html, str(TEMPLATES), first)
    layout.wait_for_fonts()
    other = _html(SUBSIDY, _context(SUBSIDY, {**form, "applicant": "赵六"}))
    fast = layout.render(other, str(TEMPLATES), second)
    assert (first.calls, second.calls) == (1, 0)
    assert_same(fast, documents.reference_layout(other, str(TEMPLATES))[0])


def _generic_form(template: str, value: str) -> dict[str, Any]:
    """A value for every field ``template`` reads: a number where it formats one, else ``value``."""
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    money = set(re.findall(r'yuan\(form\.get\("(\w+)"\)\)', source))
    fields = set(re.findall(r'form\.get\("(\w+)"', source))
    return {field: (1234.5 if field in money else value) for field in fields}


# The templates whose every value stands alone on its line; the others set values inside paragraphs, which wrap
# differently for each value, so WeasyPrint renders them.
FILLED = {"mediation_agreement.html", "mulch_film_subsidy.html", SUBSIDY}


@pytest.mark.parametrize("template", sorted(m.template for m in CATALOG.matters if m.template))
def test_every_template_filled_is_what_weasyprint_renders(template: str) -> None:
    first = _html(template, _context(template, _generic_form(template, "张三")))
    layout.render(first, str(TEMPLATES), Counting())
    layout.wait_for_fonts()
    html = _html(template, _context(template, _generic_form(template, "李四光"), number="SG-2026-7"))
    reference = Counting()
    pdf = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == (0 if template in FILLED else 1)
    assert_same(pdf, documents.reference_layout(html, str(TEMPLATES))[0])


@pytest.mark.parametrize("template", sorted(FILLED))
def test_a_filled_document_says_where_it_has_the_anchor_as_pdfium_finds_it(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout.forget_shapes()
    first = _html(template, _context(template, _generic_form(template, "张三")))
    pdf, located = layout.render_with_anchor(first, str(TEMPLATES), Counting(), ANCHOR)
    assert located == Located(ANCHOR, find_anchor(pdf, ANCHOR))  # the reference: PDFium's own answer
    layout.wait_for_fonts()
    html = _html(template, _context(template, _generic_form(template, "李四光"), number="SG-2026-7"))
    reference = Counting()
    monkeypatch.setattr(layout, "find_anchor", None)  # not searched: no text that changed could hold the anchor
    pdf, located = layout.render_with_anchor(html, str(TEMPLATES), reference, ANCHOR)
    monkeypatch.undo()
    assert reference.calls == 0
    found = find_anchor(pdf, ANCHOR)
    assert found is not None
    assert located is not None
    assert located.found is not None
    assert located.found.page == found.page
    place = (located.found.x0, located.found.y0, located.found.x1, located.found.y1)
    assert place == pytest.approx((found.x0, found.y0, found.x1, found.y1), abs=0.01)
    elsewhere = layout.render_with_anchor(html, str(TEMPLATES), reference, "另一处")[1]  # another anchor: searched
    assert elsewhere == Located("另一处", None)


def test_a_shape_laid_out_without_the_anchor_learns_it_from_its_first_filled_document() -> None:
    layout.forget_shapes()
    layout.render(_html(SUBSIDY, _context(SUBSIDY, _subsidy())), str(TEMPLATES), Counting())
    layout.wait_for_fonts()
    reference = Counting()
    for applicant in ("钱七", "孙八"):
        html = _html(SUBSIDY, _context(SUBSIDY, _subsidy(applicant=applicant)))
        pdf, located = layout.render_with_anchor(html, str(TEMPLATES), reference, ANCHOR)
        assert located == Located(ANCHOR, find_anchor(pdf, ANCHOR))
    assert reference.calls == 0


@pytest.mark.parametrize(
    ("applicant", "could_hold"),
    [("王（盖章）", True), ("王（盖", True), ("章）王", True), ("章盖王（", True), ("盖章（王）", False)],
)
def test_a_text_that_could_hold_the_anchor_has_each_of_its_values_searched_once(
    applicant: str, could_hold: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout.forget_shapes()
    layout.render_with_anchor(_html(SUBSIDY, _context(SUBSIDY, _subsidy())), str(TEMPLATES), Counting(), ANCHOR)
    layout.wait_for_fonts()
    searches: list[object] = []

    def search(*args: Any) -> Anchor | None:
        searches.append(args)
        return find_anchor(*args)

    monkeypatch.setattr(layout, "find_anchor", search)
    reference = Counting()
    for phone in ("13800000001", "13800000002"):  # the second differs in a text that cannot hold the anchor
        html = _html(SUBSIDY, _context(SUBSIDY, _subsidy(applicant=applicant, phone=phone)))
        pdf, located = layout.render_with_anchor(html, str(TEMPLATES), reference, ANCHOR)
        assert located == Located(ANCHOR, find_anchor(pdf, ANCHOR))
    assert reference.calls == 0
    assert len(searches) == (1 if could_hold else 0)


def test_the_rendered_subsidy_passes_the_upload_check(warm: None) -> None:
    render_document(SUBSIDY, _context(SUBSIDY, _subsidy(applicant="孙八")))  # this shape's first: WeasyPrint's
    layout.wait_for_fonts()
    pdf = render_document(SUBSIDY, _context(SUBSIDY, _subsidy(applicant="钱七")))
    checked = check_upload(pdf, max_bytes=LIMIT)
    assert (checked.pages, checked.title) == (1, "冬季瓜菜种植补贴")
    assert len(pdf) < 100_000  # a subset of the glyphs shown, not WeasyPrint's retained glyph ids


@pytest.mark.db
def test_a_filled_subsidy_is_sealed_and_validates(warm: None, runtime: Runtime, tmp_path: Path) -> None:
    html = _html(SUBSIDY, _context(SUBSIDY, _subsidy(applicant="周九", bank_account="6217009876543210")))
    reference = Counting()
    pdf = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == 0
    check_upload(pdf, max_bytes=LIMIT)
    bench = make_bench(runtime, tmp_path, "B-LT")
    bench.document = runtime.blobs.put(pdf).sha256
    sealing = seal_once(bench)
    (tmp_path / "sealed.pdf").write_bytes(runtime.blobs.get(sealing.sealed_sha256))
    (status,) = validate_offline(tmp_path / "sealed.pdf", bench.office.authority.root, runtime.clock.now())
    assert (status.intact, status.valid, status.trusted) == (True, True, True)


def test_each_embedded_glyph_is_named_alike_by_id_and_by_cid(warm: None) -> None:
    """poppler and pdfium find a CIDFontType0's glyph by its id, the PDF specification by its CID: in a filled
    document the two are the same number, so every viewer draws the glyph the page names."""
    html = _html(SUBSIDY, _context(SUBSIDY, _subsidy(applicant="吴十一", bank_account="6217000011112222")))
    reference = Counting()
    pdf = layout.render(html, str(TEMPLATES), reference)
    assert reference.calls == 0
    with pikepdf.open(io.BytesIO(pdf)) as document:
        fonts = list(document.pages[0].Resources.Font.values())
        assert len(fonts) == 2
        for font in fonts:
            program = font.DescendantFonts[0].FontDescriptor.FontFile3.read_bytes()
            with TTFont(io.BytesIO(program)) as opened:
                order = opened.getGlyphOrder()
                assert opened["CFF "].cff.topDictIndex[0].ROS == ("Adobe", "Identity", 0)
            assert len(order) > 1
            assert order[1:] == [f"cid{gid:05d}" for gid in range(1, len(order))]
