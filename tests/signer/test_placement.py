"""Finding the anchor text a document prints for its seal, in a PDF rendered the way the templates are."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import weasyprint

from signer.placement import Anchor, find_anchor, seal_box

A4_HEIGHT = 841.89
LEFT, TOP, FONT_SIZE = 100.0, 200.0, 12.0  # where page 2 prints "甲方（盖章）", in points from the top left

HTML = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><style>
  @page {{ size: A4; margin: 0; }}
  body {{ font-family: "Noto Sans CJK SC", sans-serif; font-size: {FONT_SIZE}pt; margin: 0; }}
  section {{ position: relative; height: 297mm; break-after: page; }}
  p {{ position: absolute; left: {LEFT}pt; top: {TOP}pt; margin: 0; line-height: 1; }}
</style></head><body>
<section><p>本证明一式两份。</p></section>
<section><p>甲方（盖章）</p></section>
</body></html>"""


@pytest.fixture(scope="module")
def document() -> bytes:
    data: bytes = weasyprint.HTML(string=HTML).write_pdf()
    return data


def test_finds_the_anchor_on_the_second_page(document: bytes) -> None:
    anchor = find_anchor(document, "（盖章）")
    assert anchor is not None
    assert anchor.page == 1
    start, end = LEFT + 2 * FONT_SIZE, LEFT + 6 * FONT_SIZE  # after "甲方"; the brackets' ink sits inside their ems
    assert start - 1 <= anchor.x0 <= start + FONT_SIZE
    assert end - FONT_SIZE <= anchor.x1 <= end + 1
    baseline_top = A4_HEIGHT - TOP
    assert baseline_top - FONT_SIZE - 2 <= anchor.y0 < anchor.y1 <= baseline_top + 1


def test_reads_paths_as_well_as_bytes(document: bytes, tmp_path: Path) -> None:
    path = tmp_path / "document.pdf"
    path.write_bytes(document)
    expected = find_anchor(document, "盖章")
    assert expected is not None
    assert find_anchor(path, "盖章") == expected
    assert find_anchor(str(path), "盖章") == expected


def test_searches_only_the_pages_asked(document: bytes) -> None:
    assert find_anchor(document, "盖章", pages=[0]) is None
    found = find_anchor(document, "盖章", pages=[-1])
    assert found is not None
    assert found.page == 1
    assert find_anchor(document, "盖章", pages=[7]) is None


def test_absent_text_is_none(document: bytes) -> None:
    assert find_anchor(document, "（签字）") is None


def test_empty_text_is_refused(document: bytes) -> None:
    with pytest.raises(ValueError, match="empty"):
        find_anchor(document, "")


def test_the_seal_is_centred_over_the_anchor() -> None:
    page, x, y = seal_box(Anchor(1, 100.0, 600.0, 148.0, 612.0), 119.0)
    assert page == 1
    assert (x + 119.0 / 2, y + 119.0 / 2) == pytest.approx((124.0, 606.0))


THREADED = """
import sys, threading
from signer.placement import find_anchor
from signer.visual import differences

document = sys.stdin.buffer.read()
found, failures = [], []

def work():
    try:
        for _ in range(40):
            found.append(find_anchor(document, "（盖章）"))
            failures.extend(differences(document, document, set()))
    except BaseException as exc:
        failures.append(repr(exc))

threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(found), len(set(found)), failures)
"""


def test_threads_of_one_process_search_and_render_at_once(document: bytes) -> None:
    """PDFium is not safe to enter from two threads: the executor's threads and the API's pool share one lock.
    Without it this process dies of SIGSEGV or SIGTRAP within a few calls."""
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", THREADED],
        input=document,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert done.stdout.decode().strip().split(maxsplit=2) == ["160", "1", "[]"]
