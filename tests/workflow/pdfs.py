"""PDFs for the document checks, built at test time with pikepdf so the repository carries no binary fixtures.

Each builder returns the bytes of a small one-page PDF (A4, like the documents villagers bring) that is valid
apart from the one thing its name says.
"""

from __future__ import annotations

import io

from pikepdf import Array, Dictionary, Encryption, Name, ObjectStreamMode, Pdf, String

A4 = (595, 842)


def save(pdf: Pdf, *, encryption: Encryption | None = None) -> bytes:
    out = io.BytesIO()
    pdf.save(out, encryption=encryption or False, object_stream_mode=ObjectStreamMode.generate)
    return out.getvalue()


def one_page(title: str | None = None, *, pages: int = 1) -> Pdf:
    pdf = Pdf.new()
    for _ in range(pages):
        pdf.add_blank_page(page_size=A4)
    if title is not None:
        pdf.docinfo[Name.Title] = title
    return pdf


def clean(title: str | None = None) -> bytes:
    return save(one_page(title))


def encrypted(user_password: str) -> bytes:
    """AES-256 (revision 6); with an empty user password any viewer opens it without asking."""
    return save(one_page(), encryption=Encryption(owner="owner-secret", user=user_password, R=6))


def javascript_action() -> Dictionary:
    return Dictionary(S=Name.JavaScript, JS=String("app.alert('hello')"))


def launch_action() -> Dictionary:
    return Dictionary(S=Name.Launch, F=String("cmd.exe"), Win=Dictionary(F=String("cmd.exe"), P=String("/c calc")))


def import_data_action() -> Dictionary:
    return Dictionary(S=Name.ImportData, F=String("answers.fdf"))


def uri_action() -> Dictionary:
    return Dictionary(S=Name.URI, URI=String("https://www.gov.cn/"))


def link(action: Dictionary) -> Dictionary:
    return Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=Array([72, 72, 144, 144]), Border=[0, 0, 0], A=action)


def annotated(annotation: Dictionary, *, pages: int = 1, on_page: int = 1) -> bytes:
    """``annotation`` on page ``on_page`` of ``pages``, in an indirect /Annots array as most writers make it."""
    pdf = one_page(pages=pages)
    pdf.pages[on_page - 1].obj.Annots = pdf.make_indirect(Array([pdf.make_indirect(annotation)]))
    return save(pdf)


def rich_media_annotation() -> Dictionary:
    return Dictionary(Type=Name.Annot, Subtype=Name.RichMedia, Rect=Array([0, 0, 100, 100]))


def names_javascript() -> bytes:
    pdf = one_page()
    action = pdf.make_indirect(javascript_action())
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("greet"), action])))
    return save(pdf)


def open_action(action: Dictionary) -> bytes:
    pdf = one_page()
    pdf.Root.OpenAction = action
    return save(pdf)


def page_additional_action(action: Dictionary) -> bytes:
    """``action`` runs when the page opens (/AA /O), chained by an indirect /Next after a harmless /GoTo."""
    pdf = one_page()
    page = pdf.pages[0].obj
    page.AA = Dictionary(O=Dictionary(S=Name.GoTo, D=Array([page, Name.Fit]), Next=pdf.make_indirect(action)))
    return save(pdf)


def outline_action(action: Dictionary) -> bytes:
    pdf = one_page()
    item = pdf.make_indirect(Dictionary(Title=String("第一页"), A=action))
    outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = outlines
    pdf.Root.Outlines = outlines
    return save(pdf)


def off_the_path(action: Dictionary) -> bytes:
    """``action`` under a private key of the catalog, where no viewer looks."""
    pdf = one_page()
    pdf.Root[Name("/VillagePrivate")] = Dictionary(Hidden=pdf.make_indirect(action))
    return save(pdf)


def attachment() -> bytes:
    pdf = one_page()
    pdf.attachments["payload.exe"] = b"MZ\x90\x00 not really a program"
    return save(pdf)


def file_attachment_annotation() -> bytes:
    """An attachment kept not in /Names/EmbeddedFiles but in a file attachment annotation on the page."""
    pdf = one_page()
    embedded = pdf.make_stream(b"secret", Type=Name.EmbeddedFile)
    spec = Dictionary(Type=Name.Filespec, F=String("x.txt"), EF=Dictionary(F=embedded))
    annotation = Dictionary(Type=Name.Annot, Subtype=Name.FileAttachment, Rect=Array([0, 0, 10, 10]), FS=spec)
    pdf.pages[0].obj.Annots = Array([pdf.make_indirect(annotation)])
    return save(pdf)


def xfa_form() -> bytes:
    pdf = one_page()
    template = pdf.make_stream(b"<xdp:xdp><script>app.alert(1)</script></xdp:xdp>")
    pdf.Root.AcroForm = Dictionary(Fields=Array(), XFA=template)
    return save(pdf)


def no_pages() -> bytes:
    return save(Pdf.new())


def page_without_resources() -> bytes:
    """A page with no /Resources: qpdf adds an empty one, and warns that it repaired the file."""
    pdf = one_page()
    del pdf.pages[0].obj.Resources
    return save(pdf)


def repeated_page(times: int) -> bytes:
    """A page tree whose /Kids names the same page ``times`` times; qpdf would copy it ``times - 1`` times."""
    pdf = one_page()
    pdf.Root.Pages.Kids = Array([pdf.pages[0].obj] * times)
    pdf.Root.Pages.Count = times
    return save(pdf)


def chain(length: int, *, loop: bool) -> bytes:
    """``length`` indirect dictionaries off the catalog, each naming the next by /Next; with ``loop`` the last
    names the first again."""
    pdf = one_page()
    first = pdf.make_indirect(Dictionary())
    last = first
    for _ in range(length - 1):
        last = pdf.make_indirect(Dictionary(Next=last))
    if loop:
        first.Next = last
    pdf.Root[Name("/Chain")] = last
    return save(pdf)


def wide_array(items: int) -> bytes:
    """One array of ``items`` zeros: one object, many entries."""
    pdf = one_page()
    pdf.Root[Name("/Wide")] = pdf.make_indirect(Array([0] * items))
    return save(pdf)


def busy(pages: int = 3) -> bytes:
    """A harmless document with some of everything (an outline, links, a form field, text) to mutate in tests."""
    pdf = one_page("村民委员会证明", pages=pages)
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    for number, page in enumerate(pdf.pages, start=1):
        page.obj.Resources = Dictionary(Font=Dictionary(F1=font))
        page.obj.Contents = pdf.make_stream(b"BT /F1 12 Tf 72 720 Td (page %d) Tj ET" % number)
        page.obj.Annots = Array([pdf.make_indirect(link(uri_action()))])
    field = pdf.make_indirect(
        Dictionary(FT=Name.Tx, T=String("name"), V=String("张三"), Rect=Array([72, 600, 300, 620]), P=pdf.pages[0].obj)
    )
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]))
    item = pdf.make_indirect(Dictionary(Title=String("第一页"), Dest=Array([pdf.pages[0].obj, Name.Fit])))
    pdf.Root.Outlines = pdf.make_indirect(Dictionary(Type=Name.Outlines, First=item, Last=item, Count=1))
    item.Parent = pdf.Root.Outlines
    return save(pdf)
