"""Who may act on a request, and what the public learns of it: deputies work where the post does and decide only
what they may see, the applicant's group is their own, the document goes only to the people the request is
between, and the log names neither the applicant nor the matter."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from identity import delegation, directory
from identity.models import Delegation
from identity.posts import OrgKind, Post
from ledger.models import Entry, PendingEntry, PersonalDatum
from ledger.service import LogService
from tests.workflow.conftest import PASSWORD, Village, login
from tests.workflow.test_review import decide, submit
from workflow.models import SealRequest


def _people(village: Village, *people: tuple[str, str | None, list[tuple[Post, str]]]) -> None:
    """Another village (北岭村, its group g1), a second group of 水南村, and the people named."""
    runtime = village.runtime
    now = runtime.clock.now()
    with runtime.sessions() as s:
        for code, name, kind, parent in [
            ("yz.bl", "北岭村", OrgKind.VILLAGE, "yz"),
            ("yz.bl.g1", "北岭村第一村民小组", OrgKind.GROUP, "yz.bl"),
            ("yz.sn.g2", "水南村第二村民小组", OrgKind.GROUP, "yz.sn"),
        ]:
            directory.create_organisation(
                s, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=now, actor="test"
            )
        for username, home, posts in people:
            directory.create_user(
                s, username=username, display_name=username, password=PASSWORD, home_code=home, now=now, actor="test"
            )
            for post, org in posts:
                directory.grant_post(
                    s, username=username, org_code=org, post=post, valid_from=now, now=now, actor="test"
                )
        s.commit()


def _delegate(client: TestClient, holder: str, deputy: str, post: str, org: str, **when: dt.datetime) -> Any:
    body = {"post": post, "organisation": org, "deputy": deputy, "valid_until": "2026-11-09T00:00:00+00:00"}
    return client.post(
        "/api/v1/delegations",
        headers=login(client, holder),
        json=body | {k: v.isoformat() for k, v in when.items()},
    )


def test_a_deputy_holds_a_post_in_the_organisation_or_its_parent(client: TestClient, village: Village) -> None:
    _people(
        village,
        ("bl.secretary", None, [(Post.SECRETARY, "yz.bl")]),
        ("yz.staff", None, [(Post.STAFF, "yz")]),
    )
    for deputy in ("outsider", "bl.secretary", "resident"):
        refused = _delegate(client, "secretary", deputy, "secretary", "yz.sn")
        assert refused.status_code == 422, (deputy, refused.text)
        assert "holds no post in 水南村" in refused.json()["detail"]
        assert refused.json()["rule"] == "deputy-elsewhere"
    assert _delegate(client, "secretary", "staff", "secretary", "yz.sn").status_code == 201  # the same village
    assert _delegate(client, "leader", "secretary", "group_leader", "yz.sn.g1").status_code == 201  # the group's
    assert _delegate(client, "sealadmin", "yz.staff", "seal_admin", "yz.sn").status_code == 201  # the district


def test_a_delegation_cannot_start_in_the_past(client: TestClient, village: Village) -> None:
    now = village.runtime.clock.now()
    late = _delegate(client, "secretary", "staff", "secretary", "yz.sn", valid_from=now - dt.timedelta(minutes=5))
    assert late.status_code == 422
    assert "cannot start in the past" in late.json()["detail"]
    assert late.json()["rule"] == "starts-in-past"
    skewed = _delegate(client, "secretary", "staff", "secretary", "yz.sn", valid_from=now - dt.timedelta(seconds=30))
    assert skewed.status_code == 201, skewed.text


def test_a_refused_delegation_names_the_rule_that_refused_it(client: TestClient, village: Village) -> None:
    """Each with the status of its kind of problem, and the rule a page words it by."""
    now = village.runtime.clock.now()
    with village.runtime.sessions() as s:
        directory.set_active(s, "leader", False, now, actor="test")
        s.commit()
    refusals = {
        "ends-before-start": (422, _delegate(client, "secretary", "staff", "secretary", "yz.sn", valid_until=now)),
        "too-long": (
            422,
            _delegate(client, "secretary", "staff", "secretary", "yz.sn", valid_until=now + dt.timedelta(days=367)),
        ),
        "unknown-deputy": (404, _delegate(client, "secretary", "nobody.here", "secretary", "yz.sn")),
        "self": (422, _delegate(client, "secretary", "secretary", "secretary", "yz.sn")),
        "deputy-disabled": (422, _delegate(client, "secretary", "leader", "secretary", "yz.sn")),
        "not-holder": (403, _delegate(client, "secretary", "staff", "seal_admin", "yz.sn")),
    }
    assert _delegate(client, "secretary", "staff", "secretary", "yz.sn").status_code == 201
    refusals["overlaps"] = (409, _delegate(client, "secretary", "sealadmin", "secretary", "yz.sn"))
    for rule, (status, answer) in refusals.items():
        assert (answer.status_code, answer.json().get("rule")) == (status, rule), answer.text
    assert set(refusals) | {"starts-in-past", "deputy-elsewhere"} == set(delegation.RULES)


def _delegated_before_the_rule(village: Village, deputy: str) -> None:
    """The village secretary's post handed to ``deputy`` for three days from now, as rows written before a
    deputy had to work where the post does."""
    runtime = village.runtime
    now = runtime.clock.now()
    with runtime.sessions() as s:
        s.add(
            Delegation(
                organisation=directory.organisation(s, "yz.sn"),
                post=str(Post.SECRETARY),
                holder=directory.user(s, "secretary"),
                deputy=directory.user(s, deputy),
                valid_from=now,
                valid_until=now + dt.timedelta(days=3),
                created_at=now,
            )
        )
        s.commit()


def test_a_deputy_from_another_village_decides_nothing(client: TestClient, village: Village) -> None:
    """A delegation made before deputies had to work where the post does: it gives the deputy nothing."""
    _people(village, ("bl.secretary", None, [(Post.SECRETARY, "yz.bl")]))
    _delegated_before_the_rule(village, "bl.secretary")
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    assert client.get(f"/api/v1/requests/{rid}", headers=login(client, "bl.secretary")).status_code == 404
    assert client.get("/api/v1/approvals/inbox", headers=login(client, "bl.secretary")).json() == []
    assert client.get("/api/v1/notifications", headers=login(client, "bl.secretary")).json() == []  # told nothing
    refused = decide(client, "bl.secretary", rid, 2)
    assert refused.status_code == 404, refused.text
    assert refused.json()["detail"] == f"no request {rid} that you may see"
    # Deciding a request one may not see, at any level or state, is the same 404.
    assert decide(client, "outsider", rid, 1).status_code == 404
    assert decide(client, "secretary", rid, 2).status_code == 200


def test_a_deputy_below_the_post_sees_the_request_but_does_not_decide_it(client: TestClient, village: Village) -> None:
    """A group's leader sees the group's requests, yet holds no post in the village or above it: a delegation of
    the village secretary's post, made before the rule, does not make them the secretary's deputy."""
    _delegated_before_the_rule(village, "leader2")
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    assert client.get(f"/api/v1/requests/{rid}", headers=login(client, "leader2")).status_code == 200
    assert client.get("/api/v1/approvals/inbox", headers=login(client, "leader2")).json() == []
    refused = decide(client, "leader2", rid, 2)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/not-an-approver"


def test_a_deputy_of_the_parent_organisation_sees_and_decides(client: TestClient, village: Village) -> None:
    """Staff of the district see no village's requests by their post; acting for the secretary, they see and
    decide the secretary's level, and take the document, while the delegation is in force."""
    _people(village, ("yz.staff", None, [(Post.STAFF, "yz")]))
    assert _delegate(client, "secretary", "yz.staff", "secretary", "yz.sn").status_code == 201
    rid = submit(client).json()["id"]
    deputy = login(client, "yz.staff")
    assert client.get(f"/api/v1/requests/{rid}", headers=deputy).status_code == 404  # level 1 is the group's
    assert decide(client, "leader", rid, 1).status_code == 200
    assert [item["id"] for item in client.get("/api/v1/approvals/inbox", headers=deputy).json()] == [rid]
    assert client.get(f"/api/v1/requests/{rid}", headers=deputy).status_code == 200
    listed = client.get("/api/v1/requests", params={"scope": "visible"}, headers=deputy).json()["items"]
    assert [item["id"] for item in listed] == [rid]
    assert client.get(f"/api/v1/requests/{rid}/document", headers=deputy).status_code == 200
    receipt = client.get(f"/api/v1/requests/{rid}/receipt", headers=deputy)  # a request they see, not sealed yet
    assert (receipt.status_code, receipt.json()["detail"]) == (404, f"request:{rid} has not been sealed")
    decided = decide(client, "yz.staff", rid, 2)
    assert decided.status_code == 200, decided.text
    assert (decided.json()["decision"]["by"], decided.json()["decision"]["on_behalf_of"]) == ("yz.staff", "secretary")


def test_the_group_is_one_the_applicant_belongs_to(client: TestClient, village: Village) -> None:
    _people(village, ("leader.g2", None, [(Post.GROUP_LEADER, "yz.sn.g2")]))
    chosen = submit(client, group="yz.sn.g2")
    assert chosen.status_code == 422, chosen.text
    assert "resident does not belong to 水南村第二村民小组" in chosen.json()["detail"]
    assert client.get("/api/v1/approvals/inbox", headers=login(client, "leader.g2")).json() == []
    own = submit(client, group="yz.sn.g1")
    assert own.status_code == 201
    assert own.json()["group"]["code"] == "yz.sn.g1"
    assert submit(client).json()["group"]["code"] == "yz.sn.g1"  # the home group, when none is named


def test_only_the_people_a_request_is_between_take_its_document(client: TestClient, village: Village) -> None:
    rid = submit(client).json()["id"]

    def fetch(who: str) -> int:
        codes: set[int] = {
            client.get(f"/api/v1/requests/{rid}/document{query}", headers=login(client, who)).status_code
            for query in ("", "?original=true")
        }
        assert len(codes) == 1, codes
        code = codes.pop()
        view = client.get(f"/api/v1/requests/{rid}", headers=login(client, who))
        if view.status_code == 200:  # the view offers the document's link exactly to those it will answer
            assert (view.json()["document"]["url"] is not None) == (code == 200), who
        return code

    # Level 1 is open: the applicant and the group's leaders; the village's other posts see the request only.
    assert {who: fetch(who) for who in ("resident", "leader", "leader2")} == dict.fromkeys(
        ("resident", "leader", "leader2"), 200
    )
    for who in ("staff", "secretary", "custodian", "admin"):
        assert client.get(f"/api/v1/requests/{rid}", headers=login(client, who)).status_code == 200
        assert fetch(who) == 403, who
    assert fetch("outsider") == 404
    assert fetch("resident2") == 404
    assert decide(client, "leader", rid, 1).status_code == 200
    assert fetch("secretary") == 200  # level 2 is theirs now
    assert fetch("leader") == 200  # who decided stays an approver
    assert fetch("leader2") == 403  # who could have decided level 1 and did not, no longer
    assert fetch("sealadmin") == 403


def _entries(village: Village, rid: int) -> list[dict[str, Any]]:
    with village.runtime.sessions() as s:
        bodies = list(s.scalars(select(PendingEntry.body).where(PendingEntry.subject == f"request:{rid}")))
        bodies += list(s.scalars(select(Entry.body).where(Entry.subject == f"request:{rid}")))
    return [json.loads(body) for body in bodies]


def _opened(village: Village, commitment: str) -> str:
    with village.runtime.sessions() as s:
        datum = s.get(PersonalDatum, commitment)
        assert datum is not None, commitment
        return datum.value


def test_the_log_names_neither_the_applicant_nor_the_matter(client: TestClient, village: Village) -> None:
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    returned = decide(client, "secretary", rid, 2, decision="return", to_level=0, comment="补充材料")
    assert returned.status_code == 200, returned.text
    resubmitted = client.post(
        f"/api/v1/requests/{rid}/resubmit", headers=login(client, "resident"), json={"purpose": "再次申请"}
    )
    assert resubmitted.status_code == 200, resubmitted.text
    withdrawn = client.post(f"/api/v1/requests/{rid}/withdraw", headers=login(client, "resident"), json={})
    assert withdrawn.status_code == 200, withdrawn.text
    entries = _entries(village, rid)
    text = json.dumps(entries, ensure_ascii=False)
    assert "resident" not in text
    assert "test.residence" not in text
    by_type = {e["type"]: e for e in entries}
    for kind in ("request.submitted", "request.resubmitted", "request.withdrawn"):
        assert by_type[kind]["actor"].startswith("sha256:"), kind
        assert _opened(village, by_type[kind]["actor"]) == "user:resident"
    submitted = by_type["request.submitted"]["data"]
    assert _opened(village, submitted["applicant"]) == "user:resident"
    assert _opened(village, submitted["matter"]) == "test.residence"
    assert submitted["applicant"] != by_type["request.submitted"]["actor"]  # salted apart: not linkable
    # Officials stay named: their decisions are what the log shows.
    assert [e["actor"] for e in entries if e["type"] == "request.decided"] == ["user:leader", "user:secretary"]


def test_the_public_record_names_no_one_to_those_who_may_not_see_the_request(
    client: TestClient, village: Village, log: LogService
) -> None:
    rid = submit(client).json()["id"]
    assert decide(client, "leader", rid, 1).status_code == 200
    log.integrator.run_until_idle()
    with village.runtime.sessions() as s:
        request = s.get(SealRequest, rid)
        assert request is not None
        public_id = request.public_id
    for headers in ({}, login(client, "outsider")):
        page = client.get(f"/records/{public_id}", headers=headers)
        assert page.status_code == 200
        for name in ("符阿妹", "resident", "组长甲", "user:leader", "sha256:"):
            assert name not in page.text, name
        linked = re.findall(r'href="/explorer/entries/(\d+)"', page.text)
        assert linked  # the log's entries are there, without their actors, and they name no one either
        for index in linked:
            entry = client.get(f"/api/v1/log/entries/{index}")
            assert entry.status_code == 200
            assert "resident" not in entry.text
    named = client.get(f"/records/{public_id}", headers=login(client, "resident"))
    assert "符阿妹" in named.text
    assert "user:leader" in named.text
    assert "user:resident" in named.text  # the submission's actor, opened for those who may see the request
