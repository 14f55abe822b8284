"""A refused request says what is wrong in the page's language (Chinese by default, English on request), from the
kind of refusal the service names, not in the English of the schema's validator or of a PDF tool: at each field
of its form, at the top for an error the page has no field for, and for a document that cannot be sealed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from api.i18n import translations
from api.pages import refusal_words, schema_form
from tests.web.conftest import sign_in
from tests.web.test_applicants import NO_FILE, fields, form_matter
from tests.workflow import pdfs
from workflow import forms
from workflow.forms import InvalidForm


def refused(
    browser: TestClient,
    changed: Mapping[str, str] = MappingProxyType({}),
    *,
    lang: str | None = None,
    document: bytes | None = None,
) -> str:
    csrf = sign_in(browser, "sn.resident")
    answer = browser.post(
        "/requests/new",
        params={"lang": lang} if lang else None,
        data={"csrf": csrf, **fields(**changed)},
        files=NO_FILE if document is None else {"document": ("申请.pdf", document, "application/pdf")},
    )
    assert answer.status_code == 422, answer.text
    return str(answer.text)


def problem(text: str) -> str:
    return f'<small class="problem">{text}</small>'


def test_each_field_says_what_is_wrong_in_chinese(browser: TestClient) -> None:
    page = refused(browser, {"form.cycles": "两茬", "form.area": "0", "form.crop": "土豆"})
    assert problem("请填写整数") in page
    assert problem("必须大于 0") in page
    assert problem("请从选项中选择") in page
    assert "申请未能提交： 请修改下面标出的内容。" in page
    for english in ("is not of type", "less than or equal to the minimum", "is not one of"):
        assert english not in page
    # The anchor is looked for once the form is valid.
    anchored = refused(browser, {"form.location": "水南村东洋（盖章）"})
    assert problem("不能含有“（盖章）”：印章盖在这几个字上") in anchored
    assert "may not hold" not in anchored


def test_a_general_field_is_said_at_it_and_one_the_page_lacks_at_the_top(browser: TestClient) -> None:
    long = refused(browser, {"purpose": "补" * 2001})
    assert problem("最多 2000 个字") in long
    # The subsidy is sealed electronically: its page has no field for the place, so the error is said at the top.
    placed = refused(browser, {"place": "村委会（盖章）"})
    assert "申请未能提交： 用章地点：不能含有“（盖章）”：印章盖在这几个字上" in placed


def test_english_on_request(browser: TestClient) -> None:
    page = refused(browser, {"form.area": "600"}, lang="en")
    assert problem("At most 500") in page
    assert "Correct what is marked below." in page


def test_each_kind_is_worded_and_an_unknown_one_keeps_the_services_words() -> None:
    chinese = translations("zh_CN").gettext
    assert refusal_words.said({"type": "maximum", "limit": 500.0, "message": "x"}, chinese) == "不能大于 500"
    assert refusal_words.said({"type": "minimum", "limit": 0.5, "message": "x"}, chinese) == "不能小于 0.5"
    assert refusal_words.said({"type": "type", "expected": "number", "message": "x"}, chinese) == "请填写数字"
    assert refusal_words.said({"type": "type", "expected": "object", "message": "x"}, chinese) == "填写的内容类型不对"
    assert refusal_words.said({"type": "uniqueItems", "message": "has 100% repeats"}, chinese) == "has 100% repeats"
    assert refusal_words.said({"pointer": "/form/a", "message": "odd"}, chinese) == "odd"
    assert refusal_words.said({"type": "maximum", "message": "too big"}, chinese) == "too big"  # no limit to say

    class Body(BaseModel):
        purpose: str = Field(max_length=5)
        copies: int = Field(ge=1)
        note: str

    try:
        Body.model_validate({"purpose": "123456", "copies": "x"})
    except ValidationError as exc:
        found = [refusal_words.from_pydantic(e) for e in exc.errors()]
    assert [{k: v for k, v in e.items() if k != "message"} for e in found] == [
        {"pointer": "/purpose", "type": "maxLength", "limit": 5},
        {"pointer": "/copies", "type": "type", "expected": "integer"},
        {"pointer": "/note", "type": "required"},
    ]


def test_a_document_that_cannot_be_sealed_is_said_why(browser: TestClient) -> None:
    assert "申请未能提交： 文件不是 PDF 格式</p>" in refused(browser, document="兹证明".encode())
    damaged = refused(browser, document=pdfs.clean()[:-20])
    assert re.search(r"申请未能提交： PDF 文件已损坏（\S[^<]*）</p>", damaged), damaged
    assert "The file is not a PDF</p>" in refused(browser, lang="en", document=b"GIF89a")


def test_a_document_refusal_of_a_kind_not_known_keeps_the_services_words() -> None:
    chinese = translations("zh_CN").gettext
    assert refusal_words.document("odd", None, "the PDF is odd", chinese) == "the PDF is odd"
    assert refusal_words.document("too-large", None, "too large", chinese) == "too large"
    assert refusal_words.document("too-large", "20 MB", "x", chinese) == "PDF 文件超过 20 MB"


def test_a_field_whose_name_holds_a_slash_gets_its_own_error() -> None:
    """The service escapes a field's name in its pointer (RFC 6901); the page finds the field by the same rule,
    so "面积/亩" gets its error and "面积" does not take it."""
    matter = form_matter(
        {
            "type": "object",
            "properties": {
                "面积": {"type": "number", "title": "面积"},
                "面积/亩": {"type": "number", "title": "面积（亩）", "maximum": 500},
            },
        }
    )
    with pytest.raises(InvalidForm) as refused:
        forms.prepare(matter, {"面积": 1, "面积/亩": 600}, {})
    errors = refused.value.extensions["errors"]
    assert [e["pointer"] for e in errors] == ["/form/面积~1亩"]
    shown = {f.name: f.error for f in schema_form.fields(matter, {}, {}, errors)}
    assert shown == {"面积": None, "面积/亩": errors[0]["message"]}
