"""Rendering a document from its template: ``workflow.documents.render_with_anchor`` (the call a submitted
request makes, filling the template's laid-out shape and saying where it prints the seal's anchor text) against
WeasyPrint rendering the same HTML, alternating in one process.

Each call renders the winter-vegetable subsidy form of the demo catalogue for a different applicant (name, ID
number, phone, crop, area, place and request number all change), so no two documents are alike and each embeds its
own subset of the text face (the heading's bold subset is the same in every document, and is reused). Both sides
start from the same Jinja2 template and context; the fast side is warm (the shape laid out and the fonts prepared
before timing), as it is for every request after a template's first.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from bench.internals import alternate
from bench.report import Section
from core.settings import SignerSettings
from workflow import catalogs, documents, layout

TEMPLATE = "winter_vegetable_subsidy.html"
GOAL = 10.0
ANCHOR = SignerSettings().anchor  # the shipped text a seal is stamped over
_CATALOG = Path(__file__).resolve().parent.parent / "workflow" / "data" / "catalog.yaml"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "小明红梅建国秀英志强丽娟海燕桂兰文华春花永军"
_PLACES = ["水南村东洋", "水南村西洋片区", "梅东村三组南坡", "拱北村大田洋二号地块"]
_CROPS = ["辣椒", "豇豆", "苦瓜", "黄瓜", "茄子", "圣女果", "哈密瓜"]


@dataclasses.dataclass
class _Organisation:
    name: str


@dataclasses.dataclass
class _Request:
    number: str
    purpose: str
    copies: int = 2


def _contexts() -> Iterator[dict[str, Any]]:
    matter = next(m for m in catalogs.check(catalogs.read(_CATALOG)).matters if m.template == TEMPLATE)
    rates = matter.tables["rates"]
    for i in itertools.count():
        crop = _CROPS[i % len(_CROPS)]
        area = round(0.5 + (i * 37 % 400) / 10, 1)
        cycles = 1 + i % 3
        form = {
            "applicant": _SURNAMES[i % len(_SURNAMES)]
            + _GIVEN[(i * 7) % len(_GIVEN)]
            + _GIVEN[(i * 11 + 3) % len(_GIVEN)],
            "id_number": f"4602001990{i % 10000:04d}123X",
            "ssn": f"46020019900101{i % 10000:04d}",
            "phone": f"138{i % 100000000:08d}",
            "crop": crop,
            "cycles": cycles,
            "area": area,
            "location": _PLACES[i % len(_PLACES)],
            "amount": round(area * rates[crop] * cycles, 2),
            "bank_account": f"62170012345{i % 100000000:08d}",
        }
        yield {
            "matter": matter,
            "organisation": _Organisation("崖州区水南村民委员会"),
            "form": form,
            "request": _Request(f"SG-2026-{i:06d}", "申请2026年冬季瓜菜种植补贴"),
            "today": f"2026年12月{1 + i % 28}日",
        }


def run(quick: bool = False) -> Section:
    per, rounds = (5, 5) if quick else (10, 15)
    contexts = _contexts()
    documents.render_with_anchor(TEMPLATE, next(contexts), ANCHOR)  # the shape's first: WeasyPrint's, the reference
    layout.wait_for_fonts()
    documents.render_with_anchor(TEMPLATE, next(contexts), ANCHOR)

    fallbacks = 0

    def counted(source: str, base_url: str) -> tuple[bytes, Any]:
        nonlocal fallbacks
        fallbacks += 1
        return reference(source, base_url)

    reference = documents.reference_layout

    def fast() -> None:
        with mock.patch.object(documents, "reference_layout", counted):
            for _ in range(per):
                documents.render_with_anchor(TEMPLATE, next(contexts), ANCHOR)

    def weasyprint() -> None:
        for _ in range(per):
            documents.render_reference(TEMPLATE, next(contexts))

    ours, theirs = alternate(fast, weasyprint, rounds)
    ours_pdf = documents.render_with_anchor(TEMPLATE, next(contexts), ANCHOR)[0]
    sizes = [len(ours_pdf), len(documents.render_reference(TEMPLATE, next(contexts)))]
    ours_ms, theirs_ms = statistics.median(ours) * 1e3 / per, statistics.median(theirs) * 1e3 / per
    ratio = theirs_ms / ours_ms
    verdict = f"goal ≥ {GOAL:.0f}x: {'met' if ratio >= GOAL else 'missed'}"
    body = "\n".join(
        [
            "Each row times rendering one document of the winter-vegetable subsidy template, from the template and "
            "its context to PDF bytes: `workflow.documents.render_with_anchor` with the shipped anchor text, the "
            "call `workflow.requests` makes (the PDF, and where it prints the anchor the seal is stamped over), warm "
            "(the template's shape laid out by WeasyPrint and the fonts prepared before timing), against "
            "`documents.render_reference`, WeasyPrint rendering the same template and context. Every document is a "
            f"different applicant's. {rounds} alternating rounds of {per} documents per side in one process, wall "
            "clock; the median round, per document, in ms. The equivalence of the two outputs (text and pixels of "
            "every page) is checked by `tests/workflow/test_fast_rendering.py`, not here. Documents of the fast side "
            f"that went to WeasyPrint: {fallbacks} of {per * (rounds + 1)}.\n",
            "| path | ms per document | PDF size | WeasyPrint / this |",
            "|---|---:|---:|---:|",
            f"| `documents.render_with_anchor` (filled into the laid-out shape) | {ours_ms:.2f} | "
            f"{sizes[0] / 1000:.0f} kB | {ratio:.1f}x ({verdict}) |",
            f"| WeasyPrint {_version()} (`documents.render_reference`) | {theirs_ms:.2f} | {sizes[1] / 1000:.0f} kB | "
            "1.0x |",
            "",
        ]
    )
    return Section("Rendering documents from templates (`bench/render.py`)", body)


def _version() -> str:
    import weasyprint

    return str(weasyprint.__version__)
