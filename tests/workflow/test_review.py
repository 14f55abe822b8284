"""Requests through their chains over HTTP: routing, 或签, 会签, 两委, separation of duties, return, withdrawal,
delegation, time limits, execution."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.clock import ManualClock
from ledger.models import PendingEntry
from tests.workflow import pdfs
from tests.workflow.conftest import RESIDENT_ID, Village, forget_logins, login
from workflow.models import Notification


def submit(
    client: TestClient,
    who: str = "resident",
    *,
    matter: str = "test.residence",
    form: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    body = {
        "matter": matter,
        "organisation": "yz.sn",
        "seal": "village_official",
        "seal_form": "electronic",
        "purpose": "办理居住证明",
        "form": {"address": "水南村一组 12 号"} if form is None else form,
        **fields,
    }
    return client.post(
        "/api/v1/requests",
        headers=login(client, who),
        files={"document": ("doc.pdf", pdfs.clean("申请"), "application/pdf")},
        data={"request": json.dumps(body, ensure_ascii=False)},
    )


def decide(client: TestClient, who: str, request_id: int, level: int, decision: str = "approve", **extra: Any) -> Any:
    return client.post(
        f"/api/v1/requests/{request_id}/decisions",
        headers=login(client, who),
        json={"decision": decision, "level": level, **extra},
    )


def test_a_request_goes_through_its_chain_and_is_executed(client: TestClient, village: Village) -> None:
    created = submit(client)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["state"] == "in_review"
    assert request["level"] == 1
    assert request["group"]["code"] == "yz.sn.g1"
    assert request["form"] == {"name": "符阿妹", "id_number": RESIDENT_ID, "address": "水南村一组 12 号"}
    rid = request["id"]
    inbox = client.get("/api/v1/approvals/inbox", headers=login(client, "leader")).json()
    assert [item["id"] for item in inbox] == [rid]
    assert decide(client, "leader", rid, 1).json()["level"] == 2
    seen = client.get(f"/api/v1/requests/{rid}", headers=login(client, "secretary")).json()
    assert seen["form"]["id_number"] == "4602**********1222"
    assert decide(client, "secretary", rid, 2).json()["level"] == 3
    approved = decide(client, "sealadmin", rid, 3).json()
    assert approved["state"] == "approved"
    client.app.state.workers.once()  # type: ignore[attr-defined]
    done = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()
    assert done["state"] == "completed"
    assert village.executor.done == [done["number"]]
    assert [(d["level"], d["by"]) for d in done["decisions"]] == [(1, "leader"), (2, "secretary"), (3, "sealadmin")]
    document = client.get(f"/api/v1/requests/{rid}/document", headers=login(client, "resident"))
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF-")


def test_computed_fields_come_from_the_server(client: TestClient) -> None:
    form = {"crop": "辣椒", "cycles": 2, "area": 3.5, "amount": 999999}
    created = submit(client, matter="test.subsidy", form=form)
    assert created.status_code == 201, created.text
    assert created.json()["form"]["amount"] == round(3.5 * 300 * 2, 2)


def test_malformed_forms_get_pointers(client: TestClient) -> None:
    bad = submit(client, matter="test.subsidy", form={"crop": "榴莲", "cycles": "two", "extra": 1})
    assert bad.status_code == 422
    body = bad.json()
    assert body["type"] == "/problems/invalid-form"
    pointers = {e["pointer"] for e in body["errors"]}
    assert {"/form/crop", "/form/cycles", "/form/area", "/form/extra"} <= pointers


def test_negative_list_cites_its_rule(client: TestClient) -> None:
    refused = submit(client, matter="neg.no-crime")
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/negative-list"
    assert "民发〔2020〕20号" in refused.json()["rule"]
    assert "无犯罪记录证明" in refused.json()["detail"]


def test_separation_of_duties(client: TestClient) -> None:
    # The group leader asks for a seal himself: he cannot approve it.
    form = {"address": "水南村一组 3 号", "id_number": "11010519491231002X"}
    own = submit(client, "leader", group="yz.sn.g1", form=form).json()
    refused = decide(client, "leader", own["id"], 1)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/separation-of-duties"
    assert "own request" in refused.json()["detail"]
    # Not an approver of the level.
    rid = submit(client).json()["id"]
    stranger = decide(client, "sealadmin", rid, 1)
    assert stranger.status_code == 403
    assert stranger.json()["type"] == "/problems/not-an-approver"
    # A custodian of the village's seals does not approve their use, even on a level he could decide.
    countersign = submit(client, matter="test.countersign").json()
    custodian = decide(client, "custodian", countersign["id"], 1)
    assert custodian.status_code == 403
    assert "custodians" in custodian.json()["detail"]


def test_nobody_approves_twice_in_one_chain(client: TestClient, village: Village) -> None:
    # secretary is also a committee member: after approving level 2 of a standard request he holds no other
    # level; in the joint chain he votes once; asking again is refused.
    rid = submit(client, matter="test.joint").json()["id"]
    assert decide(client, "secretary", rid, 1).status_code == 200
    again = decide(client, "secretary", rid, 1)
    assert again.status_code == 403
    assert "already approved level 1" in again.json()["detail"]


def test_countersign_needs_every_holder(client: TestClient, village: Village) -> None:
    # Four committee members; the custodian among them may not approve the use of the seals he keeps, so the
    # level is signed by the other three, every one of them.
    rid = submit(client, matter="test.countersign").json()["id"]
    for member in ("secretary", "member1"):
        after = decide(client, member, rid, 1).json()
        assert (after["state"], after["level"]) == ("in_review", 1)
    inbox = client.get("/api/v1/approvals/inbox", headers=login(client, "member1")).json()
    assert rid not in [item["id"] for item in inbox]
    assert rid in [
        item["id"] for item in client.get("/api/v1/approvals/inbox", headers=login(client, "member2")).json()
    ]
    assert decide(client, "member2", rid, 1).json()["level"] == 2


def test_any_one_holder_decides_a_group_level(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    assert decide(client, "leader2", rid, 1).json()["level"] == 2
    late = decide(client, "leader", rid, 1)
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/level-decided"


def test_majority_of_the_two_committees(client: TestClient) -> None:
    # Three members may vote (the custodian may not): two approvals are a majority; one rejection is not enough
    # to reject, two are.
    rid = submit(client, matter="test.joint").json()["id"]
    assert decide(client, "member1", rid, 1).json()["state"] == "in_review"
    assert decide(client, "member2", rid, 1).json()["state"] == "approved"
    other = submit(client, matter="test.joint").json()["id"]
    assert decide(client, "member1", other, 1, "reject", comment="不同意").json()["state"] == "in_review"
    assert decide(client, "member2", other, 1, "reject", comment="不同意").json()["state"] == "rejected"


def test_return_to_an_earlier_level_and_to_the_applicant(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    decide(client, "leader", rid, 1)
    decide(client, "secretary", rid, 2)
    back = decide(client, "sealadmin", rid, 3, "return", to_level=2, comment="请书记再核实住址")
    assert (back.json()["state"], back.json()["level"]) == ("in_review", 2)
    assert decide(client, "secretary", rid, 2).json()["level"] == 3
    returned = decide(client, "sealadmin", rid, 3, "return", to_level=0, comment="住址有误")
    assert returned.json()["state"] == "returned"
    assert decide(client, "sealadmin", rid, 3).status_code == 409
    again = client.post(
        f"/api/v1/requests/{rid}/resubmit",
        headers=login(client, "resident"),
        json={"form": {"address": "水南村一组 21 号"}},
    )
    assert (again.json()["state"], again.json()["level"], again.json()["round"]) == ("in_review", 1, 2)
    assert again.json()["form"]["address"] == "水南村一组 21 号"
    # A new round: the group leader approves again, as he must.
    assert decide(client, "leader", rid, 1).status_code == 200
    missing = decide(client, "secretary", rid, 2, "reject")
    assert missing.status_code == 422
    assert missing.json()["type"].endswith("/reason-needed")


def test_withdrawal(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    other = client.post(f"/api/v1/requests/{rid}/withdraw", headers=login(client, "resident2"), json={})
    assert other.status_code == 404  # another resident does not even see it
    withdrawn = client.post(
        f"/api/v1/requests/{rid}/withdraw", headers=login(client, "resident"), json={"reason": "不需要了"}
    )
    assert withdrawn.json()["state"] == "withdrawn"
    assert decide(client, "leader", rid, 1).status_code == 409
    done = submit(client).json()["id"]
    for who, level in (("leader", 1), ("secretary", 2), ("sealadmin", 3)):
        decide(client, who, done, level)
    late = client.post(f"/api/v1/requests/{done}/withdraw", headers=login(client, "resident"), json={})
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/request-state"


def test_a_deputy_decides_for_the_holder_and_both_are_recorded(client: TestClient) -> None:
    made = client.post(
        "/api/v1/delegations",
        headers=login(client, "secretary"),
        json={
            "post": "secretary",
            "organisation": "yz.sn",
            "deputy": "staff",
            "valid_until": (dt.datetime(2026, 11, 9, tzinfo=dt.UTC)).isoformat(),
        },
    )
    assert made.status_code == 201, made.text
    rid = submit(client).json()["id"]
    decide(client, "leader", rid, 1)
    inbox = client.get("/api/v1/approvals/inbox", headers=login(client, "staff")).json()
    assert [item["id"] for item in inbox] == [rid]
    decided = decide(client, "staff", rid, 2).json()
    assert (decided["decision"]["by"], decided["decision"]["on_behalf_of"]) == ("staff", "secretary")
    recorded = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["decisions"][-1]
    assert (recorded["by"], recorded["on_behalf_of"]) == ("staff", "secretary")


def test_overdue_steps_are_listed_warned_and_logged(client: TestClient, village: Village) -> None:
    rid = submit(client).json()["id"]
    clock = village.runtime.clock
    assert isinstance(clock, ManualClock)
    clock.advance(dt.timedelta(hours=25))
    forget_logins(client)
    workers = client.app.state.workers  # type: ignore[attr-defined]
    workers.once()
    listed = client.get("/api/v1/supervision/overdue", headers=login(client, "admin")).json()
    assert [(o["id"], o["level"], o["warned"]) for o in listed] == [(rid, 1, True)]
    assert listed[0]["elapsed_seconds"] == 25 * 3600
    assert listed[0]["limit_seconds"] == 24 * 3600
    assert listed[0]["approvers"] == ["leader", "leader2"]
    with village.runtime.sessions() as session:
        warnings = [
            json.loads(body)
            for body in session.scalars(select(PendingEntry.body).where(PendingEntry.type == "request.overdue"))
        ]
        reminded = session.scalars(select(Notification.user_id).where(Notification.kind == "overdue")).all()
    assert len(warnings) == 1
    assert warnings[0]["subject"] == f"request:{rid}"
    assert warnings[0]["data"]["elapsed_seconds"] == 25 * 3600
    assert len(reminded) >= 3  # both leaders and the inspector
    workers._last_sla = 0.0
    workers.once()  # warned once only
    with village.runtime.sessions() as session:
        assert len(session.scalars(select(PendingEntry.id).where(PendingEntry.type == "request.overdue")).all()) == 1
    assert client.get("/api/v1/supervision/overdue", headers=login(client, "resident")).status_code == 403


def test_failed_execution_is_retried(client: TestClient, village: Village) -> None:
    rid = submit(client).json()["id"]
    for who, level in (("leader", 1), ("secretary", 2), ("sealadmin", 3)):
        decide(client, who, rid, level)
    village.executor.fail_with = "the seal's certificate is revoked"
    client.app.state.workers.once()  # type: ignore[attr-defined]
    failed = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()
    assert (failed["state"], failed["failure"]) == ("failed", "the seal's certificate is revoked")
    assert client.post(f"/api/v1/requests/{rid}/retry", headers=login(client, "resident")).status_code == 403
    village.executor.fail_with = None
    assert (
        client.post(f"/api/v1/requests/{rid}/retry", headers=login(client, "sealadmin")).json()["state"] == "approved"
    )
    client.app.state.workers.once()  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["state"] == "completed"


def test_only_a_failed_request_is_retried_and_only_a_returned_one_resubmitted(
    client: TestClient, village: Village
) -> None:
    """A retry leads to approved as the last approval does: on a request in review it skipped every level left."""
    rid = submit(client).json()["id"]
    for who in ("sealadmin", "admin"):
        retried = client.post(f"/api/v1/requests/{rid}/retry", headers=login(client, who))
        assert retried.status_code == 409, retried.text
    resubmitted = client.post(f"/api/v1/requests/{rid}/resubmit", headers=login(client, "resident"), json={})
    assert resubmitted.status_code == 409, resubmitted.text
    seen = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()
    assert (seen["state"], seen["level"]) == ("in_review", 1)
    decide(client, "leader", rid, 1)
    assert client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["level"] == 2


def test_notifications_reach_the_inbox(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    notes = client.get("/api/v1/notifications", headers=login(client, "leader")).json()
    assert notes[0]["kind"] == "review"
    assert notes[0]["request_id"] == rid
    assert notes[0]["title"].startswith("待审批")
    read = client.post(f"/api/v1/notifications/{notes[0]['id']}/read", headers=login(client, "leader"))
    assert read.json()["read_at"] is not None
    assert client.get("/api/v1/notifications?unread=true", headers=login(client, "leader")).json() == []


def test_two_group_leaders_at_the_same_moment(client: TestClient) -> None:
    rid = submit(client).json()["id"]
    headers = {who: login(client, who) for who in ("leader", "leader2")}
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def race(who: str) -> None:
        barrier.wait()
        response = client.post(
            f"/api/v1/requests/{rid}/decisions", headers=headers[who], json={"decision": "approve", "level": 1}
        )
        results[who] = response.status_code

    threads = [threading.Thread(target=race, args=(who,)) for who in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 409]
    decisions = client.get(f"/api/v1/requests/{rid}", headers=login(client, "resident")).json()["decisions"]
    assert len(decisions) == 1


@pytest.mark.parametrize("who", ["outsider"])
def test_outsiders_cannot_ask_for_a_village_seal(client: TestClient, who: str) -> None:
    refused = submit(client, who)
    assert refused.status_code == 403
