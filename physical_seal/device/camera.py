"""The photo a machine takes of the sheet it stamped: the service keeps it as evidence of where the seal landed.

The emulator has no sheet, so it shows the document when ``sheets`` holds its PDF (named by its SHA-256) and a
generated page otherwise, and draws the seal on it as a real stamp lands: bottom right, a little off and askew.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import random
from pathlib import Path

import pypdfium2  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from core.pdfium_lock import PDFIUM

WIDTH = 600
HEIGHT = round(WIDTH * 297 / 210)  # A4
RED = (200, 20, 30, 230)
GREY = (150, 150, 150)


class Camera:
    def __init__(self, machine_id: str, sheets: Path | None = None, seed: int | None = None) -> None:
        self._machine_id = machine_id
        self._sheets = sheets
        self._random = random.Random(seed)  # noqa: S311 - where a stamp lands, not a secret

    def photograph(self, *, doc: bytes, request: str, counter: int, time: int) -> bytes:
        """The PNG of the stamped sheet."""
        page = self._sheet(doc) or _generated(doc, request)
        page = page.convert("RGB").resize((WIDTH, HEIGHT))
        seal = _seal(self._machine_id).rotate(self._random.uniform(-12, 12), resample=Image.Resampling.BICUBIC)
        x = WIDTH - seal.width - 40 + self._random.randint(-15, 15)
        y = HEIGHT - seal.height - 70 + self._random.randint(-15, 15)
        page.paste(seal, (x, y), seal)
        when = dt.datetime.fromtimestamp(time, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        draw = ImageDraw.Draw(page)
        draw.rectangle((0, HEIGHT - 22, WIDTH, HEIGHT), fill=(235, 235, 235))
        draw.text((8, HEIGHT - 17), f"{self._machine_id}  event {counter}  {when}", fill=(40, 40, 40))
        out = io.BytesIO()
        page.quantize(64).save(out, "PNG", optimize=True)
        return out.getvalue()

    def _sheet(self, doc: bytes) -> Image.Image | None:
        if self._sheets is None:
            return None
        path = self._sheets / f"{doc.hex()}.pdf"
        if not path.is_file():
            return None
        with PDFIUM:
            pdf = pypdfium2.PdfDocument(path)
            try:
                page = pdf[0]
                image: Image.Image = page.render(scale=WIDTH / page.get_width()).to_pil().copy()
            finally:
                pdf.close()  # closes the page and the bitmap too; the image is a copy
        return image


def _generated(doc: bytes, request: str) -> Image.Image:
    page = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(page)
    draw.text((50, 50), f"Request {request}", fill=(0, 0, 0), font=ImageFont.load_default(size=20))
    draw.text((50, 80), f"SHA-256 {doc.hex()}", fill=(60, 60, 60))
    lines = random.Random(doc)  # noqa: S311 - the same document always looks the same
    for row in range(16):
        y = 130 + row * 28
        draw.line((50, y, 50 + lines.randint(300, WIDTH - 100), y), fill=GREY, width=6)
    return page


def _seal(machine_id: str) -> Image.Image:
    size = 150
    seal = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(seal)
    draw.ellipse((4, 4, size - 4, size - 4), outline=RED, width=6)
    centre, outer, inner = size / 2, 30, 12
    star = [
        (
            centre + (outer if i % 2 == 0 else inner) * math.sin(i * math.pi / 5),
            centre - (outer if i % 2 == 0 else inner) * math.cos(i * math.pi / 5),
        )
        for i in range(10)
    ]
    draw.polygon(star, fill=RED)
    label = machine_id[:20]
    width = draw.textlength(label)
    draw.text((centre - width / 2, size - 40), label, fill=RED)
    return seal
