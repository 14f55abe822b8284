"""Uploads that show the approvers one thing and print another, or that act on their own, are refused at intake
with the reason; documents that show and print alike, with plain links, are accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pikepdf import Dictionary, Name, String

from tests.workflow import deceptive, pdfs
from tests.workflow.conftest import login
from workflow.documents import CheckedPdf, DocumentRefused, check_upload, render

LIMIT = 20 * 2**20

SHOWN_ONLY = "an annotation shows on screen and does not print"
OC = "optional content prints differently than it shows"
PRINTERS = "the PDF may print differently than it shows: it holds what only printers use"
PRINT_STATE = "/Usage /Print /PrintState of an optional content group"
VIEW_STATE = "/Usage /View /ViewState of an optional content group"

SCREEN_AND_PAPER: dict[str, tuple[Callable[[], bytes], str]] = {
    "one amount on screen, another on paper, by usage states": (
        deceptive.usage_amounts,
        f"{OC} ({PRINT_STATE} on page 1, at /Resources/Properties/P)",
    ),
    "an /AS auto-state for printing": (
        lambda: deceptive.auto_state_amounts(Name.Print),
        f"{OC} (an /AS auto-state for the /Print event in the trailer, at /Root/OCProperties/D/AS/0)",
    ),
    "an /AS auto-state for viewing, in an alternate configuration": (
        lambda: deceptive.auto_state_amounts(Name.View, in_configs=True),
        f"{OC} (an /AS auto-state for the /View event in the trailer, at /Root/OCProperties/D/Configs/0/AS/0)",
    ),
    "a zoom range": (
        lambda: deceptive.amounts_in_groups(screen={"Usage": Dictionary(Zoom=Dictionary(min=0, max=1.5))}),
        "optional content shows only at some zoom levels "
        "(/Usage /Zoom of an optional content group on page 1, at /Resources/Properties/S)",
    ),
    "a group with a print state on an annotation": (
        deceptive.group_on_annotation,
        f"{OC} ({PRINT_STATE} on page 1, at /Annots/0/OC)",
    ),
    "a group with a view state in an /OCMD on a form XObject": (
        deceptive.membership_on_form,
        f"{OC} ({VIEW_STATE} on page 1, at /Resources/XObject/Amount/OC/OCGs/0)",
    ),
    "a note with no flags: shown, not printed": (
        lambda: deceptive.flagged(None),
        f"{SHOWN_ONLY} (a /FreeText annotation with /F 0 on page 1, at /Annots/0)",
    ),
    "a note printed and not shown (Print, NoView)": (
        lambda: deceptive.flagged(4 | 32),
        "an annotation prints and does not show on screen (a /FreeText annotation with /F 36 on page 1, at /Annots/0)",
    ),
    "a note hidden and marked for printing": (
        lambda: deceptive.flagged(2 | 4),
        "an annotation is both hidden and marked for printing "
        "(a /FreeText annotation with /F 6 on page 1, at /Annots/0)",
    ),
    "a note that appears under the mouse (Print, NoView, ToggleNoView)": (
        lambda: deceptive.flagged(4 | 256),
        "an annotation shows or hides under the mouse (a /FreeText annotation with /F 260 on page 1, at /Annots/0)",
    ),
    "a note with flags that are not a number": (
        lambda: deceptive.flagged(None, F=String("4")),
        f"{SHOWN_ONLY} (a /FreeText annotation with /F 0 on page 1, at /Annots/0)",
    ),
    "a link with an appearance of its own, not printed": (
        lambda: deceptive.link_with_appearance(None),
        f"{SHOWN_ONLY} (a /Link annotation with /F 0 on page 1, at /Annots/0)",
    ),
    "an open pop-up, not printed": (
        lambda: deceptive.popup(open_=True),
        f"{SHOWN_ONLY} (a /Popup annotation with /F 0 on page 1, at /Annots/0/Popup)",
    ),
    "an image with an alternate for printing": (
        deceptive.image_alternates,
        f"{PRINTERS} (/Alternates of an image on page 1, at /Resources/XObject/Im0)",
    ),
    "an image with an /OPI proxy": (
        lambda: deceptive.image(OPI=Dictionary()),
        f"{PRINTERS} (/OPI on page 1, at /Resources/XObject/Im0)",
    ),
    "a PostScript XObject": (
        deceptive.postscript,
        f"{PRINTERS} (a PostScript XObject (/Subtype /PS) on page 1, at /Resources/XObject/PS0)",
    ),
    "a transfer function that prints everything white": (
        lambda: deceptive.graphics_state(TR=deceptive.white()),
        f"{PRINTERS} (/TR in a graphics state on page 1, at /Resources/ExtGState/GS0)",
    ),
    "a halftone": (
        lambda: deceptive.graphics_state(HT=Dictionary(HalftoneType=1, Frequency=1, Angle=0, SpotFunction=Name.Round)),
        f"{PRINTERS} (/HT in a graphics state on page 1, at /Resources/ExtGState/GS0)",
    ),
    "printing the media box where the screen shows the crop box": (
        lambda: deceptive.viewer_preferences(PrintArea=Name.MediaBox),
        f"{PRINTERS} (/PrintArea /MediaBox in /ViewerPreferences in the trailer, at /Root/ViewerPreferences)",
    ),
    "printing only some pages": (
        lambda: deceptive.viewer_preferences(PrintPageRange=[1, 1]),
        f"{PRINTERS} (/PrintPageRange in /ViewerPreferences in the trailer, at /Root/ViewerPreferences)",
    ),
    "a watermark placed by the paper's size": (
        deceptive.fixed_print_watermark,
        f"{PRINTERS} (/FixedPrint of a watermark on page 1, at /Annots/0)",
    ),
    "fields every viewer draws its own way": (
        deceptive.need_appearances,
        "the PDF's form fields look as each viewer draws them (/NeedAppearances in /AcroForm)",
    ),
}


@pytest.mark.parametrize(("build", "reason"), SCREEN_AND_PAPER.values(), ids=SCREEN_AND_PAPER.keys())
def test_what_prints_other_than_it_shows_is_refused(build: Callable[[], bytes], reason: str) -> None:
    with pytest.raises(DocumentRefused) as raised:
        check_upload(build(), max_bytes=LIMIT)
    assert raised.value.detail == reason


ACTIONS: dict[str, tuple[Callable[[], Dictionary], str]] = {  # built afresh: a PDF takes what it is given
    "/SubmitForm": (
        lambda: Dictionary(S=Name.SubmitForm, F=Dictionary(FS=Name.URL, F=String("https://collector.example/"))),
        "the PDF submits form data to a server (/SubmitForm action",
    ),
    "/ImportData": (pdfs.import_data_action, "the PDF asks to import data from a file (/ImportData action"),
    "/GoToR": (
        lambda: Dictionary(S=Name.GoToR, F=String("other.pdf"), D=[0, Name.Fit]),
        "the PDF opens another document (/GoToR action",
    ),
    "/GoToE": (
        lambda: Dictionary(S=Name.GoToE, T=Dictionary(R=Name.C, N=String("hidden.pdf")), D=[0, Name.Fit]),
        "the PDF opens another document (/GoToE action",
    ),
    "/Launch": (pdfs.launch_action, "the PDF asks to launch a program (/Launch action"),
    "/JavaScript": (pdfs.javascript_action, "the PDF contains JavaScript (/JS"),
    "javascript: URI": (
        lambda: deceptive.uri(" \t\x00JaVa\nScRiPt:app.alert(1)"),
        "the PDF contains JavaScript (a javascript: URI (/URI)",
    ),
}
PLACES: dict[str, tuple[Callable[[Dictionary], bytes], str]] = {
    "/OpenAction": (pdfs.open_action, " in /OpenAction)"),
    "a link's /A": (lambda action: pdfs.annotated(pdfs.link(action)), " on page 1, at /Annots/0/A)"),
    "a page's /AA, chained by /Next": (pdfs.page_additional_action, " on page 1, at /AA/O/Next)"),
    "/Names/JavaScript": (deceptive.in_names_javascript, " in /Names/JavaScript, at /Names/1)"),
    "the catalog's /AA before printing": (
        lambda action: deceptive.catalog_trigger("/WP", action),
        " in the catalog's /AA, at /WP)",
    ),
    "a button's /A": (deceptive.button_action, " on page 1, at /Annots/0/A)"),
}


@pytest.mark.parametrize("place", PLACES, ids=PLACES.keys())
@pytest.mark.parametrize("kind", ACTIONS, ids=ACTIONS.keys())
def test_actions_that_act_or_leave_the_document_are_refused_wherever_they_are(kind: str, place: str) -> None:
    action, reason = ACTIONS[kind]
    build, where = PLACES[place]
    with pytest.raises(DocumentRefused) as raised:
        check_upload(build(action()), max_bytes=LIMIT)
    assert raised.value.detail == reason + where


@pytest.mark.parametrize(
    "action",
    [Dictionary(S=Name.Hide, T=String("amount")), Dictionary(S=Name.SetOCGState, State=[Name.OFF]),
     Dictionary(S=Name.ResetForm)],
    ids=["/Hide", "/SetOCGState", "/ResetForm"],
)  # fmt: skip
def test_actions_that_change_what_shows_are_refused(action: Dictionary) -> None:
    with pytest.raises(DocumentRefused) as raised:
        check_upload(deceptive.catalog_trigger("/WP", action), max_bytes=LIMIT)
    kind = action.S.unparse().decode()
    reason = "the PDF changes what it shows when an action runs"
    assert raised.value.detail == f"{reason} ({kind} action in the catalog's /AA, at /WP)"


@pytest.mark.parametrize(
    "address",
    ["javascript:app.alert(1)", "JAVASCRIPT:app.alert(1)", "\x01\x1f javascript:x", "java\tscript:x",
     "jav\r\nascript:x", "\u200b\ufeffjavascript:x", b"\xfe\xff" + "JavaScript:x".encode("utf-16-be")],
    ids=["plain", "upper case", "controls and a space before", "a tab inside", "a line break inside",
         "zero-width characters before", "UTF-16 with a byte order mark"],
)  # fmt: skip
def test_javascript_uris_are_refused_in_any_case_and_spacing(address: str | bytes) -> None:
    with pytest.raises(DocumentRefused, match=r"^the PDF contains JavaScript \(a javascript: URI \(/URI\) on page 1"):
        check_upload(pdfs.annotated(pdfs.link(deceptive.uri(address))), max_bytes=LIMIT)


def test_a_javascript_base_uri_is_refused() -> None:
    with pytest.raises(DocumentRefused) as raised:
        check_upload(deceptive.base_uri("javascript:", "app.alert(1)"), max_bytes=LIMIT)
    assert raised.value.detail == "the PDF contains JavaScript (a javascript: URI (/Base) in the trailer, at /Root/URI)"


ACCEPTED: dict[str, Callable[[], bytes]] = {
    "a plain https link": lambda: pdfs.annotated(pdfs.link(deceptive.uri("https://www.gov.cn/"))),
    "a plain http link with javascript: further on": lambda: pdfs.annotated(
        pdfs.link(deceptive.uri("http://www.gov.cn/search?q=javascript:"))
    ),
    "a relative link under an https base": lambda: deceptive.base_uri("https://www.gov.cn/", "zhengce/"),
    "/GoTo and /Named actions": lambda: pdfs.page_additional_action(Dictionary(S=Name.Named, N=Name.NextPage)),
    "layers in plain ON and OFF states": deceptive.layered,
    "a note printed and shown": lambda: deceptive.flagged(4),
    "a note printed and shown, locked and not zoomed": lambda: deceptive.flagged(4 | 8 | 16 | 128),
    "a note hidden everywhere": lambda: deceptive.flagged(2),
    "a note hidden everywhere, with NoView too": lambda: deceptive.flagged(2 | 32),
    "a note neither shown nor printed (NoView)": lambda: deceptive.flagged(32),
    "a note with no area, as an invisible signature has": deceptive.zero_area_note,
    "a closed pop-up": lambda: deceptive.popup(open_=False),
    "identity transfer functions and the default halftone": lambda: deceptive.graphics_state(
        TR=Name.Identity, TR2=Name.Default, HT=Name.Default
    ),
    "viewer preferences that print the crop box": lambda: deceptive.viewer_preferences(
        PrintArea=Name.CropBox, ViewArea=Name.CropBox, PrintScaling=Name.none, NumCopies=2
    ),
    "a form field with a background colour (/MK /BG)": lambda: deceptive.button_action(
        Dictionary(S=Name.Named, N=Name.Print)
    ),
    "links, a form and an outline": pdfs.busy,
}


@pytest.mark.parametrize("build", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_shows_and_prints_alike_is_accepted(build: Callable[[], bytes]) -> None:
    assert isinstance(check_upload(build(), max_bytes=LIMIT), CheckedPdf)


def test_a_rendered_document_with_links_is_accepted(tmp_path: Path) -> None:
    """WeasyPrint writes links without flags and without an appearance: they draw nothing that could differ."""
    (tmp_path / "links.html").write_text(
        '<p><a href="https://www.gov.cn/">政策</a> <a href="#end">下文</a></p><p id="end">完</p>', encoding="utf-8"
    )
    assert check_upload(render("links.html", {}, templates=tmp_path), max_bytes=LIMIT).pages == 1


def test_an_upload_over_http_is_refused_with_the_reason(client: TestClient) -> None:
    body = {
        "matter": "test.residence",
        "organisation": "yz.sn",
        "seal": "village_official",
        "seal_form": "electronic",
        "purpose": "办理居住证明",
        "form": {"address": "水南村一组 12 号"},
    }
    refused = client.post(
        "/api/v1/requests",
        headers=login(client, "resident"),
        files={"document": ("doc.pdf", deceptive.usage_amounts(), "application/pdf")},
        data={"request": json.dumps(body, ensure_ascii=False)},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/document-refused")
    assert problem["detail"] == f"{OC} ({PRINT_STATE} on page 1, at /Resources/Properties/P)"
