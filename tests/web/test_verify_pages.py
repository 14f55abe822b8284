"""The verification page and the public record, on the demo: a request of 水南村 sealed for real with its electronic
seal, then checked on /verify (the verdict, the approval chain from the log, the checkpoint its inclusion proof
was checked against), tampered with, and opened from its QR code's link by the applicant and by a stranger."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

from api.pages import verdict_words
from ca import hierarchy, seals
from core.runtime import Runtime
from tests.signer.pki import blank_pdf
from tests.web.conftest import password, sign_in
from tests.web.test_explorer import untranslated
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY

APPLICANT_NAME = "符阿妹"  # sn.resident's display name in the demo


@dataclass(frozen=True)
class Sealed:
    request: dict[str, Any]
    pdf: bytes


def bearer(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": password(username)})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
def sealed(browser: TestClient, runtime: Runtime) -> Sealed:
    """水南村's electronic official seal issued, a resident's request approved at its three levels, sealed by the
    service's own executor, and its seal in a published checkpoint."""
    now = runtime.clock.now()
    with runtime.sessions() as session:
        authority = hierarchy.load(session, runtime.keystore)
        seal = seals.add(session, "yazhou.shuinan", "village_official", seals.SealForm.ELECTRONIC, "公章", now, "test")
        seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
    resident = bearer(browser, "sn.resident")
    submitted = browser.post("/api/v1/requests", headers=resident, json=WINTER_VEGETABLE_SUBSIDY)
    assert submitted.status_code == 201, submitted.text
    rid = submitted.json()["id"]
    for who, level in (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3)):
        decided = browser.post(
            f"/api/v1/requests/{rid}/decisions",
            headers=bearer(browser, who),
            json={"decision": "approve", "level": level},
        )
        assert decided.status_code == 200, decided.text
    browser.app.state.workers.once()  # type: ignore[attr-defined]
    browser.app.state.log.integrator.run_until_idle()  # type: ignore[attr-defined]
    done = browser.get(f"/api/v1/requests/{rid}", headers=resident).json()
    assert done["state"] == "completed", done
    pdf = browser.get(f"/api/v1/requests/{rid}/document", headers=resident).content
    return Sealed(done, pdf)


def verify(client: TestClient, pdf: bytes, lang: str = "zh_CN") -> str:
    page = client.post(f"/verify?lang={lang}", files={"file": ("sealed.pdf", pdf, "application/pdf")})
    assert page.status_code == 200, page.text
    text: str = page.text
    return text


def test_a_sealed_document_passes_with_its_chain_and_a_changed_byte_fails(browser: TestClient, sealed: Sealed) -> None:
    page = verify(browser, sealed.pdf, "en")
    assert '<h2 class="passed">TOTAL-PASSED</h2>' in page
    chain = page[page.index("Approval chain, from the log") :]
    assert chain.count("request.decided") == 3
    for level in (1, 2, 3):
        assert f"level {level}" in chain
    assert "seal.applied" in chain
    checkpoint = browser.get("/log/checkpoint").text.split("\n")
    assert f"size {checkpoint[1]}" in page
    assert checkpoint[2] in page  # the root hash the proof was checked against
    index = re.search(r'href="/explorer/entries/(\d+)">#\1</a> — <span class="passed">', page)
    assert index is not None, "the seal's log entry links to the explorer"
    chinese = verify(browser, sealed.pdf)
    assert '<h2 class="passed">验证通过</h2>' in chinese
    assert "加盖电子印章" in chinese
    assert chinese.count("第 2 级") >= 1
    assert untranslated(chinese) == []
    tampered = bytearray(sealed.pdf)
    tampered[tampered.index(b"/MediaBox") + 1] = ord("m")  # a signed byte of the original document
    page = verify(browser, bytes(tampered), "en")
    assert "TOTAL-PASSED" not in page
    assert '<h2 class="failed">TOTAL-FAILED</h2>' in page
    assert '<td class="failed">changed</td>' in page
    assert "The sealed content was altered: it no longer matches the seal." in page  # why, beside HASH_FAILURE
    chinese = verify(browser, bytes(tampered))
    assert '<h2 class="failed">验证失败</h2>' in chinese
    # the document's verdict, the seal's and the document timestamp's, both over the changed byte
    assert chinese.count("盖章的内容已被篡改，与印章不再相符。") == 3


def test_every_sub_indication_of_the_standard_is_said_in_words() -> None:
    """ETSI EN 319 102-1's closed list, as pyHanko names it: a report may give any of them."""
    standard = {s.name for s in (*AdESFailure, *AdESIndeterminate)}
    assert standard == set(verdict_words.SUB_INDICATIONS)


def test_a_file_that_cannot_be_verified_is_said_in_the_page_language(browser: TestClient, tmp_path: Path) -> None:
    """Why, by the kind the refusal names; what the parser found is kept beneath for a damaged file."""
    unsigned = blank_pdf(tmp_path / "unsigned.pdf").read_bytes()
    refusals = {
        "not-signed": (unsigned, "该 PDF 文件没有电子印章。"),
        "unreadable": (b"%PDF-1.7\nnot really a PDF", "该 PDF 文件已损坏、已加密，或过于复杂无法读取。"),
    }
    for kind, (data, said) in refusals.items():
        page = browser.post("/verify?lang=zh_CN", files={"file": ("x.pdf", data, "application/pdf")})
        assert page.status_code == 422
        assert f"无法验证该文件： {said}" in page.text, kind
        assert ('class="muted"><small>the PDF cannot be read' in page.text) == (kind == "unreadable")
        answer = browser.post("/api/v1/verify", content=data, headers={"Content-Type": "application/pdf"})
        assert answer.json()["kind"] == kind
    empty = browser.post("/verify", files={"file": ("x.pdf", b"", "application/pdf")})
    assert "无法验证该文件： 文件是空的" in empty.text  # in the words of a refused upload
    english = browser.post("/verify?lang=en", files={"file": ("x.pdf", unsigned, "application/pdf")})
    assert "The file cannot be verified: The PDF carries no electronic seal." in english.text
    assert untranslated(empty.text) == []


def test_the_record_names_people_to_the_applicant_only(browser: TestClient, sealed: Sealed) -> None:
    link = sealed.request["record"]
    browser.cookies.clear()
    anonymous = browser.get(link)
    assert anonymous.status_code == 200
    assert APPLICANT_NAME not in anonymous.text
    assert "本页不显示任何人的姓名" in anonymous.text
    assert 'href="/verify"' in anonymous.text
    entries = re.findall(r'href="/explorer/entries/(\d+)"', anonymous.text)
    assert len(entries) >= 6  # submitted, three decisions, executing, completed (and the seal)
    assert anonymous.headers["referrer-policy"] == "no-referrer"
    assert untranslated(anonymous.text) == []
    sign_in(browser, "sn.resident")
    named = browser.get(link)
    assert APPLICANT_NAME in named.text
    assert sealed.request["number"] in named.text
    assert 'action="/logout"' in named.text  # the site's header, with the signed-in menu
    sign_in(browser, "bl.resident")
    stranger = browser.get(link)
    assert APPLICANT_NAME not in stranger.text
    browser.cookies.clear()
    assert APPLICANT_NAME in browser.get(link, headers=bearer(browser, "sn.resident")).text


def test_an_unknown_record_and_a_number_are_not_found(browser: TestClient) -> None:
    assert browser.get("/records/not-a-record").status_code == 404
    by_number = browser.get("/verify", params={"request": "1"})
    assert by_number.status_code == 404
    assert "没有该记录" in by_number.text
    assert untranslated(by_number.text) == []
