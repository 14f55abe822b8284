"""PDFs that show one thing on screen and print another, or that act on their own: built at test time with pikepdf.

The amounts are the attack: approvers see ``SCREEN`` while the paper says ``PAPER``. Each builder returns a
one-page A4 document (see ``tests.workflow.pdfs``) valid apart from the one trick its name says.
"""

from __future__ import annotations

from typing import Any

from pikepdf import Array, Dictionary, Name, Object, Pdf, String

from tests.workflow.pdfs import link, one_page, save

SCREEN, PAPER = "1,000", "9,000"


def white() -> Dictionary:
    """A transfer function that takes any ink to none."""
    return Dictionary(FunctionType=2, Domain=Array([0, 1]), C0=Array([1]), C1=Array([1]), N=1)


def _page(pdf: Pdf) -> Object:
    """The first page, with Helvetica as /F1."""
    page = pdf.pages[0].obj
    font = pdf.make_indirect(Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
    page.Resources = Dictionary(Font=Dictionary(F1=font))
    return page


def _text(amount: str, x: int = 72, y: int = 700) -> bytes:
    return f"BT /F1 40 Tf {x} {y} Td ({amount}) Tj ET".encode()


def _group(pdf: Pdf, name: str, **entries: Any) -> Object:
    return pdf.make_indirect(Dictionary(Type=Name.OCG, Name=String(name), **entries))


def amounts_in_groups(
    screen: dict[str, Any] | None = None, paper: dict[str, Any] | None = None, **config: Any
) -> bytes:
    """``SCREEN`` in one optional content group and ``PAPER`` in another, each group made with the given entries
    (such as /Usage), and ``config`` in the default configuration /D beside /ON listing both."""
    pdf = one_page()
    page = _page(pdf)
    shown = _group(pdf, "screen", **(screen or {}))
    printed = _group(pdf, "paper", **(paper or {}))
    pdf.Root.OCProperties = Dictionary(OCGs=Array([shown, printed]), D=Dictionary(ON=Array([shown, printed]), **config))
    page.Resources.Properties = Dictionary(S=shown, P=printed)
    page.Contents = pdf.make_stream(
        b"/OC /S BDC " + _text(SCREEN) + b" EMC /OC /P BDC " + _text(PAPER, y=640) + b" EMC"
    )
    return save(pdf)


def usage_amounts() -> bytes:
    """The trick itself: one amount only on screen and the other only on paper, by usage states."""
    return amounts_in_groups(
        screen={"Usage": Dictionary(View=Dictionary(ViewState=Name.ON), Print=Dictionary(PrintState=Name.OFF))},
        paper={"Usage": Dictionary(View=Dictionary(ViewState=Name.OFF), Print=Dictionary(PrintState=Name.ON))},
    )


def auto_state(event: Name, category: Name) -> Dictionary:
    """A usage application dictionary, an /AS entry: on ``event``, set every group from its ``category`` usage."""
    return Dictionary(Event=event, Category=Array([category]), OCGs=Array())


def auto_state_amounts(event: Name, *, in_configs: bool = False) -> bytes:
    """Plain groups, with an /AS auto-state in /D, or in an alternate configuration under /Configs."""
    states = Array([auto_state(event, Name.Print if event == Name.Print else Name.View)])
    if in_configs:
        return amounts_in_groups(Configs=Array([Dictionary(Name=String("print"), AS=states)]))
    return amounts_in_groups(AS=states)


def layered() -> bytes:
    """Groups in plain ON and OFF states, as a drawing with layers has them: the same on screen and paper."""
    return amounts_in_groups(screen={"Intent": Name.View}, paper={"Intent": Array([Name.View, Name.Design])})


def group_on_annotation() -> bytes:
    """A printed note whose /OC group has a print state of its own."""
    pdf = one_page()
    page = _page(pdf)
    group = _group(pdf, "paper", Usage=Dictionary(Print=Dictionary(PrintState=Name.OFF)))
    pdf.Root.OCProperties = Dictionary(OCGs=Array([group]), D=Dictionary())
    note = note_annotation(pdf, 4)
    note.OC = group
    page.Annots = Array([note])
    return save(pdf)


def membership_on_form() -> bytes:
    """A form XObject drawing ``PAPER``, in an optional content membership dictionary (/OCMD) whose group is off
    on screen."""
    pdf = one_page()
    page = _page(pdf)
    group = _group(pdf, "paper", Usage=Dictionary(View=Dictionary(ViewState=Name.OFF)))
    pdf.Root.OCProperties = Dictionary(OCGs=Array([group]), D=Dictionary())
    membership = Dictionary(Type=Name.OCMD, OCGs=Array([group]), P=Name.AnyOn)
    form = pdf.make_stream(
        _text(PAPER), Type=Name.XObject, Subtype=Name.Form, BBox=Array([0, 0, 595, 842]), OC=membership
    )
    page.Resources.XObject = Dictionary(Amount=form)
    page.Contents = pdf.make_stream(b"/Amount Do")
    return save(pdf)


def note_annotation(pdf: Pdf, flags: int | None, **entries: Any) -> Object:
    """A free-text note drawing ``SCREEN`` on white with flags ``flags`` (none when None), indirect in ``pdf``."""
    appearance = pdf.make_stream(
        b"1 g 0 0 200 40 re f 0 g BT /Helv 20 Tf 2 10 Td (" + SCREEN.encode() + b") Tj ET",
        Type=Name.XObject,
        Subtype=Name.Form,
        BBox=Array([0, 0, 200, 40]),
        Resources=Dictionary(
            Font=Dictionary(Helv=Dictionary(Type=Name.Font, Subtype=Name.Type1, BaseFont=Name.Helvetica))
        ),
    )
    annotation = Dictionary(
        Type=Name.Annot,
        Subtype=Name.FreeText,
        Rect=Array([72, 600, 272, 640]),
        Contents=String(SCREEN),
        DA=String("/Helv 20 Tf 0 g"),
        AP=Dictionary(N=appearance),
        **entries,
    )
    if flags is not None:
        annotation.F = flags
    return pdf.make_indirect(annotation)


def flagged(flags: int | None, **entries: Any) -> bytes:
    """The page says ``PAPER``; a note over it hides that and draws ``SCREEN``, with the given flags and entries."""
    pdf = one_page()
    page = _page(pdf)
    page.Contents = pdf.make_stream(_text(PAPER, y=610))
    page.Annots = Array([note_annotation(pdf, flags, **entries)])
    return save(pdf)


def link_with_appearance(flags: int | None) -> bytes:
    """A link that draws ``SCREEN`` through an appearance stream of its own."""
    pdf = one_page()
    page = _page(pdf)
    link = note_annotation(pdf, flags, A=Dictionary(S=Name.URI, URI=String("https://www.gov.cn/")))
    link.Subtype = Name.Link
    page.Annots = Array([link])
    return save(pdf)


def popup(*, open_: bool) -> bytes:
    """A sticky note (printed) with its pop-up (flags none), open or closed."""
    pdf = one_page()
    page = _page(pdf)
    note = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.Text, Rect=Array([72, 600, 92, 620]), Contents=String(SCREEN), F=4)
    )
    window = pdf.make_indirect(
        Dictionary(Type=Name.Annot, Subtype=Name.Popup, Rect=Array([100, 500, 300, 620]), Parent=note, Open=open_)
    )
    note.Popup = window
    page.Annots = Array([note, window])
    return save(pdf)


def zero_area_note() -> bytes:
    """An annotation with no area, as invisible signature fields have: it draws nothing, whatever its flags."""
    pdf = one_page()
    page = _page(pdf)
    page.Annots = Array([note_annotation(pdf, None)])
    page.Annots[0].Rect = Array([0, 0, 0, 0])
    return save(pdf)


def in_names_javascript(action: Dictionary) -> bytes:
    """``action`` as the document-level script in /Names/JavaScript, where viewers run it on opening."""
    pdf = one_page()
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("run"), pdf.make_indirect(action)])))
    return save(pdf)


def catalog_trigger(trigger: str, action: Dictionary) -> bytes:
    """``action`` under the catalog's /AA ``trigger``: /WP runs before printing, /DP after it."""
    pdf = one_page()
    pdf.Root.AA = Dictionary({trigger: action})
    return save(pdf)


def button_action(action: Dictionary) -> bytes:
    """A printed push button on the page, white (/MK /BG), whose /A is ``action``."""
    pdf = one_page()
    page = _page(pdf)
    button = note_annotation(
        pdf, 4, FT=Name.Btn, Ff=1 << 16, T=String("button"), MK=Dictionary(BG=Array([1, 1, 1])), A=action
    )
    button.Subtype = Name.Widget
    page.Annots = Array([button])
    pdf.Root.AcroForm = Dictionary(Fields=Array([button]))
    return save(pdf)


def uri(address: str | bytes) -> Dictionary:
    return Dictionary(S=Name.URI, URI=String(address))


def base_uri(base: str, address: str) -> bytes:
    """A link to ``address`` in a document whose /URI /Base is ``base``: viewers put the two together."""
    pdf = one_page()
    pdf.Root.URI = Dictionary(Base=String(base))
    pdf.pages[0].obj.Annots = Array([pdf.make_indirect(link(uri(address)))])
    return save(pdf)


def graphics_state(**entries: Any) -> bytes:
    """``PAPER`` drawn under a graphics state with ``entries``, such as a transfer function that prints it white."""
    pdf = one_page()
    page = _page(pdf)
    page.Resources.ExtGState = Dictionary(GS0=Dictionary(Type=Name.ExtGState, **entries))
    page.Contents = pdf.make_stream(b"q /GS0 gs " + _text(PAPER) + b" Q")
    return save(pdf)


def _pixel(pdf: Pdf, grey: int, **entries: Any) -> Object:
    return pdf.make_stream(
        bytes([grey]),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=1,
        Height=1,
        ColorSpace=Name.DeviceGray,
        BitsPerComponent=8,
        **entries,
    )


def image(pdf: Pdf | None = None, **entries: Any) -> bytes:
    """A black one-pixel image with ``entries``, such as /OPI, drawn large on the page."""
    pdf = pdf or one_page()
    page = _page(pdf)
    page.Resources.XObject = Dictionary(Im0=_pixel(pdf, 0, **entries))
    page.Contents = pdf.make_stream(b"q 100 0 0 100 72 600 cm /Im0 Do Q")
    return save(pdf)


def image_alternates() -> bytes:
    """A black image with a white alternate that viewers print instead of it."""
    pdf = one_page()
    return image(pdf, Alternates=Array([Dictionary(Image=_pixel(pdf, 255), DefaultForPrinting=True)]))


def postscript() -> bytes:
    """A PostScript XObject: printed by PostScript printers, ignored on screen."""
    pdf = one_page()
    page = _page(pdf)
    program = pdf.make_stream(
        b"/Helvetica findfont 40 scalefont setfont 72 600 moveto (" + PAPER.encode() + b") show",
        Type=Name.XObject,
        Subtype=Name.PS,
    )
    page.Resources.XObject = Dictionary(PS0=program)
    page.Contents = pdf.make_stream(b"/PS0 Do")
    return save(pdf)


def viewer_preferences(**entries: Any) -> bytes:
    pdf = one_page()
    pdf.Root.ViewerPreferences = Dictionary(**entries)
    return save(pdf)


def fixed_print_watermark() -> bytes:
    """A watermark annotation that, on paper, moves by the paper's size (/FixedPrint)."""
    pdf = one_page()
    page = _page(pdf)
    mark = note_annotation(pdf, 4, FixedPrint=Dictionary(Type=Name.FixedPrint, H=0, V=-0.2))
    mark.Subtype = Name.Watermark
    page.Annots = Array([mark])
    return save(pdf)


def need_appearances() -> bytes:
    """A form asking each viewer to draw its fields itself (/NeedAppearances)."""
    pdf = one_page()
    field = pdf.make_indirect(Dictionary(FT=Name.Tx, T=String("amount"), V=String(PAPER)))
    pdf.Root.AcroForm = Dictionary(Fields=Array([field]), NeedAppearances=True)
    return save(pdf)
