"""Documents changed after sealing, the way an attacker would change them: bytes after the signed file, and
incremental updates with and without a final ``%%EOF`` (which some readers honour and others skip). None of them
may pass; each names what it found."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

from core.keystore import Keystore
from signer.incremental import Original, Update, array_with, changed, open_original, ref, stream
from signer.validation import PASSED, validate
from tests.signer.pki import Pki, blank_pdf
from tests.signer.test_pades import NOW, pki, seal  # noqa: F401  (the module's PKI fixture)


def _javascript(original: Original, update: Update) -> None:
    script = update.new()
    update.put(script, b"<</S/JavaScript/JS(app.alert\\('paid'\\))>>")
    root = original.pdf.Root
    assert isinstance(root, pikepdf.Dictionary)
    update.replace(root, changed(root, {"/OpenAction": ref(script)}))


def _link(original: Original, update: Update) -> None:
    action = update.new()
    update.put(action, b"<</S/URI/URI(http://attacker.example/pay)>>")
    link = update.new()
    update.put(link, b"<</Type/Annot/Subtype/Link/Rect[0 0 595 842]/Border[0 0 0]/A " + ref(action) + b">>")
    page = original.pdf.pages[0].obj
    update.replace(page, changed(page, {"/Annots": array_with(page.get("/Annots"), ref(link))}))


def _content(original: Original, update: Update) -> None:
    body = update.new()
    update.put(body, stream({}, b"BT /F1 24 Tf 100 700 Td (AMOUNT 9999) Tj ET"))
    page = original.pdf.pages[0].obj
    update.replace(page, changed(page, {"/Contents": ref(body)}))


CHANGES: dict[str, Callable[[Original, Update], None]] = {
    "javascript": _javascript,
    "link": _link,
    "page-content": _content,
}


def sealed_file(pki: Pki, keystore: Keystore, tmp_path: Path) -> bytes:  # noqa: F811
    seal(pki, keystore, blank_pdf(tmp_path / "in.pdf"), tmp_path / "out.pdf")
    return (tmp_path / "out.pdf").read_bytes()


def appended(path: Path, change: Callable[[Original, Update], None], *, eof: bool) -> bytes:
    """The file with one more incremental update, ending in ``%%EOF`` or, as a reader-splitting attack, not."""
    with open_original(path) as original:
        update = Update(original)
        change(original, update)
        body, _ = update.write()
    tail = bytes(body)
    if not eof:
        tail = tail[: tail.rindex(b"%%EOF")]
    return path.read_bytes() + tail


@pytest.mark.parametrize("garbage", [b"x", b"\n%garbage\n", b"\n" + b"A" * 5000, b"\r\n\r\n\r\n"])
def test_bytes_after_the_signed_file_are_named(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    garbage: bytes,
) -> None:
    data = sealed_file(pki, keystore, tmp_path) + garbage
    report = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert report.indication != PASSED
    assert any("the file goes on" in m for s in report.signatures for m in s.modifications), report.to_json()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b" \n", b""])
def test_one_end_of_line_after_the_signed_file_is_allowed(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    ending: bytes,
) -> None:
    data = sealed_file(pki, keystore, tmp_path) + ending
    report = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert report.indication == PASSED, report.to_json()


@pytest.mark.parametrize("eof", [True, False], ids=["with-eof", "without-eof"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_an_update_after_the_seal_fails(
    pki: Pki,  # noqa: F811
    keystore: Keystore,
    tmp_path: Path,
    change: str,
    eof: bool,
) -> None:
    sealed_file(pki, keystore, tmp_path)
    data = appended(tmp_path / "out.pdf", CHANGES[change], eof=eof)
    report = validate(data, trust=[pki.root], moment=NOW, revocation=pki.revocation())
    assert report.indication == "TOTAL-FAILED", report.to_json()
    (signature,) = report.signatures
    assert signature.modifications
