"""The sheet a seal machine stamps: the approved document with the QR code of the request's public record in the
top right corner of its first page, so that anyone holding the stamped paper opens its record (approvals, every
stamp with its photo, the log entries), as the QR code beside an electronic seal does.

The authorisation binds this sheet's SHA-256: it is the file the custodian prints and the machine is shown. The
approved document itself is untouched, drawn over only: its own content is wrapped in a saved graphics state, so
nothing it leaves set moves the code.
"""

from __future__ import annotations

import io

import pikepdf

from signer.appearance import MM, qr_code
from signer.pades import QR_MM

MARGIN_MM = 8.0


def printable(document: bytes, link: str) -> bytes:
    """``document`` with a QR code of ``link`` on its first page."""
    size = QR_MM * MM
    with pikepdf.open(io.BytesIO(document)) as pdf:
        page = pdf.pages[0]
        _, bottom, right, top = (float(v) for v in page.mediabox)
        x, y = right - MARGIN_MM * MM - size, top - MARGIN_MM * MM - size
        drawn = f"Q\nq 1 0 0 1 {x:.2f} {max(y, bottom):.2f} cm\n".encode() + qr_code(link, size) + b"Q\n"
        page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
        page.contents_add(pikepdf.Stream(pdf, drawn))
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True)
    return out.getvalue()
