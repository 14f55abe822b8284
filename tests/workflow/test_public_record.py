"""The public record behind a sealed document's QR code: found by an unguessable id only, it tells the
organisation, matter, seal, the decisions by post and the outcome, and names no one to the anonymous. A request's
sequential number opens nothing."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import pikepdf
import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from api import create_app
from ca import hierarchy, seals
from identity import directory
from ledger.receipt import parse_receipt
from ledger.service import LogService
from signer import isolation
from signer.appearance import MM, qr_code
from signer.pades import QR_MM
from signer.revocation import NO_SOURCES, Sources
from tests.workflow.conftest import RESIDENT_ID, USERS, Village, login
from tests.workflow.test_review import decide, submit
from workflow.models import SealRequest

# Display names that are not also the words of a post (the secretary of the cast is called 书记).
NAMES = [USERS[who][0] for who in ("resident", "leader", "leader2", "resident2")]


def record_of(client: TestClient, request_id: int) -> str:
    """The record's link, as its applicant sees it in the API."""
    link = client.get(f"/api/v1/requests/{request_id}", headers=login(client, "resident")).json()["record"]
    assert isinstance(link, str)
    return link


def anonymous(client: TestClient, link: str, lang: str = "zh_CN") -> str:
    page = client.get(link, params={"lang": lang})
    assert page.status_code == 200, page.text
    text: str = page.text
    for name in NAMES:
        assert name not in text
    for private in (RESIDENT_ID, "水南村一组 12 号", "办理居住证明"):
        assert private not in text
    return text


def test_the_applicant_has_the_link_and_nobody_else_in_the_api(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    link = record_of(client, rid)
    assert link.startswith("/records/")
    assert len(link.removeprefix("/records/")) >= 22  # 128 bits in URL-safe base64
    assert client.get(f"/api/v1/requests/{rid}", headers=login(client, "secretary")).json()["record"] is None
    assert record_of(client, submit(client).json()["id"]) != link


def test_a_sequential_number_reveals_nothing(client: TestClient) -> None:
    request = submit(client).json()
    for number in (request["number"], "1", str(request["id"])):
        page = client.get("/verify", params={"request": number})
        assert page.status_code == 404
        for told in ("水南村", "测试事项", "符阿妹", "村民小组长"):
            assert told not in page.text
    assert client.get("/verify").status_code == 200


def test_a_guessed_id_is_not_found(client: TestClient) -> None:
    submit(client)
    for guess in (secrets.token_urlsafe(16), "1", "%20"):
        page = client.get(f"/records/{guess}")
        assert page.status_code == 404
        assert "没有该记录" in page.text
        assert "水南村" not in page.text


def test_a_completed_request_shows_organisation_matter_seal_posts_and_outcome(
    client: TestClient, village: Village
) -> None:
    rid = submit(client).json()["id"]
    for who, level in (("leader", 1), ("secretary", 2), ("sealadmin", 3)):
        assert decide(client, who, rid, level).status_code == 200
    client.app.state.workers.once()  # type: ignore[attr-defined]
    link = record_of(client, rid)
    page = anonymous(client, link)
    for shown in ("水南村", "测试事项 test.residence", "村民委员会公章", "电子印章", "已盖章"):
        assert shown in page
    assert page.index("村民小组长审核") < page.index("支部书记审批") < page.index("印章管理员确认")
    assert "水南村第一村民小组 村民小组长" in page
    assert "水南村 党组织书记" in page
    assert page.count("同意") == 3
    assert "本页不显示任何人的姓名" in page
    english = anonymous(client, link, "en")
    assert "Sealed" in english
    assert "水南村 secretary" in english
    response = client.get(link)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_a_rejected_request_says_so_with_the_level_and_post(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    rejected = decide(client, "secretary", rid, 2, "reject", comment="符阿妹的地址不对")
    assert rejected.status_code == 200, rejected.text
    link = record_of(client, rid)
    page = anonymous(client, link)
    assert "已驳回" in page
    outcome = page[page.index("已驳回") :].split("</td>")[0]
    assert "第 2 级" in outcome
    assert "水南村 党组织书记" in outcome
    assert "已盖章" not in page
    assert "地址不对" not in page  # a reason is free text: it may name people
    english = anonymous(client, link, "en")
    assert "Rejected" in english


def test_in_progress_withdrawn_and_returned(client: TestClient) -> None:
    waiting = submit(client).json()["id"]
    assert decide(client, "leader", waiting, 1).status_code == 200
    page = anonymous(client, record_of(client, waiting))
    assert "办理中" in page
    assert "等待 第 2 级" in page
    withdrawn = submit(client).json()["id"]
    asked = client.post(
        f"/api/v1/requests/{withdrawn}/withdraw", headers=login(client, "resident"), json={"reason": "不办了"}
    )
    assert asked.status_code == 200, asked.text
    assert "申请人已撤回" in anonymous(client, record_of(client, withdrawn))
    returned = submit(client).json()["id"]
    assert decide(client, "leader", returned, 1, "return", to_level=0, comment="补材料").status_code == 200
    page = anonymous(client, record_of(client, returned))
    assert "已退回申请人" in page
    assert "第 1 级" in page


def test_names_only_for_a_signed_in_caller_who_may_see_the_request(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    link = record_of(client, rid)
    for who in ("resident", "secretary"):
        named = client.get(link, headers=login(client, who))
        assert named.status_code == 200
        assert "符阿妹" in named.text
        assert "组长甲" in named.text
    outsider = client.get(link, headers=login(client, "outsider"))
    assert outsider.status_code == 200
    assert "符阿妹" not in outsider.text
    assert "组长甲" not in outsider.text
    refused = client.get(link, headers={"Authorization": "Bearer sg_not-a-token"}, follow_redirects=False)
    assert refused.status_code == 303  # a page: to the sign-in, as for any credential refused
    assert refused.headers["location"].startswith("/login")


@pytest.fixture
def sealing_client(village: Village, log: LogService) -> Iterator[TestClient]:
    """The app with the service's own electronic executor, and 水南村's electronic seal issued by a new CA."""
    runtime = village.runtime
    now = runtime.clock.now()
    with runtime.sessions() as session:
        directory.organisation(session, "yz.sn").uscc = "54460205C50121019D"
        hierarchy.initialise(session, runtime.keystore, runtime.settings, now, "test")
        authority = hierarchy.load(session, runtime.keystore)
        seal = seals.add(session, "yz.sn", "village_official", seals.SealForm.ELECTRONIC, "公章", now, "test")
        seals.issue(session, runtime.keystore, authority, runtime.settings, seal, now, "test")
        session.commit()
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client


def seal_one(client: TestClient, log: LogService) -> dict[str, Any]:
    """A request of 水南村 through its chain, sealed for real, and its seal in a published checkpoint."""
    rid = submit(client).json()["id"]
    for who, level in (("leader", 1), ("secretary", 2), ("sealadmin", 3)):
        assert decide(client, who, rid, level).status_code == 200
    client.app.state.workers.once()  # type: ignore[attr-defined]
    done: dict[str, Any] = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()
    assert done["state"] == "completed", done
    return done


def test_a_sealed_document_carries_the_record_link_and_the_record_its_sealing(
    sealing_client: TestClient, log: LogService
) -> None:
    client = sealing_client
    done = seal_one(client, log)
    sealed = client.get(f"/api/v1/requests/{done['id']}/document", headers=login(client, "resident")).content
    link = done["record"]
    public_url = client.app.state.runtime.settings.public_url  # type: ignore[attr-defined]
    with pikepdf.open(io.BytesIO(sealed)) as pdf:
        drawn = [obj.read_bytes() for obj in pdf.objects if isinstance(obj, pikepdf.Stream)]
    assert qr_code(public_url + link, QR_MM * MM) in drawn
    assert qr_code(f"{public_url}/verify?request={done['number']}", QR_MM * MM) not in drawn
    waiting = anonymous(client, link)
    assert "等待记入日志" in waiting[waiting.index("<h3>盖章</h3>") :]
    log.integrator.run_until_idle()
    receipt = client.get(f"/api/v1/requests/{done['id']}/receipt", headers=login(client, "resident")).text
    page = anonymous(client, link)
    sealing = page[page.index("<h3>盖章</h3>") :]
    assert "水南村 公章" in sealing
    assert "B-LTA" in sealing
    assert f"#{parse_receipt(receipt).index}<" in sealing


def test_a_garbage_receipt_fails_the_report_and_the_page(sealing_client: TestClient, log: LogService) -> None:
    client = sealing_client
    done = seal_one(client, log)
    log.integrator.run_until_idle()
    sealed = client.get(f"/api/v1/requests/{done['id']}/document", headers=login(client, "resident")).content
    receipt = client.get(f"/api/v1/requests/{done['id']}/receipt", headers=login(client, "resident")).content

    def verified(extra: bytes, path: str = "/api/v1/verify") -> Any:
        files = {"file": ("sealed.pdf", sealed, "application/pdf"), "receipt": ("r.tlog-proof", extra, "text/plain")}
        return client.post(path, files=files)

    genuine = verified(receipt).json()
    assert genuine["receipt"]["verified"] is True
    assert genuine["indication"] != "TOTAL-FAILED"
    garbage = verified(b"c2sp.org/tlog-proof\nindex 0\n\nnot a checkpoint\n").json()
    assert garbage["indication"] == "TOTAL-FAILED"
    assert garbage["receipt"]["verified"] is False
    assert garbage["receipt"]["problem"].startswith("the receipt is malformed")
    assert all(s["intact"] for s in garbage["signatures"])  # the seal itself is sound: the receipt failed
    page = verified(b"garbage", "/verify")
    assert page.status_code == 200
    assert "存证回执验证失败" in page.text
    assert page.text.index('<h2 class="failed">验证失败</h2>') < page.text.index("存证回执验证失败")
    assert "存证回执证明该印章已记入日志" in verified(receipt, "/verify").text


def test_a_verification_primes_the_verifier_with_the_newest_document_rendered_and_sealed_here(
    sealing_client: TestClient, log: LogService, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = sealing_client
    primed: list[tuple[bytes, list[x509.Certificate]]] = []

    def prime(sample: bytes, *, trust: Sequence[x509.Certificate] = (), revocation: Sources = NO_SOURCES) -> None:
        primed.append((sample, list(trust)))

    monkeypatch.setattr(isolation, "prime", prime)
    done = seal_one(client, log)
    sealed = client.get(f"/api/v1/requests/{done['id']}/document", headers=login(client, "resident")).content
    verified = client.post("/api/v1/verify", content=sealed, headers={"Content-Type": "application/pdf"})
    assert verified.status_code == 200
    assert primed == []  # its document was uploaded: the fork server never verifies an upload unguarded
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:  # as if rendered from the matter's template
        session.get_one(SealRequest, done["id"]).document_source = "template"
        session.commit()
    for _ in range(2):
        verified = client.post("/api/v1/verify", content=sealed, headers={"Content-Type": "application/pdf"})
        assert verified.status_code == 200
    root = client.app.state.ca.get(runtime).authority.root  # type: ignore[attr-defined]
    assert primed == [(sealed, [root])]  # once: again an hour later
