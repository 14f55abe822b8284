"""The applicant's pages: a resident asks for the winter vegetable subsidy through the form its matter's schema
generates, sees the subsidy computed as it is typed, finds the request among theirs, follows, withdraws or
resubmits it; the negative list is refused with its rule, and nobody else's request opens."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from typing import Any

import pikepdf
from cryptography import x509
from fastapi.testclient import TestClient
from PIL import Image
from starlette.datastructures import FormData

from api.pages import schema_form
from bench.machines import machine_csr
from core.clock import ManualClock
from core.runtime import Runtime
from physical_seal import structures
from tests.web.conftest import csrf_of, password, sign_in
from tests.workflow import pdfs
from tests.workflow.test_physical import MACHINE, Machine, approved, pulled, upload
from workflow import previews
from workflow.catalog import Matter

SUBSIDY = "agri.winter-vegetable-subsidy"
FORM = {"phone": "13876543210", "crop": "辣椒", "cycles": "2", "area": "3.5", "location": "水南村东洋"}
NO_FILE = {"document": ("", b"", "application/octet-stream")}  # what a browser sends when no file is chosen


def fields(**general: str) -> dict[str, str]:
    return {
        "matter": SUBSIDY,
        "organisation": "yazhou.shuinan",
        "seal": "village_official",
        "seal_form": "electronic",
        "purpose": "申请2026年冬季瓜菜种植补贴",
        **{f"form.{name}": value for name, value in FORM.items()},
        **general,
    }


def submit(browser: TestClient, csrf: str, **general: str) -> tuple[int, str]:
    """The new request's id, and the page the form went on to."""
    answer = browser.post("/requests/new", data={"csrf": csrf, **fields(**general)}, files=NO_FILE)
    assert answer.status_code == 303, answer.text
    found = re.match(r"/requests/(\d+)\?done=", answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return int(found.group(1)), answer.headers["location"]


def decide(browser: TestClient, username: str, request_id: int, **decision: Any) -> None:
    """A decision through the API, as the approvers' own pages are another part of the application."""
    token = browser.post("/api/v1/auth/token", data={"username": username, "password": password(username)})
    answer = browser.post(
        f"/api/v1/requests/{request_id}/decisions",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        json=decision,
    )
    assert answer.status_code == 200, answer.text


def test_a_resident_asks_for_the_subsidy_and_finds_it(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    chooser = browser.get("/requests/new")
    assert chooser.status_code == 200
    assert f'<option value="{SUBSIDY}">冬季瓜菜种植补贴</option>' in chooser.text
    # The negative list is shown before anything is submitted, each item with its rule.
    assert "亲属关系证明" in chooser.text
    assert "民发〔2020〕20号" in chooser.text
    assert "以下证明事项，村（居）委会不予出具" in chooser.text

    form = browser.get("/requests/new", params={"matter": SUBSIDY, "organisation": "yazhou.shuinan"})
    assert form.status_code == 200
    assert 'name="form.phone"' in form.text
    assert 'name="form.area"' in form.text
    # What the verified profile fills in is shown masked and not asked; the computed subsidy is not asked either.
    assert 'name="form.id_number"' not in form.text
    assert "4602**********1222" in form.text
    assert "460204197803121222" not in form.text
    assert 'name="form.amount"' not in form.text
    assert 'hx-post="/requests/new/preview"' in form.text
    assert 'hx-trigger="input changed delay:300ms"' in form.text
    assert '<option value="yazhou.shuinan.g1" selected>' in form.text  # the resident's own group

    preview = browser.post(
        "/requests/new/preview",
        data={"csrf": csrf, "matter": SUBSIDY, "form.crop": "辣椒", "form.cycles": "2", "form.area": "3.5"},
    )
    assert preview.status_code == 200
    assert "2100.00" in preview.text  # 3.5 亩 × 300 元 × 2 茬
    assert "<html" not in preview.text  # a fragment for htmx to put in place
    half = browser.post("/requests/new/preview", data={"csrf": csrf, "matter": SUBSIDY, "form.crop": "辣椒"})
    assert "2100.00" not in half.text

    request_id, then = submit(browser, csrf)
    page = browser.get(then)
    assert page.status_code == 200
    assert "您的申请已提交" in page.text  # the notice after the form
    assert "审批中" in page.text
    assert "村民小组长审核" in page.text
    assert "2100.0" in page.text
    assert f'src="/requests/{request_id}/pages/1"' in page.text  # the document, shown as pictures of its pages
    assert f'href="/requests/{request_id}/document"' in page.text
    assert "/records/" in page.text  # the applicant's public record link

    mine = browser.get("/requests")
    assert mine.status_code == 200
    number = re.search(r"\d{4}-\d{6}", mine.text)
    assert number is not None
    assert f'href="/requests/{request_id}"' in mine.text
    assert "审批中" in mine.text
    assert f'href="/requests/{request_id}"' in browser.get("/requests", params={"state": "in_review"}).text
    assert f'href="/requests/{request_id}"' not in browser.get("/requests", params={"state": "completed"}).text
    assert f'href="/requests/{request_id}"' in browser.get("/requests", params={"matter": SUBSIDY}).text

    document = browser.get(f"/requests/{request_id}/document")
    assert document.status_code == 200
    assert document.content.startswith(b"%PDF")
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith("inline")
    assert document.headers["cache-control"] == "private"
    assert browser.get(f"/requests/{request_id}/sheet").status_code == 404  # an electronic seal has no sheet

    # The group leader, whose step is open, sees it among the requests he may see and is offered to decide.
    sign_in(browser, "sn.g1.leader")
    assert f'href="/requests/{request_id}"' in browser.get("/requests", params={"scope": "visible"}).text
    assert f'href="/inbox/{request_id}"' in browser.get(f"/requests/{request_id}").text
    assert f'href="/requests/{request_id}"' not in browser.get("/requests").text


def test_refusals_keep_what_was_typed(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    refused = browser.post(
        "/requests/new",
        data={"csrf": csrf, **fields(matter="neg.kinship", purpose="证明我与父亲符老三的亲属关系")},
        files=NO_FILE,
    )
    assert refused.status_code == 422
    assert "民发〔2020〕20号" in refused.text
    assert "第1项" in refused.text
    assert "证明我与父亲符老三的亲属关系" in refused.text
    assert browser.get("/requests").text.count('class="badge') == 0  # nothing was submitted
    # Chosen by its link, the same matter is explained at once, before any form.
    explained = browser.get("/requests/new", params={"matter": "neg.kinship"})
    assert explained.status_code == 200
    assert "村（居）委会不出具此项证明" in explained.text
    assert "第1项" in explained.text
    assert 'action="/requests/new" enctype' not in explained.text

    invalid = browser.post(
        "/requests/new",
        data={"csrf": csrf, **fields(**{"form.area": "600", "form.location": "水南村东洋南片"})},
        files=NO_FILE,
    )
    assert invalid.status_code == 422
    assert 'value="600"' in invalid.text
    assert 'value="水南村东洋南片"' in invalid.text
    assert 'value="13876543210"' in invalid.text
    assert "<option selected>辣椒</option>" in invalid.text
    assert "申请2026年冬季瓜菜种植补贴" in invalid.text
    assert '<small class="problem">不能大于 500</small>' in invalid.text  # said in the page's language

    empty = browser.post("/requests/new", data={"csrf": csrf, **fields(purpose="")}, files=NO_FILE)
    assert empty.status_code == 422
    assert 'value="水南村东洋"' in empty.text


def test_only_those_who_may_see_a_request_open_it(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    request_id, _ = submit(browser, csrf)
    sign_in(browser, "bl.resident")
    for path in ("", "/document", "/document?original=true", "/sheet", "/pages/1"):
        assert browser.get(f"/requests/{request_id}{path}").status_code == 404, path
    assert f'href="/requests/{request_id}"' not in browser.get("/requests?scope=visible").text
    # Signed out, the page asks to sign in first.
    browser.cookies.clear()
    answer = browser.get(f"/requests/{request_id}")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_the_document_is_shown_as_pictures_of_its_pages(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    request_id, _ = submit(browser, csrf)
    page = browser.get(f"/requests/{request_id}").text
    shown = re.findall(rf'src="/requests/{request_id}/pages/(\d+)"', page)
    assert shown == ["1"]  # the subsidy's form is one page
    picture = browser.get(f"/requests/{request_id}/pages/1")
    assert picture.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(picture.content)) as image:
        assert image.width == previews.WIDTH
        darkest, _ = image.convert("L").getextrema()
        assert not isinstance(darkest, tuple)
        assert darkest < 64  # there is dark text on it
    assert browser.get(f"/requests/{request_id}/pages/2").status_code == 404
    assert browser.get(f"/requests/{request_id}/pages/0").status_code == 422
    assert browser.get(f"/requests/{request_id}/pages/99999999999999999999999").status_code == 422


def test_withdraw_and_resubmit(browser: TestClient) -> None:
    csrf = sign_in(browser, "sn.resident")
    request_id, _ = submit(browser, csrf)
    other, _ = submit(browser, csrf)

    # Without the form's token nothing happens.
    assert browser.post(f"/requests/{request_id}/withdraw", data={"reason": "不需要了"}).status_code == 403
    assert "审批中" in browser.get(f"/requests/{request_id}").text
    # Another resident cannot withdraw it.
    bl_csrf = sign_in(browser, "bl.resident")
    assert browser.post(f"/requests/{request_id}/withdraw", data={"csrf": bl_csrf}).status_code == 404
    csrf = sign_in(browser, "sn.resident")
    withdrawn = browser.post(f"/requests/{request_id}/withdraw", data={"csrf": csrf, "reason": "不需要了"})
    assert withdrawn.status_code == 303
    page = browser.get(withdrawn.headers["location"])
    assert "已撤回" in page.text
    assert f'action="/requests/{request_id}/withdraw"' not in page.text
    again = browser.post(f"/requests/{request_id}/withdraw", data={"csrf": csrf})
    assert again.status_code == 409

    # Returned to the applicant, the other request is changed and sent again, its document written anew.
    decide(browser, "sn.g1.leader", other, decision="return", level=1, to_level=0, comment="面积请核实")
    before = browser.get(f"/requests/{other}/document").content
    page = browser.get(f"/requests/{other}")
    assert "面积请核实" in page.text
    assert f'action="/requests/{other}/resubmit"' in page.text
    form = {f"form.{name}": value for name, value in FORM.items()}
    refused = browser.post(
        f"/requests/{other}/resubmit", data={"csrf": csrf_of(page.text), **form, "form.cycles": "9"}, files=NO_FILE
    )
    assert refused.status_code == 422
    assert 'value="9"' in refused.text
    resubmitted = browser.post(
        f"/requests/{other}/resubmit", data={"csrf": csrf, **form, "form.area": "3"}, files=NO_FILE
    )
    assert resubmitted.status_code == 303
    page = browser.get(f"/requests/{other}")
    assert "审批中" in page.text
    assert "1800.0" in page.text
    after = browser.get(f"/requests/{other}/document?original=true").content
    assert after.startswith(b"%PDF")
    assert after != before


def test_a_physical_seal_shows_its_sheet_its_stamps_and_their_photos(
    browser: TestClient, runtime: Runtime, demo_data: dict[str, Any]
) -> None:
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    machine = Machine()
    body = {"code": demo_data["enrolment_codes"][MACHINE], "csr": machine_csr(MACHINE, machine.key)}
    enrolled = browser.post(f"/api/v1/terminals/{MACHINE}/enrol", json=body)
    assert enrolled.status_code == 200, enrolled.text
    machine.credential = enrolled.json()["credential"]
    root = x509.load_der_x509_certificate(base64.b64decode(enrolled.json()["chain"][1]))
    request_id = approved(browser, 2, pdfs.save(pdfs.one_page("劳务协议")))
    [offered] = pulled(browser, machine)
    signed = structures.open_signed_by_service(
        structures.Authorisation, base64.b64decode(offered["cose"]), root, clock.now()
    )
    photo = b"the stamped sheet"
    stamp = machine.event(clock, auth=signed.id, use=1, doc=signed.doc, photo=hashlib.sha256(photo).digest())
    assert upload(browser, machine, stamp)[0]["status"] == "accepted"
    stored = browser.post(
        f"/api/v1/terminals/{MACHINE}/photos", params={"counter": 1}, content=photo, headers=machine.auth
    )
    assert stored.status_code == 200, stored.text

    sign_in(browser, "sn.staff")  # who submitted it
    page = browser.get(f"/requests/{request_id}")
    assert page.status_code == 200
    assert "正在用印" in page.text  # one of its two uses stamped
    assert f'href="/requests/{request_id}/sheet"' in page.text
    link = f"/requests/{request_id}/photos/{hashlib.sha256(photo).hexdigest()}"
    assert f'src="{link}"' in page.text
    assert browser.get(link).content == photo
    assert browser.get(f"/requests/{request_id}/photos/{'0' * 64}").status_code == 404
    sheet = browser.get(f"/requests/{request_id}/sheet")
    assert sheet.content.startswith(b"%PDF")
    assert sheet.headers["content-disposition"].startswith("inline")
    sign_in(browser, "sn.custodian1")  # a custodian of the machine authorised prints and checks the sheet
    assert browser.get(f"/requests/{request_id}/sheet").content.startswith(b"%PDF")
    assert browser.get(f"/requests/{request_id}/document").status_code == 200
    sign_in(browser, "yz.inspector")  # follows the request, takes nothing of its document
    assert browser.get(f"/requests/{request_id}").status_code == 200
    for path in ("/sheet", "/document", "/document?original=true"):
        assert browser.get(f"/requests/{request_id}{path}").status_code == 403, path
    sign_in(browser, "bl.resident")
    assert browser.get(link).status_code == 404


def form_matter(form: dict[str, Any], computed: dict[str, str] | None = None) -> Matter:
    """A matter sealed electronically by the village, with ``form`` and its ``computed`` fields."""
    return Matter.model_validate(
        {
            "code": "test.form",
            "name": "测试",
            "class": "civil",
            "description": "测试",
            "seals": ["village_official"],
            "forms": ["electronic"],
            "chain": "village",
            "form": form,
            "computed": computed or {},
        }
    )


def test_the_form_reads_numbers_as_numbers_and_nothing_else() -> None:
    matter = form_matter(
        {
            "type": "object",
            "properties": {
                "note": {"type": "string", "title": "备注"},
                "area": {"type": "number", "title": "面积", "maximum": 500},
                "count": {"type": "integer", "title": "数量"},
                "agreed": {"type": "boolean", "title": "同意"},
                "total": {"type": "number", "title": "合计"},
            },
            "required": ["count", "area"],
        },
        {"total": "area * count"},
    )
    typed = FormData(
        [("form.note", "  "), ("form.area", "nan"), ("form.count", "3"), ("form.agreed", "on"), ("form.total", "9")]
    )
    # Not a number stays text for the schema to refuse; an empty field is left out; a computed one is never read.
    assert schema_form.read(matter, typed) == {"area": "nan", "count": 3, "agreed": True}
    assert schema_form.read(matter, typed, numbers_only=True) == {"count": 3, "agreed": True}
    assert schema_form.read(matter, FormData([("form.area", "2.5"), ("form.count", "1e3")])) == {
        "area": 2.5,
        "count": "1e3",
        "agreed": False,
    }
    shown = schema_form.fields(matter, {}, {"count": 3}, [{"pointer": "/form/area", "message": "required"}])
    assert [(f.name, f.kind, f.required) for f in shown] == [
        ("count", "integer", True),
        ("area", "number", True),
        ("note", "text", False),
        ("agreed", "boolean", False),
        ("total", "computed", False),
    ]
    assert (shown[0].value, shown[1].error, shown[1].maximum) == (3, "required", 500)


def test_a_page_drawn_a_mile_long_is_pictured_small(runtime: Runtime) -> None:
    """The size of a page's picture is bounded whatever size the page claims."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(10, 14000))  # 3.5 mm wide, 4.9 m long
    data = io.BytesIO()
    pdf.save(data)
    sha256 = runtime.blobs.put(data.getvalue()).sha256
    with Image.open(io.BytesIO(previews.page_png(runtime.blobs, sha256, 1))) as image:
        assert image.height <= previews.MAX_HEIGHT
        assert image.width <= previews.WIDTH
