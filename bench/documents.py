"""The documents the benchmarks seal and submit, built with pikepdf at run time: bench carries no binary files."""

from __future__ import annotations

import io

import pikepdf

A4 = (595, 842)


def one_page() -> bytes:
    """An A4 page with one line of text in Helvetica: the smallest document a village office would seal."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=A4)
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 14 Tf 72 760 Td (Certificate of residence) Tj ET")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
