"""The seal's appearance, judged from real renderings (poppler's pdftoppm) rather than from the content stream."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
import zxingcpp
from PIL import Image, ImageChops, ImageDraw

from signer.appearance import MM, QR_BORDER, SealArt, dark_runs, paging_slices, qr_code, qr_matrix, round_seal
from signer.outlines import Face, PathPen, default_face, load_font, number

A4 = (595.28, 841.89)
DPI = 100
ORGANISATION = "青山镇桃源村民委员会"
PURPOSE = "财务专用章"
SEAL_AT = (200.0, 500.0)


@pytest.fixture(scope="module")
def art() -> SealArt:
    return round_seal(ORGANISATION)


@pytest.fixture(scope="module")
def special() -> SealArt:
    return round_seal(ORGANISATION, purpose=PURPOSE)


def form(pdf: pikepdf.Pdf, content: bytes, size: float) -> pikepdf.Stream:
    return pdf.make_indirect(
        pikepdf.Stream(pdf, content, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Form, BBox=[0, 0, size, size])
    )


def page_with(pdf: pikepdf.Pdf, content: bytes, xobjects: dict[str, pikepdf.Stream]) -> None:
    pdf.add_blank_page(page_size=A4)
    page = pdf.pages[-1]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(xobjects))
    page.Contents = pdf.make_stream(content)


def render(pdf: pikepdf.Pdf, directory: Path) -> list[Image.Image]:
    source = directory / "page.pdf"
    pdf.save(source)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", source, directory / "page"], check=True)
    return [Image.open(p).convert("RGB") for p in sorted(directory.glob("page-*.png"))]


def px(x: float, y: float) -> tuple[float, float]:
    """User space of an A4 page to pixel coordinates of its rendering."""
    return x * DPI / 72, (A4[1] - y) * DPI / 72


def red(image: Image.Image, x: int, y: int) -> bool:
    pixel = image.getpixel((x, y))
    assert isinstance(pixel, tuple)
    r, g, b = pixel[:3]
    return r > 150 and g < 110 and b < 110


def red_mask(image: Image.Image) -> Image.Image:
    r, g, b = image.split()
    high = r.point(lambda v: 255 if v > 150 else 0)
    low_g = g.point(lambda v: 255 if v < 110 else 0)
    low_b = b.point(lambda v: 255 if v < 110 else 0)
    return ImageChops.multiply(ImageChops.multiply(high, low_g), low_b)


def ink_mask(image: Image.Image) -> Image.Image:
    return image.convert("L").point(lambda v: 255 if v < 250 else 0)


def count(mask: Image.Image) -> int:
    return mask.histogram()[255]


def near_red(image: Image.Image, x: float, y: float, reach: int = 1) -> bool:
    """A red pixel at the point or within ``reach`` pixels of it (antialiasing blurs thin strokes)."""
    cx, cy = round(x), round(y)
    return any(red(image, cx + dx, cy + dy) for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1))


def drawn(art: SealArt, directory: Path) -> tuple[Image.Image, bytes]:
    pdf = pikepdf.new()
    page_with(
        pdf, f"q 1 0 0 1 {SEAL_AT[0]} {SEAL_AT[1]} cm /Seal Do Q".encode(), {"/Seal": form(pdf, art.content, art.size)}
    )
    image = render(pdf, directory)[0]
    return image, (directory / "page.pdf").read_bytes()


@pytest.fixture(scope="module")
def seal_page(art: SealArt, tmp_path_factory: pytest.TempPathFactory) -> tuple[Image.Image, bytes]:
    return drawn(art, tmp_path_factory.mktemp("seal"))


@pytest.fixture(scope="module")
def special_page(special: SealArt, tmp_path_factory: pytest.TempPathFactory) -> tuple[Image.Image, bytes]:
    return drawn(special, tmp_path_factory.mktemp("special"))


def under_the_star(art: SealArt, image: Image.Image) -> Image.Image:
    """The red of the band under the star, where a special-purpose seal names its purpose."""
    cx, cy = px(SEAL_AT[0] + art.size / 2, SEAL_AT[1] + art.size / 2)
    ring = (art.size - MM) / 2 * DPI / 72
    return red_mask(image).crop(
        (round(cx - 0.3 * ring), round(cy + 0.3 * ring), round(cx + 0.3 * ring), round(cy + 0.6 * ring))
    )


def fills(art: SealArt) -> int:
    """Filled paths of the drawing: one per character and one for the star."""
    return art.content.split().count(b"f")


def test_size_is_the_diameter_in_points(art: SealArt) -> None:
    assert art.size == pytest.approx(119.055, abs=1e-3)
    assert art.bbox == (0.0, 0.0, art.size, art.size)
    assert round_seal("桃源村", diameter_mm=38).size == pytest.approx(38 * MM)


def test_the_seal_is_red_inside_its_circle_and_nothing_is_outside(
    art: SealArt, seal_page: tuple[Image.Image, bytes]
) -> None:
    image, _ = seal_page
    cx, cy = px(SEAL_AT[0] + art.size / 2, SEAL_AT[1] + art.size / 2)
    radius = art.size / 2 * DPI / 72
    reds = red_mask(image)
    area = math.pi * radius**2
    assert count(reds) > 0.12 * area
    outside = ink_mask(image)
    ImageDraw.Draw(outside).ellipse((cx - radius - 2, cy - radius - 2, cx + radius + 2, cy + radius + 2), fill=0)
    assert outside.getbbox() is None


def test_ring_star_and_lettering_are_where_a_round_seal_has_them(
    art: SealArt, seal_page: tuple[Image.Image, bytes]
) -> None:
    image, _ = seal_page
    cx, cy = px(SEAL_AT[0] + art.size / 2, SEAL_AT[1] + art.size / 2)
    scale = DPI / 72
    ring = (art.size - MM) / 2 * scale
    for degrees in range(0, 360, 30):
        angle = math.radians(degrees)
        assert near_red(image, cx + ring * math.cos(angle), cy - ring * math.sin(angle)), degrees
    assert near_red(image, cx, cy, reach=0)  # the star's centre
    assert not near_red(image, cx, cy - 0.5 * ring, reach=2)  # between the arc's feet and the star: empty
    band = red_mask(image).crop(
        (round(cx - 0.4 * ring), round(cy - 0.95 * ring), round(cx + 0.4 * ring), round(cy - 0.6 * ring))
    )
    assert count(band) > 0.05 * band.width * band.height  # the organisation's name along the upper arc
    assert count(under_the_star(art, image)) == 0  # an official seal has no line under the star


def test_only_a_special_purpose_seal_names_its_purpose_under_the_star(
    art: SealArt, special: SealArt, special_page: tuple[Image.Image, bytes]
) -> None:
    image, _ = special_page
    below = under_the_star(special, image)
    assert count(below) > 0.05 * below.width * below.height
    assert fills(art) == len(ORGANISATION) + 1  # the name's characters and the star
    assert fills(special) == len(ORGANISATION) + 1 + len(PURPOSE)
    assert round_seal(ORGANISATION, purpose=" ").content == art.content


def test_lettering_is_drawn_not_typeset(art: SealArt, seal_page: tuple[Image.Image, bytes]) -> None:
    _, pdf = seal_page
    assert b"/Font" not in pdf
    assert b"Tf" not in art.content
    assert b"BT" not in art.content


def test_same_inputs_give_the_same_bytes(art: SealArt) -> None:
    assert round_seal(ORGANISATION).content == art.content
    script = (
        "import hashlib; from signer.appearance import round_seal, qr_code;"
        f"art = round_seal({ORGANISATION!r}, purpose={PURPOSE!r});"
        "print(hashlib.sha256(art.content + qr_code('https://x.test/v?r=1', 56.69)).hexdigest())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    expected = hashlib.sha256(
        round_seal(ORGANISATION, purpose=PURPOSE).content + qr_code("https://x.test/v?r=1", 56.69)
    ).hexdigest()
    assert done.stdout.strip() == expected


def test_the_drawing_is_compact(art: SealArt) -> None:
    assert len(art.content) < 40_000
    assert not any(len(token.split(b".")[-1]) > 2 for token in art.content.split() if b"." in token)


def test_long_names_are_narrowed_not_overflowed() -> None:
    long = round_seal("某某省某某市某某县青山镇桃源村股份经济合作社", purpose="合同专用章")
    assert long.size == pytest.approx(42 * MM)
    assert b"/Font" not in long.content


def test_a_character_missing_from_the_font_is_named() -> None:
    with pytest.raises(ValueError, match="𰀀"):
        round_seal("桃源村𰀀")
    with pytest.raises(ValueError, match="U\\+E000"):
        load_font().path("\ue000", (1, 0, 0, 1, 0, 0))


def test_an_empty_organisation_is_refused() -> None:
    with pytest.raises(ValueError, match="organisation"):
        round_seal("  ", purpose="公章")


def test_dark_runs_merge_neighbouring_modules() -> None:
    assert dark_runs(bytes([1, 1, 0, 1, 0, 0, 1, 1, 1])) == [(0, 2), (3, 1), (6, 3)]
    assert dark_runs(bytes([0, 0])) == []


@pytest.mark.parametrize("under", ["blank", "grey"])
def test_qr_code_renders_its_matrix_and_reads_back(tmp_path: Path, under: str) -> None:
    """Dark modules dark, light ones whatever the page has there: white paper, or the grey of what it prints; and a
    reader finds the URL in the rendered page."""
    url = "https://sealgate.example/verify?request=2026-000123"
    size, at = 300.0, (100.0, 300.0)
    content = qr_code(url, size)
    pdf = pikepdf.new()
    backdrop = f"q 0.5 g {at[0]} {at[1]} {size} {size} re f Q " if under == "grey" else ""
    page_with(pdf, f"{backdrop}q 1 0 0 1 {at[0]} {at[1]} cm /QR Do Q".encode(), {"/QR": form(pdf, content, size)})
    image = render(pdf, tmp_path)[0].convert("L")
    light = 255 if under == "blank" else 128
    matrix = qr_matrix(url)
    quiet = bytes(len(matrix) + 2 * QR_BORDER)
    expected = [quiet] * QR_BORDER + [bytes(QR_BORDER) + row + bytes(QR_BORDER) for row in matrix] + [quiet] * QR_BORDER
    modules = len(expected)
    scale = float(content.split(b" cm")[0].split()[-6])
    assert size / scale == pytest.approx(modules, abs=0.01)
    module = size / modules
    for row in range(modules):
        for col in range(modules):
            x, y = px(at[0] + (col + 0.5) * module, at[1] + size - (row + 0.5) * module)
            value = image.getpixel((round(x), round(y)))
            assert isinstance(value, int | float)
            assert value == (0 if expected[row][col] else pytest.approx(light, abs=2)), (row, col)
    assert content.count(b" re") == sum(len(dark_runs(row)) for row in expected)
    (found,) = zxingcpp.read_barcodes(image)
    assert found.text == url
    assert found.ec_level == "M"


def test_paging_slices_put_strip_i_of_the_seal_at_the_right_edge_of_page_i(art: SealArt, tmp_path: Path) -> None:
    pages = 5
    boxes = [(0.0, 0.0, *A4)] * pages
    pdf = pikepdf.new()
    seal = form(pdf, art.content, art.size)
    for content in paging_slices(art, boxes):
        page_with(pdf, content, {"/Seal": seal})
    images = render(pdf, tmp_path)
    assert len(images) == pages
    strip = art.size / pages
    edge, _ = px(A4[0] - strip, 0)
    _, top = px(0, (A4[1] + art.size) / 2)
    _, bottom = px(0, (A4[1] - art.size) / 2)
    for i, image in enumerate(images):
        ink = ink_mask(image)
        assert count(red_mask(image).crop((math.ceil(edge), 0, image.width, image.height))) > 50, i
        assert ink.crop((0, 0, math.floor(edge) - 1, image.height)).getbbox() is None, i
        box = ink.getbbox()
        assert box is not None
        assert top - 2 <= box[1], i
        assert box[3] <= bottom + 2, i
    centre_x, centre_y = px(A4[0] - strip / 2, A4[1] / 2)
    assert near_red(images[2], centre_x, centre_y, reach=0)  # the star's centre is on the middle sheet


def test_paging_slices_position_each_strip_and_honour_y(art: SealArt) -> None:
    boxes = [(0.0, 0.0, 600.0, 800.0), (10.0, 20.0, 410.0, 620.0)]
    first, second = paging_slices(art, boxes, y=100.0, resource="/S")
    half = art.size / 2
    clip = f"{number(600 - half, 3)} 100 {number(half, 3)} {number(art.size, 3)} re W n"
    assert first == f"q {clip} 1 0 0 1 {number(600 - half, 3)} 100 cm /S Do Q\n".encode()
    assert f"1 0 0 1 {number(410 - 2 * half, 3)} 100 cm /S Do Q".encode() in second
    with pytest.raises(ValueError, match="page"):
        paging_slices(art, [])
    centred = paging_slices(art, boxes[1:])[0]
    assert f" {number((20 + 620 - art.size) / 2, 3)} cm".encode() in centred


def test_the_default_font_is_the_simplified_chinese_face() -> None:
    face = default_face()
    assert isinstance(face, Face)
    assert load_font() is load_font(face)
    assert load_font().glyph_name("章")


def test_quadratic_outlines_become_cubic_curves() -> None:
    pen = PathPen((2, 0, 0, 2, 10, 0))
    pen.moveTo((0, 0))
    pen.qCurveTo((3, 3), (6, 0))
    pen.qCurveTo((9, 3), (12, 3), (12, 0))  # two off-curve points: an implied on-curve point between them
    pen.closePath()
    assert pen.text() == ("10 0 m\n14 4 18 4 22 0 c\n26 4 29 6 31 6 c\n33 6 34 4 34 0 c\nh\n")
    ring = PathPen((1, 0, 0, 1, 0, 0))
    ring.qCurveTo((0, 1), (1, 0), (0, -1), (-1, 0), None)  # a contour without on-curve points
    ring.closePath()
    lines = ring.text().splitlines()
    assert lines[0] == "-0.5 0.5 m"
    assert lines[-2].endswith(" -0.5 0.5 c")
    assert len(lines) == 6
