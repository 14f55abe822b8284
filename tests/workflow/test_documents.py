"""Checking uploaded PDFs, and rendering documents from templates: real PDFs, built by ``tests.workflow.pdfs``."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pikepdf import Pdf

from core.errors import Invalid
from signer.active_content import MAX_ENTRIES, MAX_OBJECTS
from tests.workflow import pdfs
from workflow.documents import (
    TEMPLATES,
    CheckedPdf,
    DocumentRefused,
    check_upload,
    check_upload_file,
    render,
)

MB = 2**20
LIMIT = 20 * MB
BUDGET = 5.0  # seconds: the product's bound for any one file, however malformed

Check = Callable[[bytes, int], CheckedPdf]


def _from_bytes(data: bytes, max_bytes: int) -> CheckedPdf:
    return check_upload(data, max_bytes=max_bytes)


@pytest.fixture(params=["bytes", "file"])
def check(request: pytest.FixtureRequest, tmp_path: Path) -> Check:
    """Both entry points, which must agree on everything."""
    if request.param == "bytes":
        return _from_bytes

    def from_file(data: bytes, max_bytes: int) -> CheckedPdf:
        path = tmp_path / "upload.pdf"
        path.write_bytes(data)
        return check_upload_file(path, max_bytes=max_bytes)

    return from_file


def test_a_clean_pdf_passes(check: Check) -> None:
    data = pdfs.clean("居住证明")
    assert check(data, LIMIT) == CheckedPdf(
        pages=1, sha256=hashlib.sha256(data).hexdigest(), size=len(data), title="居住证明"
    )


def test_links_forms_and_outlines_pass(check: Check) -> None:
    checked = check(pdfs.busy(pages=3), LIMIT)
    assert (checked.pages, checked.title) == (3, "村民委员会证明")


def test_a_pdf_without_a_title_has_none(check: Check) -> None:
    assert check(pdfs.clean(), LIMIT).title is None


def test_refusals_are_invalid_with_their_own_problem_type() -> None:
    with pytest.raises(Invalid) as raised:
        check_upload(b"", max_bytes=LIMIT)
    assert isinstance(raised.value, DocumentRefused)
    assert (raised.value.status, raised.value.problem) == (422, "document-refused")


ATTACHMENTS = "; a document to be sealed must not carry attachments"
REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "encrypted with an empty user password": (lambda: pdfs.encrypted(""), "the PDF is encrypted"),
    "encrypted with a user password": (
        lambda: pdfs.encrypted("村委会"),
        "the PDF is encrypted (it needs a password to open)",
    ),
    "JavaScript in /Names/JavaScript": (
        pdfs.names_javascript,
        "the PDF contains JavaScript (/JS in /Names/JavaScript, at /Names/1)",
    ),
    "JavaScript as /OpenAction": (
        lambda: pdfs.open_action(pdfs.javascript_action()),
        "the PDF contains JavaScript (/JS in /OpenAction)",
    ),
    "JavaScript behind a link on page 2": (
        lambda: pdfs.annotated(pdfs.link(pdfs.javascript_action()), pages=3, on_page=2),
        "the PDF contains JavaScript (/JS on page 2, at /Annots/0/A)",
    ),
    "JavaScript in an outline item": (
        lambda: pdfs.outline_action(pdfs.javascript_action()),
        "the PDF contains JavaScript (/JS in the outline, at /First/A)",
    ),
    "JavaScript where no viewer looks": (
        lambda: pdfs.off_the_path(pdfs.javascript_action()),
        "the PDF contains JavaScript (/JS in the trailer, at /Root/VillagePrivate/Hidden)",
    ),
    "/Launch as /OpenAction": (
        lambda: pdfs.open_action(pdfs.launch_action()),
        "the PDF asks to launch a program (/Launch action in /OpenAction)",
    ),
    "/Launch behind a link": (
        lambda: pdfs.annotated(pdfs.link(pdfs.launch_action())),
        "the PDF asks to launch a program (/Launch action on page 1, at /Annots/0/A)",
    ),
    "/Launch chained after a page's open action": (
        lambda: pdfs.page_additional_action(pdfs.launch_action()),
        "the PDF asks to launch a program (/Launch action on page 1, at /AA/O/Next)",
    ),
    "/ImportData behind a link": (
        lambda: pdfs.annotated(pdfs.link(pdfs.import_data_action())),
        "the PDF asks to import data from a file (/ImportData action on page 1, at /Annots/0/A)",
    ),
    "rich media": (
        lambda: pdfs.annotated(pdfs.rich_media_annotation()),
        "the PDF contains rich media (a /RichMedia annotation on page 1, at /Annots/0)",
    ),
    "an XFA form": (pdfs.xfa_form, "the PDF contains an XFA form, which can run scripts (/XFA in /AcroForm)"),
    "/EmbeddedFiles": (pdfs.attachment, f"the PDF carries attachments (/Names/EmbeddedFiles){ATTACHMENTS}"),
    "a file attachment annotation": (
        pdfs.file_attachment_annotation,
        f"the PDF carries attachments (an embedded file (/EF) on page 1, at /Annots/0/FS){ATTACHMENTS}",
    ),
    "no pages": (pdfs.no_pages, "the PDF has no pages"),
    "empty": (lambda: b"", "the file is empty"),
    "not a PDF": (lambda: "兹证明".encode(), "not a PDF: the file does not start with %PDF-"),
    "a header after leading bytes": (
        lambda: b"\n" + pdfs.clean(),
        "not a PDF: the file does not start with %PDF-",
    ),
    "over the size limit": (
        lambda: b"%PDF-" + bytes(LIMIT),  # not a PDF either: refused on size, before parsing
        "the PDF is larger than 20 MB",
    ),
    "page tree naming one page over and over": (
        lambda: pdfs.repeated_page(MAX_OBJECTS + 1),
        f"the PDF's page tree has more than {MAX_OBJECTS:,} entries, too many to check",
    ),
}


@pytest.mark.parametrize(("build", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_refused(check: Check, build: Callable[[], bytes], reason: str) -> None:
    data = build()
    with pytest.raises(DocumentRefused) as raised:
        check(data, LIMIT)
    assert raised.value.detail == reason


KINDS = {  # the kind each refusal names, for a page to word it; the cases not listed are active content
    "encrypted with an empty user password": "encrypted",
    "encrypted with a user password": "encrypted",
    "no pages": "no-pages",
    "empty": "empty",
    "not a PDF": "not-pdf",
    "a header after leading bytes": "not-pdf",
    "over the size limit": "too-large",
    "page tree naming one page over and over": "too-complex",
}


@pytest.mark.parametrize("case", REFUSED)
def test_each_refusal_names_its_kind(case: str) -> None:
    build, _ = REFUSED[case]
    with pytest.raises(DocumentRefused) as raised:
        check_upload(build(), max_bytes=LIMIT)
    assert raised.value.extensions["kind"] == KINDS.get(case, "active-content")
    assert raised.value.extensions.get("limit") == ("20 MB" if case == "over the size limit" else None)


def test_the_size_limit_is_said_in_bytes_when_not_whole_megabytes(check: Check) -> None:
    data = pdfs.clean()
    assert check(data, len(data)).size == len(data)
    with pytest.raises(DocumentRefused, match=rf"^the PDF is larger than {len(data) - 1} bytes$"):
        check(data, len(data) - 1)


DAMAGED: dict[str, Callable[[], bytes]] = {
    "cut in half": lambda: pdfs.clean()[: len(pdfs.clean()) // 2],
    "cut short by its last bytes": lambda: pdfs.clean()[:-20],
    "garbage after the header": lambda: b"%PDF-1.7\n" + bytes(range(256)) * 64,
    "a repair qpdf warns about": pdfs.page_without_resources,
    "a page named twice in the page tree": lambda: pdfs.repeated_page(2),
}


@pytest.mark.parametrize("build", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged(check: Check, build: Callable[[], bytes]) -> None:
    with pytest.raises(DocumentRefused, match=r"^the PDF is damaged: \S") as raised:
        check(build(), LIMIT)
    assert "upload" not in raised.value.detail  # qpdf's name for the file is left out; its place is kept
    assert raised.value.extensions["kind"] == "damaged"


def test_qpdf_messages_keep_the_place_and_drop_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "村民" / "damaged.pdf"
    path.parent.mkdir()
    path.write_bytes(pdfs.page_without_resources())
    with pytest.raises(DocumentRefused) as raised:
        check_upload_file(path, max_bytes=LIMIT)
    assert raised.value.detail.startswith("the PDF is damaged: kid 0 (from 0) Resources is missing or invalid")
    assert raised.value.detail.endswith(")")  # "... (object stream 1, object 4 0 at offset 94)"
    assert str(tmp_path) not in raised.value.detail


def test_a_file_that_cannot_be_read_is_not_a_refusal(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_upload_file(tmp_path / "missing.pdf", max_bytes=LIMIT)


def _timed(data: bytes) -> tuple[float, str | CheckedPdf]:
    start = time.monotonic()
    try:
        outcome: str | CheckedPdf = check_upload(data, max_bytes=LIMIT)
    except DocumentRefused as refused:
        outcome = refused.detail
    return time.monotonic() - start, outcome


PATHOLOGICAL: dict[str, tuple[Callable[[], bytes], str | None]] = {
    "a chain of 300,000 references": (
        lambda: pdfs.chain(300_000, loop=False),
        f"the PDF has more than {MAX_OBJECTS:,} objects, too many to check",
    ),
    "a loop of 300,000 references": (
        lambda: pdfs.chain(300_000, loop=True),
        f"the PDF has more than {MAX_OBJECTS:,} objects, too many to check",
    ),
    "an array of 1,500,000 numbers": (
        lambda: pdfs.wide_array(1_500_000),
        f"the PDF has more than {MAX_ENTRIES:,} entries, too many to check",
    ),
    "a loop of 1,000 references": (lambda: pdfs.chain(1_000, loop=True), None),
}


@pytest.mark.slow
@pytest.mark.parametrize(("build", "reason"), PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_pathological_files_are_decided_within_the_budget(build: Callable[[], bytes], reason: str | None) -> None:
    """A bound, not a benchmark: building the file is not timed, checking it is."""
    elapsed, outcome = _timed(build())
    assert elapsed < BUDGET
    if reason is None:
        assert isinstance(outcome, CheckedPdf)
    else:
        assert outcome == reason


BUSY = pdfs.busy()


@settings(max_examples=300, deadline=None)
@given(
    cut=st.integers(min_value=len(b"%PDF-"), max_value=len(BUSY)),
    changes=st.lists(st.tuples(st.integers(min_value=5, max_value=len(BUSY) - 1), st.binary(max_size=8)), max_size=6),
)
def test_mangled_pdfs_are_checked_or_refused_never_crash(cut: int, changes: list[tuple[int, bytes]]) -> None:
    data = bytearray(BUSY[:cut])
    for offset, replacement in changes:
        data[offset : offset + len(replacement)] = replacement
    with contextlib.suppress(DocumentRefused):
        check_upload(bytes(data), max_bytes=LIMIT)


# Rendering. WeasyPrint subsets the CJK fonts on every render: a tenth of a second with the HarfBuzz subsetter
# (libharfbuzz-subset0), seconds per font without it, when it falls back to fontTools. The tests share one render.

TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>居住证明</title>
<style>
  @page { size: A4; margin: 25mm; }
  body { font-family: "Noto Serif CJK SC", serif; font-size: 14pt; }
  h1 { font-family: "Noto Sans CJK SC", sans-serif; text-align: center; }
</style>
</head>
<body>
<h1>居住证明</h1>
<p>兹证明{{ name }}同志系我村村民，现居住于本村。</p>
<p>（盖章）</p>
</body>
</html>
"""
NAME = "张三<script>alert(1)</script>"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    (folder / "proof.html").write_text(TEMPLATE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def rendered(templates: Path) -> bytes:
    return render("proof.html", {"name": NAME}, templates=templates)


def _poppler(tool: str, pdf: bytes, tmp_path: Path) -> str:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed")
    path = tmp_path / "rendered.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, str(path), "-"] if tool == "pdftotext" else [tool, str(path)], check=True, capture_output=True, text=True
    ).stdout


def test_rendered_chinese_is_real_text(rendered: bytes, tmp_path: Path) -> None:
    text = "".join(_poppler("pdftotext", rendered, tmp_path).split())  # lines wrap where the page does
    assert "居住证明" in text
    assert "同志系我村村民，现居住于本村。" in text
    assert "（盖章）" in text


def test_rendered_values_are_escaped_text_not_markup(rendered: bytes, tmp_path: Path) -> None:
    assert f"兹证明{NAME}同志" in "".join(_poppler("pdftotext", rendered, tmp_path).split())


def test_rendered_fonts_are_all_embedded_subsets(rendered: bytes, tmp_path: Path) -> None:
    rows = _poppler("pdffonts", rendered, tmp_path).splitlines()[2:]  # after the heading and its underline
    fonts = {row.split()[0].rpartition("+")[2]: row.split()[-5:-3] for row in rows}  # name: [emb, sub]
    assert fonts == {"Noto-Serif-CJK-SC": ["yes", "yes"], "Noto-Sans-CJK-SC-Bold": ["yes", "yes"]}


def test_a_rendered_document_passes_the_upload_check(rendered: bytes) -> None:
    checked = check_upload(rendered, max_bytes=LIMIT)
    assert (checked.pages, checked.title) == (1, "居住证明")


def test_a_missing_variable_is_an_error(templates: Path) -> None:
    with pytest.raises(jinja2.UndefinedError, match="'name' is undefined"):
        render("proof.html", {}, templates=templates)


class _Recorder(http.server.BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Recorder.paths.append(self.path)
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    _Recorder.paths = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_templates_use_files_beside_them_and_never_the_network(tmp_path: Path, web: str) -> None:
    (tmp_path / "a5.css").write_text("@page { size: A5; }", encoding="utf-8")
    (tmp_path / "page.html").write_text(
        f'<link rel="stylesheet" href="a5.css"><link rel="stylesheet" href="{web}/remote.css">'
        f'<img src="{web}/logo.png">',
        encoding="utf-8",
    )
    pdf = render("page.html", {}, templates=tmp_path)
    with Pdf.open(io.BytesIO(pdf)) as opened:
        width, height = (round(float(side)) for side in opened.pages[0].mediabox[2:])
    assert (width, height) == (420, 595)  # A5 in points: the stylesheet beside the template was used
    assert _Recorder.paths == []


def test_templates_default_to_the_project_folder() -> None:
    project = Path(__file__).resolve().parents[2]
    assert project / "templates" / "documents" == TEMPLATES
