"""The seal as printed: inked over the page rather than pasted on it, so the text under it stays legible, and a
paging seal only where there are sheets to straddle. Judged from the sealed PDF's objects (pikepdf) and from
poppler's renderings."""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import weasyprint
from PIL import Image

from core.keystore import Keystore
from signer.appearance import SealArt, round_seal
from signer.pades import Options, Placement
from signer.placement import Anchor, find_anchor, seal_box
from tests.conftest import T0
from tests.signer.pki import Pki, blank_pdf, make_pki
from tests.signer.test_appearance import red_mask
from workflow import catalogs
from workflow.catalog import parse

NOW = T0 + dt.timedelta(days=1)
DPI = 150
DATE = "2026年12月6日"
CERTIFICATE = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 25mm 22mm; }}
body {{ font-family: "Noto Serif CJK SC", serif; font-size: 12pt; line-height: 1.8; }}
.sign {{ margin-top: 14mm; margin-left: 55%; text-align: center; line-height: 2.2; }}
</style></head><body>
<h1 style="text-align: center">居住证明</h1>
<p>兹证明陈明德自2019年3月1日起居住在水南村。</p>
<div class="sign"><div>水南村（盖章）</div><div>{DATE}</div></div>
</body></html>"""


@pytest.fixture(scope="module")
def pki(keystore: Keystore, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(keystore, tmp_path_factory.mktemp("pki"), T0)


@pytest.fixture(scope="module")
def special() -> SealArt:
    return round_seal("三亚市崖州区水南村村民委员会", purpose="财务专用章")


def sealed(pki: Pki, keystore: Keystore, source: Path, options: Options, art: SealArt) -> Path:
    target = source.with_name(f"{source.stem}-sealed.pdf")
    with target.open("wb") as out:
        pki.sealer(keystore, art).seal(source, out, options, NOW)
    return target


def over_anchor(source: Path, art: SealArt, **options: object) -> Options:
    anchor = find_anchor(source, "（盖章）")
    assert anchor is not None
    page, x, y = seal_box(anchor, art.size)
    return Options(placement=Placement(page, x, y), **options)  # type: ignore[arg-type]


def rendered(path: Path) -> Image.Image:
    prefix = path.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(DPI), "-f", "1", "-l", "1", "-png", path, prefix], check=True)
    (found,) = path.parent.glob(f"{prefix.name}-*1.png")
    image = Image.open(found).convert("RGB")
    found.unlink()
    return image


def pixels(image: Image.Image, box: Anchor) -> Iterator[tuple[int, int]]:
    """The pixels of a box of user space (an A4 page), a little beyond it for antialiasing."""
    scale = DPI / 72
    height = image.height
    for x in range(int(box.x0 * scale) - 2, int(box.x1 * scale) + 3):
        for y in range(int(height - box.y1 * scale) - 2, int(height - box.y0 * scale) + 3):
            yield x, y


def appearance(path: Path) -> tuple[pikepdf.Pdf, Any]:
    pdf = pikepdf.open(path)
    (field,) = [f for f in pdf.Root.AcroForm.Fields if f.get("/FT") == pikepdf.Name.Sig]
    return pdf, field.AP.N


def streams(form: Any) -> Iterator[Any]:
    """A form XObject and every form it draws, depth first."""
    yield form
    for inner in form.get("/Resources", {}).get("/XObject", {}).values():
        yield from streams(inner)


def instructions(form: Any) -> Iterator[tuple[list[Any], str]]:
    for instruction in pikepdf.parse_content_stream(form):
        assert isinstance(instruction, pikepdf.ContentStreamInstruction)
        yield list(instruction.operands), str(instruction.operator)


def multiplied(form: Any) -> bool:
    """Whether the form's content sets a graphics state of /BM /Multiply before drawing anything."""
    states = form.get("/Resources", {}).get("/ExtGState", {})
    for operands, operator in instructions(form):
        if operator == "gs":
            return bool(states[operands[0]].get("/BM") == pikepdf.Name.Multiply)
        if operator in ("f", "f*", "B", "B*", "b", "b*", "S", "Do", "Tj", "TJ", "sh"):
            return False
    return False


def white_fills(form: Any) -> list[str]:
    """Fill colours set to white in the form's content."""
    white = {"g": [1.0], "rg": [1.0, 1.0, 1.0], "k": [0.0, 0.0, 0.0, 0.0], "sc": [1.0], "scn": [1.0]}
    return [
        f"{operands} {operator}"
        for operands, operator in instructions(form)
        if operator in white and [float(v) for v in operands] == white[operator]
    ]


def test_the_seal_is_inked_with_multiply_and_paints_nothing_white(
    pki: Pki, keystore: Keystore, special: SealArt, tmp_path: Path
) -> None:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(weasyprint.HTML(string=CERTIFICATE).write_pdf())
    options = over_anchor(source, special, qr_url="http://127.0.0.1:8000/records/abc")
    pdf, normal = appearance(sealed(pki, keystore, source, options, special))
    with pdf:
        assert multiplied(normal)  # the widget's own appearance stream, around the seal and the QR code
        drawn = list(streams(normal))
        assert len(drawn) == 3  # the appearance, the seal and the QR code
        assert all(white_fills(form) == [] for form in drawn)
        assert multiplied(normal.Resources.XObject.SealgateSeal)  # also where a paging seal draws it


def test_a_date_under_the_seal_stays_darker_than_the_seals_red(
    pki: Pki, keystore: Keystore, special: SealArt, tmp_path: Path
) -> None:
    source = tmp_path / "certificate.pdf"
    source.write_bytes(weasyprint.HTML(string=CERTIFICATE).write_pdf())
    options = over_anchor(source, special, qr_url="http://127.0.0.1:8000/records/abc")
    date = find_anchor(source, DATE)
    assert date is not None
    blank = blank_pdf(tmp_path / "blank.pdf")  # the seal alone, where it goes on the certificate
    before, after = rendered(source), rendered(sealed(pki, keystore, source, options, special))
    ink = red_mask(rendered(sealed(pki, keystore, blank, options, special)))

    text = [p for p in pixels(before, date) if sum(before.getpixel(p)[:3]) < 3 * 100]  # type: ignore[index]
    covered = [p for p in text if ink.getpixel(p) == 255]
    assert len(covered) > 50  # the seal's purpose line and ring lie over the date
    still_dark = [p for p in covered if after.getpixel(p)[0] < 100]  # type: ignore[index]
    assert len(still_dark) >= 0.95 * len(covered)  # black under red ink stays black; red paint would not
    assert count_red(after, date) > 50  # and the seal is there, red around the date's strokes


def count_red(image: Image.Image, box: Anchor) -> int:
    mask = red_mask(image)
    return sum(1 for p in pixels(image, box) if mask.getpixel(p) == 255)


@pytest.mark.parametrize("pages", [1, 2])
def test_a_paging_seal_needs_two_sheets(pki: Pki, keystore: Keystore, tmp_path: Path, pages: int) -> None:
    source = blank_pdf(tmp_path / "in.pdf", pages=pages)
    art = round_seal("三亚市崖州区水南村村民委员会")
    out = sealed(pki, keystore, source, Options(placement=Placement(-1, 300, 100), paging=True), art)
    with pikepdf.open(source) as original, pikepdf.open(out) as done:
        for before, after in zip(original.pages, done.pages, strict=True):
            strip = "/SealgateSeal" in after.Resources.get("/XObject", {})
            assert strip == (pages > 1)
            if pages == 1:
                assert after.Contents.read_bytes() == before.Contents.read_bytes()
    edge = rendered(out).crop((int(595 * DPI / 72) - 5, 0, int(595 * DPI / 72), int(842 * DPI / 72)))
    assert (red_mask(edge).getbbox() is not None) == (pages > 1)


def test_the_catalogue_says_which_seals_are_special_purpose() -> None:
    """The purpose line comes from the seal's kind: 财务专用章 and 合同专用章 carry theirs, a 公章 none."""
    kinds = parse(catalogs.read(catalogs.SHIPPED)).seals
    assert kinds["village_finance"].purpose == "财务专用章"
    assert kinds["village_contract"].purpose == "合同专用章"
    assert kinds["village_official"].purpose is None
    for kind in kinds.values():
        assert ("专用章" in kind.name) == (kind.purpose is not None), kind.name
        assert kind.purpose is None or kind.name.endswith(kind.purpose), kind.name
