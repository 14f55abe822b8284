"""Dual control over posts and seals, administrators kept to their organisations, seals named after theirs: each
rule over HTTP on the demo, whose district has two administrators (yz.admin, yz.admin2) and two certificate
administrators."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.runtime import Runtime
from identity import admin, auth, directory
from identity.models import PostGrant, User
from identity.posts import OrgKind, Post
from tests.api.on_demo import add_user, api, ask_post, bearer, seal_of

__all__ = ["api"]
GROUP_SEAL = "三亚市崖州区北岭村第一村民小组"


def _approve(client: TestClient, headers: dict[str, str], request_id: int) -> int:
    answer = client.post(f"/api/v1/admin/grant-requests/{request_id}/approve", headers=headers)
    return int(answer.status_code)


def _township(runtime: Runtime) -> None:
    """A township under Yazhou with its own administrator (t.admin / demo-t-admin), and a village under it."""
    now = runtime.clock.now()
    with runtime.sessions() as s:
        for code, name, kind, parent in [
            ("yazhou.t", "崖城镇", OrgKind.TOWNSHIP, "yazhou"),
            ("yazhou.t.v", "保平村", OrgKind.VILLAGE, "yazhou.t"),
        ]:
            directory.create_organisation(
                s, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=now, actor="test"
            )
        for username, home in [("t.admin", None), ("t.admin2", None), ("tv.resident", "yazhou.t.v")]:
            directory.create_user(
                s,
                username=username,
                display_name=username,
                password="demo-" + username.replace(".", "-"),
                home_code=home,
                now=now,
                actor="test",
            )
        for username in ("t.admin", "t.admin2"):
            directory.grant_post(
                s, username=username, org_code="yazhou.t", post=Post.ADMIN, valid_from=now, now=now, actor="test"
            )
        s.commit()


def test_a_post_waits_for_a_second_administrator_who_approves_it(api: TestClient, runtime: Runtime) -> None:
    admin, admin2 = bearer(api, "yz.admin"), bearer(api, "yz.admin2")
    asked = ask_post(api, admin, "bl.resident", "committee_member", "yazhou.beiling")
    assert asked.status_code == 202, asked.text
    resident = bearer(api, "bl.resident")
    assert api.get("/api/v1/me", headers=resident).json()["posts"] == []
    assert _approve(api, admin, asked.json()["id"]) == 403  # the asker does not approve
    approved = api.post(f"/api/v1/admin/grant-requests/{asked.json()['id']}/approve", headers=admin2)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert [p["post"] for p in api.get("/api/v1/me", headers=resident).json()["posts"]] == ["committee_member"]
    with runtime.readers() as session:
        grant = session.get(PostGrant, approved.json()["grant"])
        assert grant is not None
        ids = {name: user_id for name, user_id in session.execute(select(User.username, User.id))}
        assert (grant.granted_by_id, grant.approved_by_id) == (ids["yz.admin"], ids["yz.admin2"])
    assert _approve(api, admin2, asked.json()["id"]) == 409  # decided already


def test_a_post_asked_for_can_be_rejected_and_nothing_is_held(api: TestClient) -> None:
    asked = ask_post(api, bearer(api, "yz.admin"), "bl.resident", "secretary", "yazhou.beiling").json()
    rejected = api.post(f"/api/v1/admin/grant-requests/{asked['id']}/reject", headers=bearer(api, "yz.admin2"))
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "rejected"
    assert api.get("/api/v1/me", headers=bearer(api, "bl.resident")).json()["posts"] == []
    listed = api.get("/api/v1/admin/grant-requests", params={"state": "rejected"}, headers=bearer(api, "yz.admin"))
    assert [a["id"] for a in listed.json()] == [asked["id"]]


def test_a_staff_post_is_granted_by_one_administrator(api: TestClient) -> None:
    assert ask_post(api, bearer(api, "yz.admin"), "yz.admin", "staff", "yazhou").status_code == 403
    granted = ask_post(api, bearer(api, "yz.admin"), "bl.resident", "staff", "yazhou.beiling")
    assert granted.status_code == 201, granted.text
    assert [p["post"] for p in api.get("/api/v1/me", headers=bearer(api, "bl.resident")).json()["posts"]] == ["staff"]


def test_nobody_approves_from_a_lower_organisation_or_for_themselves(api: TestClient, runtime: Runtime) -> None:
    _township(runtime)
    asked = ask_post(api, bearer(api, "yz.admin"), "t.admin2", "inspector", "yazhou")
    assert asked.status_code == 202, asked.text
    assert _approve(api, bearer(api, "t.admin"), asked.json()["id"]) == 403  # a township's admin, a district post
    assert _approve(api, bearer(api, "t.admin2"), asked.json()["id"]) == 403  # the post is for the approver
    assert _approve(api, bearer(api, "yz.admin2"), asked.json()["id"]) == 200
    # A district administrator approves what a township's asked for in the township.
    lower = ask_post(api, bearer(api, "t.admin"), "tv.resident", "secretary", "yazhou.t.v")
    assert lower.status_code == 202, lower.text
    assert _approve(api, bearer(api, "yz.admin2"), lower.json()["id"]) == 200


def test_no_approval_from_an_account_the_asker_made(api: TestClient, runtime: Runtime) -> None:
    admin = bearer(api, "yz.admin")
    puppet = add_user(api, admin, "puppet")
    now = runtime.clock.now()
    with runtime.sessions() as s:  # say the operator gave the puppet the admin post at the console
        directory.grant_post(
            s, username="puppet", org_code="yazhou", post=Post.ADMIN, valid_from=now, now=now, actor="cli"
        )
        s.commit()
    asked = ask_post(api, admin, "bl.resident", "seal_admin", "yazhou.beiling")
    refused = api.post(f"/api/v1/admin/grant-requests/{asked.json()['id']}/approve", headers=puppet)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/separation-of-duties"
    assert api.get("/api/v1/me", headers=bearer(api, "bl.resident")).json()["posts"] == []


def test_no_approval_from_an_admin_post_the_asker_asked_for(api: TestClient) -> None:
    admin, admin2 = bearer(api, "yz.admin"), bearer(api, "yz.admin2")
    made = api.post(
        "/api/v1/admin/users",
        json={"username": "lin", "display_name": "林", "password": "lin-pass-2026", "home": None},
        headers=admin2,
    )
    assert made.status_code == 201
    raised = ask_post(api, admin, "lin", "admin", "yazhou").json()
    assert _approve(api, admin2, raised["id"]) == 200  # lin is admin2's account, but admin asked for the post
    lin = bearer(api, "lin", "lin-pass-2026")
    asked = ask_post(api, admin, "bl.resident", "custodian", "yazhou.beiling").json()
    refused = api.post(f"/api/v1/admin/grant-requests/{asked['id']}/approve", headers=lin)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/separation-of-duties"
    # And admin2 made lin's account: lin does not approve what admin2 asks for either.
    other = ask_post(api, admin2, "bl.resident", "committee_member", "yazhou.beiling").json()
    assert _approve(api, lin, other["id"]) == 403


def test_no_certificate_operation_approved_by_a_post_the_asker_granted(api: TestClient, runtime: Runtime) -> None:
    """yz.certadmin2 asks; a certificate administrator whose account or post yz.certadmin2 made cannot approve."""
    now = runtime.clock.now()
    with runtime.sessions() as s:
        asker = directory.user(s, "yz.certadmin2")
        for username in ("made", "granted"):
            directory.create_user(
                s,
                username=username,
                display_name=username,
                password="pass-of-" + username,
                home_code=None,
                now=now,
                actor="user:yz.certadmin2" if username == "made" else "cli",
            )
            directory.grant_post(
                s,
                username=username,
                org_code="yazhou",
                post=Post.CERT_ADMIN,
                valid_from=now,
                now=now,
                actor="cli" if username == "made" else "user:yz.admin2",
                asked_by="user:yz.certadmin2" if username == "granted" else None,
            )
        assert directory.user(s, "made").created_by_id == asker.id
        s.commit()
    seal = seal_of(runtime, "yazhou.beiling")
    asked = api.post(
        "/api/v1/certificates/operations", json={"seal": seal, "kind": "renew"}, headers=bearer(api, "yz.certadmin2")
    ).json()
    for username in ("made", "granted"):
        refused = api.post(
            f"/api/v1/certificates/operations/{asked['id']}/approve",
            headers=bearer(api, username, "pass-of-" + username),
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "/problems/separation-of-duties"
    done = api.post(f"/api/v1/certificates/operations/{asked['id']}/approve", headers=bearer(api, "yz.certadmin1"))
    assert done.status_code == 200, done.text


def test_the_last_administrator_post_is_not_ended(api: TestClient, runtime: Runtime) -> None:
    _township(runtime)
    district = bearer(api, "yz.admin")
    grants = api.get("/api/v1/admin/users/t.admin/posts", headers=district).json()
    first = api.post(f"/api/v1/admin/users/t.admin/posts/{grants[0]['id']}/end", json={}, headers=district)
    assert first.status_code == 200, first.text
    grants = api.get("/api/v1/admin/users/t.admin2/posts", headers=district).json()
    last = api.post(f"/api/v1/admin/users/t.admin2/posts/{grants[0]['id']}/end", json={}, headers=district)
    assert last.status_code == 409, last.text
    assert "last administrator" in last.json()["detail"]
    assert last.json()["rule"] == "last-administrator"


def test_a_post_asked_for_by_an_administrator_since_removed_is_not_approved(api: TestClient, runtime: Runtime) -> None:
    """The asker's admin post ends while the request waits: the second administrator can only reject it."""
    _township(runtime)
    asked = ask_post(api, bearer(api, "t.admin"), "tv.resident", "committee_member", "yazhou.t.v")
    assert asked.status_code == 202, asked.text
    district = bearer(api, "yz.admin")
    grants = api.get("/api/v1/admin/users/t.admin/posts", headers=district).json()
    ended = api.post(f"/api/v1/admin/users/t.admin/posts/{grants[0]['id']}/end", json={}, headers=district)
    assert ended.status_code == 200, ended.text
    second = bearer(api, "t.admin2")
    refused = api.post(f"/api/v1/admin/grant-requests/{asked.json()['id']}/approve", headers=second)
    assert refused.status_code == 409, refused.text
    assert "t.admin, who no longer administers" in refused.json()["detail"]
    assert api.get("/api/v1/me", headers=bearer(api, "tv.resident")).json()["posts"] == []
    rejected = api.post(f"/api/v1/admin/grant-requests/{asked.json()['id']}/reject", headers=second)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["state"] == "rejected"


def test_no_administrator_disables_themselves(api: TestClient) -> None:
    """yz.admin2 is there to take over, so only the rule on oneself refuses it."""
    admin = bearer(api, "yz.admin")
    refused = api.post("/api/v1/admin/users/yz.admin/disable", headers=admin)
    assert refused.status_code == 403, refused.text
    assert "own account" in refused.json()["detail"]
    assert api.get("/api/v1/me", headers=admin).status_code == 200


def test_a_post_does_not_start_in_the_past(api: TestClient, runtime: Runtime) -> None:
    admin = bearer(api, "yz.admin")
    now = runtime.clock.now()
    for post in ("staff", "secretary"):
        past = ask_post(
            api, admin, "bl.resident", post, "yazhou.beiling", valid_from=(now - dt.timedelta(hours=1)).isoformat()
        )
        assert past.status_code == 422, past.text
        assert "past" in past.json()["detail"]
    skewed = ask_post(
        api, admin, "bl.resident", "staff", "yazhou.beiling", valid_from=(now - dt.timedelta(seconds=30)).isoformat()
    )
    assert skewed.status_code == 201, skewed.text


def test_a_post_does_not_end_in_the_past(api: TestClient, runtime: Runtime) -> None:
    admin = bearer(api, "yz.admin")
    grants = api.get("/api/v1/admin/users/bl.secretary/posts", headers=admin).json()
    path = f"/api/v1/admin/users/bl.secretary/posts/{grants[0]['id']}/end"
    now = runtime.clock.now()
    past = api.post(path, json={"at": (now - dt.timedelta(hours=1)).isoformat()}, headers=admin)
    assert past.status_code == 422, past.text
    assert "past" in past.json()["detail"]
    assert len(api.get("/api/v1/me", headers=bearer(api, "bl.secretary")).json()["posts"]) == len(grants)
    assert api.post(path, json={}, headers=admin).status_code == 200  # now, as the page ends it


def test_a_township_administrator_stays_in_the_township(api: TestClient, runtime: Runtime) -> None:
    _township(runtime)
    township = bearer(api, "t.admin")
    for method, path in [
        ("POST", "/api/v1/admin/users/bl.resident/disable"),
        ("POST", "/api/v1/admin/users/bl.resident/enable"),
        ("GET", "/api/v1/admin/users/bl.resident/posts"),
        ("GET", "/api/v1/admin/users/bl.secretary/posts"),
    ]:
        answer = api.request(method, path, headers=township)
        assert answer.status_code == 403, (path, answer.text)
    grants = api.get("/api/v1/admin/users/bl.secretary/posts", headers=bearer(api, "yz.admin")).json()
    ended = api.post(f"/api/v1/admin/users/bl.secretary/posts/{grants[0]['id']}/end", json={}, headers=township)
    assert ended.status_code == 403
    assert api.post("/api/v1/admin/users/tv.resident/disable", headers=township).status_code == 200
    assert api.get("/api/v1/me", headers=bearer(api, "bl.resident")).status_code == 200


def test_a_seal_is_suspended_and_resumed_by_two_certificate_administrators(api: TestClient, runtime: Runtime) -> None:
    one, two = bearer(api, "yz.certadmin1"), bearer(api, "yz.certadmin2")
    seal = seal_of(runtime, "yazhou.beiling", form="physical")
    asked = api.post(f"/api/v1/seals/{seal}/suspend", headers=one)
    assert asked.status_code == 202, asked.text
    assert asked.json()["kind"] == "suspend"
    assert api.get(f"/api/v1/seals/{seal}", headers=one).json()["status"] == "active"
    assert api.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", headers=one).status_code == 403
    approved = api.post(f"/api/v1/certificates/operations/{asked.json()['id']}/approve", headers=two)
    assert approved.status_code == 200, approved.text
    assert api.get(f"/api/v1/seals/{seal}", headers=one).json()["status"] == "suspended"
    resume = api.post("/api/v1/certificates/operations", json={"seal": seal, "kind": "resume"}, headers=two).json()
    assert api.get(f"/api/v1/seals/{seal}", headers=one).json()["status"] == "suspended"
    assert api.post(f"/api/v1/certificates/operations/{resume['id']}/approve", headers=one).status_code == 200
    assert api.get(f"/api/v1/seals/{seal}", headers=one).json()["status"] == "active"
    again = api.post(f"/api/v1/seals/{seal}/resume", headers=one)
    assert again.status_code == 409


def test_a_seal_fits_its_organisation_in_kind_and_name(api: TestClient) -> None:
    one = bearer(api, "yz.certadmin1")
    body = {"organisation": "yazhou.beiling", "kind": "village_finance", "form": "physical"}
    for wrong in [
        {**body, "name": "三亚市崖州区水南村村民委员会"},  # another village's name
        {**body, "name": "村民委员会财务专用章"},  # no organisation's name
        {**body, "organisation": "yazhou.agri", "kind": "village_official", "name": "崖州区农业农村局"},
        {**body, "organisation": "yazhou.beiling.g1", "kind": "village_official", "name": "北岭村第一村民小组"},
        {**body, "kind": "group_official", "name": "北岭村村民委员会"},
        {**body, "kind": "no_such_kind", "name": "北岭村村民委员会"},
    ]:
        refused = api.post("/api/v1/seals", json=wrong, headers=one)
        assert refused.status_code == 422, (wrong, refused.text)
    for right in [
        {**body, "name": "北岭村村民委员会财务专用章"},
        {**body, "name": "三亚市崖州区北岭村村民委员会"},
        {
            **body,
            "organisation": "yazhou.beiling.g1",
            "kind": "group_official",
            "name": "三亚市崖州区北岭村第一村民小组",
        },
    ]:
        added = api.post("/api/v1/seals", json=right, headers=one)
        assert added.status_code == 201, (right, added.text)


def test_a_township_administrator_lists_only_people_of_the_township(api: TestClient, runtime: Runtime) -> None:
    _township(runtime)
    now = runtime.clock.now()
    with runtime.sessions() as s:
        directory.create_user(
            s, username="both", display_name="两地", password="pass-word-1", home_code=None, now=now, actor="cli"
        )
        for org in ("yazhou.t.v", "yazhou.beiling"):
            directory.grant_post(
                s, username="both", org_code=org, post=Post.STAFF, valid_from=now, now=now, actor="cli"
            )
        s.commit()
        township = auth.principal_of(s, directory.user(s, "t.admin"), now)
        listed = {u.username for u in admin.users(s, township, now)}
        district = {u.username for u in admin.users(s, auth.principal_of(s, directory.user(s, "yz.admin"), now), now)}
    assert "tv.resident" in listed
    assert not listed & {"both", "bl.resident", "bl.secretary", "yz.admin"}
    assert {"both", "bl.resident", "tv.resident"} <= district
    assert api.get("/api/v1/admin/users/both/posts", headers=bearer(api, "t.admin")).status_code == 403
