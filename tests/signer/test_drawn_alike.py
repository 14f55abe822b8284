"""The pages of a signed revision are not rendered again when every later revision adds only what draws nothing
(a DSS, a document timestamp's invisible field): ``modification_policy.draws_as_signed`` judges that from what
the revisions contain. Later revisions that look like long-term validation data but change what a page shows are
still rendered, and reported."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pyhanko.sign.diff_analysis import DiffResult
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from core.keystore import Keystore
from core.runtime import Runtime
from signer import fields, visual
from signer.incremental import Original, Update, changed, open_original, ref, stream
from signer.modification_policy import SEAL_POLICY, draws_as_signed
from signer.objstm_reader import IndexedReader
from signer.validation import FAILED, PASSED, validate
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import NOW, pki, seal  # noqa: F401  (the module's PKI fixture)
from tests.signer.test_sealing import make_bench, seal_once

DANGLING = 900  # an object number no revision before the seal defines
LOOKS_DIFFERENT = "page 1 looks different from what was signed"


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many page pairs were rendered and compared."""
    pages: list[int] = []
    compare = visual._page_differs

    def counted(*args: Any) -> bool:
        pages.append(1)
        return compare(*args)

    monkeypatch.setattr(visual, "_page_differs", counted)
    return pages


def _seal_revision_draws_as_final(data: bytes) -> tuple[bool, object]:
    """``draws_as_signed`` for the first signature, after pyHanko's difference analysis (which it reads), and
    that analysis's result."""
    reader = IndexedReader(io.BytesIO(data), strict=False)
    signature = reader.embedded_signatures[0]
    status = validate_pdf_signature(signature, ValidationContext(allow_fetching=False), diff_policy=SEAL_POLICY)
    return draws_as_signed(reader, signature.signed_revision), status.diff_result


def _appended(path: Path, change: Callable[[Original, Update], None]) -> bytes:
    with open_original(path) as original:
        update = Update(original)
        change(original, update)
        body, _ = update.write()
    return path.read_bytes() + bytes(body)


def _with_dss(original: Original, update: Update, **more: bytes) -> None:
    """What a DSS update writes: the store, and the catalog pointing to it."""
    store = update.new()
    update.put(store, b"<</Certs[]/OCSPs[]/CRLs[]>>")
    root = original.pdf.Root
    assert isinstance(root, pikepdf.Dictionary)
    update.replace(root, changed(root, {"/DSS": ref(store), **more}))


def test_the_default_seal_is_not_rendered_again_and_passes(
    runtime: Runtime, tmp_path: Path, rendered: list[int]
) -> None:
    """B-LTA as the service seals: the DSS update and the document timestamp draw nothing, and say so."""
    bench = make_bench(runtime, tmp_path, "B-LTA")
    sealing = seal_once(bench, qr_url="http://127.0.0.1:8000/r/1")
    data = runtime.blobs.get(sealing.sealed_sha256)

    alike, diff = _seal_revision_draws_as_final(data)
    report = validate(data, trust=[bench.office.authority.root], moment=runtime.clock.now())

    assert alike, "a DSS and a document timestamp draw nothing"
    assert isinstance(diff, DiffResult)
    assert report.indication == PASSED, report.to_json()
    assert [s.kind for s in report.signatures] == ["signature", "document_timestamp"]
    assert rendered == []


def test_an_object_the_signed_revision_pointed_to_before_it_existed_is_rendered_and_reported(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    rendered: list[int],
) -> None:
    """The signed page draws a second content stream that does not exist yet (a reader draws nothing for it);
    an update that looks like a DSS update defines it. pyHanko's difference analysis counts the new object as
    an orphan, cleared as a long-term validation update: only rendering sees the page change."""
    source = blank_pdf(tmp_path / "in.pdf")

    def dangling(original: Original, update: Update) -> None:
        page = original.pdf.pages[0].obj
        contents = update.new()  # an array of its own, which sealing the page keeps as it is
        update.put(contents, b"[" + page.Contents.unparse() + b" " + ref(DANGLING) + b"]")
        update.replace(page, changed(page, {"/Contents": ref(contents)}))

    prepared = tmp_path / "prepared.pdf"
    prepared.write_bytes(_appended(source, dangling))
    seal(pki, keystore, prepared, tmp_path / "sealed.pdf")

    def defined(original: Original, update: Update) -> None:
        update.put(DANGLING, stream({}, b"BT /F1 36 Tf 72 400 Td (PAY 9999 TO ACCOUNT 42) Tj ET"))
        update.next_number = DANGLING + 1
        _with_dss(original, update)

    diff = _rendered_and_reported(_appended(tmp_path / "sealed.pdf", defined), pki, rendered)
    assert isinstance(diff, DiffResult), "pyHanko's analysis lets the update through"


def test_an_update_with_a_dss_that_rewrites_the_page_content_is_rendered_and_reported(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    rendered: list[int],
) -> None:
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "sealed.pdf")

    def rewritten(original: Original, update: Update) -> None:
        content = original.pdf.pages[0].obj.Contents
        update.replace(content, stream({}, b"BT /F1 36 Tf 72 400 Td (PAY 9999 TO ACCOUNT 42) Tj ET"))
        _with_dss(original, update)

    _rendered_and_reported(_appended(tmp_path / "sealed.pdf", rewritten), pki, rendered)


def test_an_annotation_added_with_a_dss_is_rendered_and_reported(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    rendered: list[int],
) -> None:
    """A stamp over the page beside a DSS: not a timestamp's field, so the pages are rendered."""
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "sealed.pdf")

    def stamp(original: Original, update: Update) -> None:
        annotation = update.new()
        update.put(annotation, b"<</Type/Annot/Subtype/Stamp/F 4" + _box_over_page(update) + b">>")
        _on_first_page(original, update, annotation)
        _with_dss(original, update)

    _rendered_and_reported(_appended(tmp_path / "sealed.pdf", stamp), pki, rendered)


def test_a_visible_empty_signature_field_added_after_the_seal_is_rendered_and_reported(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
) -> None:
    """A new, unsigned signature field is a change difference analysis allows (a place for the next signer),
    but its widget can draw anything over the page: the pages are compared with their form fields drawn."""
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "sealed.pdf")

    def field(original: Original, update: Update) -> None:
        widget = update.new()
        page = ref(*original.pdf.pages[0].obj.objgen)
        update.put(
            widget, b"<</Type/Annot/Subtype/Widget/FT/Sig/T(Next)/F 4/P " + page + _box_over_page(update) + b">>"
        )
        _on_first_page(original, update, widget)
        fields.register(update, widget)

    data = _appended(tmp_path / "sealed.pdf", field)
    report = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())

    assert report.indication == FAILED, report.to_json()
    assert LOOKS_DIFFERENT in report.signatures[0].modifications, report.to_json()


def _box_over_page(update: Update) -> bytes:
    """An annotation's /Rect and /AP: a black box over most of the page."""
    appearance = update.new()
    form = {"/Type": b"/XObject", "/Subtype": b"/Form", "/BBox": b"[0 0 400 300]"}
    update.put(appearance, stream(form, b"0 g 0 0 400 300 re f"))
    return b"/Rect[50 300 450 600]/AP<</N " + ref(appearance) + b">>"


def _on_first_page(original: Original, update: Update, annotation: int) -> None:
    page = original.pdf.pages[0].obj
    annots = fields.annots_with(update, page, annotation)
    if annots is not None:
        update.replace(page, changed(page, {"/Annots": annots}))


def _rendered_and_reported(data: bytes, authority: Pki, rendered: list[int]) -> object:
    """Check that the seal's revision was rendered against the final file and the page reported changed; pyHanko's
    difference analysis of it."""
    alike, diff = _seal_revision_draws_as_final(data)
    report = validate(data, trust=[authority.root], moment=NOW, revocation=authority.revocation())
    assert not alike
    assert rendered, "the pages were rendered"
    assert report.indication == FAILED
    assert LOOKS_DIFFERENT in report.signatures[0].modifications, report.to_json()
    return diff
