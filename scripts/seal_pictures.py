"""Regenerate the README's pictures of the drawn seal, from documents sealed for real and rendered by pdftoppm.

docs/seal.png: a residence certificate rendered from its template for 水南村, sealed with the official seal named
三亚市崖州区水南村村民委员会 over "（盖章）", the date under the seal legible through the red ink.
docs/paging-seal.png: the right edges of a five-page contract with a paging seal (骑缝章), side by side.

    .venv/bin/python scripts/seal_pictures.py
"""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

from PIL import Image, ImageDraw

from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import token_key
from core.keystore import KeyKind, Keystore, open_keystore
from core.settings import CaSettings, Settings
from signer.appearance import SealArt, round_seal
from signer.cms import SealTemplate
from signer.pades import Options, Placement, Sealer
from signer.placement import find_anchor, seal_box
from workflow import catalogs, documents
from workflow.catalog import parse

ROOT = Path(__file__).resolve().parent.parent
SEAL_NAME = "三亚市崖州区水南村村民委员会"
KIND = "village_official"
DPI = 110
NOW = dt.datetime(2026, 12, 6, 2, 0, tzinfo=dt.UTC)
FIVE_PAGES = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 25mm 22mm; } body { font-family: "Noto Serif CJK SC", serif; font-size: 12pt; }
section { break-after: page; } section:last-child { break-after: auto; }
</style></head><body>
<section><h1>农村土地承包合同</h1></section><section><p>第二页</p></section><section><p>第三页</p></section>
<section><p>第四页</p></section>
<section><p>第五页</p><p style="margin-top: 80mm; text-align: right">发包方（盖章）</p></section>
</body></html>"""


def sealer(keystore: Keystore, art: SealArt) -> Sealer:
    """A sealer under a throwaway root: the pictures need a real sealing, not a trusted one."""
    for label in ("pictures-root", "pictures-seal"):
        keystore.generate(label, KeyKind.EC_P256)
    root_key, seal_key = token_key(keystore, "pictures-root"), token_key(keystore, "pictures-seal")
    root = profiles.root(root_key, "水南村", NOW, 30)
    urls = Urls.under("https://sealgate.example")
    policy = CaSettings().policy_oid
    seal = profiles.seal(
        seal_key, "水南村", "54460205C50121019D", SEAL_NAME, Issuer(root_key, root), urls, NOW, 30, policy=policy
    )
    return Sealer(keystore, seal_key.label, SealTemplate(seal, (root,)), art)


def sealed(seals: Sealer, source: Path, **options: object) -> Path:
    anchor = find_anchor(source, "（盖章）")
    assert anchor is not None, "the document prints （盖章）"
    page, x, y = seal_box(anchor, seals.size)
    target = source.with_name(f"{source.stem}-sealed.pdf")
    with target.open("wb") as out:
        seals.seal(source, out, Options(placement=Placement(page, x, y), **options), NOW)  # type: ignore[arg-type]
    return target


def pages(path: Path) -> list[Image.Image]:
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", path, path.with_suffix("")], check=True)
    return [Image.open(p).convert("RGB") for p in sorted(path.parent.glob(f"{path.stem}-*.png"))]


def certificate(seals: Sealer, directory: Path) -> Image.Image:
    """The certificate's page from its title to a little below the date under the seal."""
    context = {
        "matter": SimpleNamespace(name="居住证明"),
        "organisation": SimpleNamespace(name="水南村"),
        "request": SimpleNamespace(number="YZ-2026-000123", copies=1, purpose=None),
        "form": {
            "applicant": "陈明德",
            "id_number": "460200195803150018",
            "since": "2019年3月1日",
            "address": "三亚市崖州区水南村三组28号",
            "housing": "自有住房",
            "purpose": "办理居住证",
        },
        "today": f"{NOW.year}年{NOW.month}月{NOW.day}日",
    }
    source = directory / "certificate.pdf"
    source.write_bytes(documents.render("residence_certificate.html", context))
    page = pages(sealed(seals, source, qr_url="https://sealgate.example/records/7KQ2M9"))[0]
    date = find_anchor(source, str(context["today"]))
    assert date is not None
    bottom = round(page.height - (date.y0 - 30 * 72 / 25.4) * DPI / 72)
    return page.crop((0, 0, page.width, min(page.height, bottom)))


def paging(seals: Sealer, directory: Path) -> Image.Image:
    """The five pages' right edges, the strip of each that carries its part of the seal, joined with a rule."""
    import weasyprint  # slow to import; only this picture needs it directly

    source = directory / "contract.pdf"
    source.write_bytes(weasyprint.HTML(string=FIVE_PAGES).write_pdf())
    images = pages(sealed(seals, source, paging=True))
    strip = round(seals.size / len(images) * DPI / 72) + 1
    top = round((images[0].height - seals.size * DPI / 72) / 2) - 12
    height = round(seals.size * DPI / 72) + 24
    gap, margin = 1, 12
    out = Image.new("RGB", (2 * margin + len(images) * (strip + gap) - gap, height), "white")
    draw = ImageDraw.Draw(out)
    for i, image in enumerate(images):
        x = margin + i * (strip + gap)
        out.paste(image.crop((image.width - strip, top, image.width, top + height)), (x, 0))
        if i:
            draw.line([(x - 1, 0), (x - 1, height)], fill=(170, 170, 170))
    return out


def main() -> None:
    purpose = parse(catalogs.read(catalogs.SHIPPED)).seals[KIND].purpose
    art = round_seal(SEAL_NAME, purpose=purpose)
    with tempfile.TemporaryDirectory() as tmp:
        keystore = open_keystore(Settings(var_dir=Path(tmp)))
        try:
            seals = sealer(keystore, art)
            certificate(seals, Path(tmp)).save(ROOT / "docs" / "seal.png", optimize=True)
            paging(seals, Path(tmp)).save(ROOT / "docs" / "paging-seal.png", optimize=True)
        finally:
            keystore.close()


if __name__ == "__main__":
    main()
