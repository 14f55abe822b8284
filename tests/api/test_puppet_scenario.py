"""The district administrator, alone with its one account, tries to seal for 北岭村: it makes puppet accounts, asks
for posts for itself and for them, and tries to have a certificate issued and a request approved. Every step that
would give power stops at the grant that waits for a second administrator."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from ca.models import Certificate, Operation
from core.runtime import Runtime
from identity.models import PostGrant, User
from tests.api.on_demo import add_user, api, ask_post, bearer, seal_of

__all__ = ["api"]

SUBSIDY = {
    "matter": "agri.winter-vegetable-subsidy",
    "organisation": "yazhou.beiling",
    "seal": "village_official",
    "seal_form": "electronic",
    "purpose": "申请冬季瓜菜种植补贴",
    "form": {
        "phone": "13876543210",
        "id_number": "460204196211051246",
        "ssn": "H6211051246",
        "crop": "辣椒",
        "cycles": 2,
        "area": 3.5,
        "location": "北岭村",
    },
}


def test_one_administrator_with_puppets_gets_no_seal_of_beiling(api: TestClient, runtime: Runtime) -> None:
    admin = bearer(api, "yz.admin")
    puppets = {
        name: add_user(api, admin, name, home)
        for name, home in [
            ("puppet.ca1", None),
            ("puppet.ca2", None),
            ("puppet.admin", None),
            ("puppet.leader", "yazhou.beiling.g1"),
            ("puppet.secretary", "yazhou.beiling"),
            ("puppet.sealer", "yazhou.beiling"),
        ]
    }

    # The administrator cannot ask for a post for itself.
    itself = ask_post(api, admin, "yz.admin", "cert_admin", "yazhou")
    assert itself.status_code == 403, itself.text
    assert "themselves" in itself.json()["detail"]

    # A post for a puppet waits: nobody holds it until a second administrator approves.
    asked = {}
    for name, post, org in [
        ("puppet.ca1", "cert_admin", "yazhou"),
        ("puppet.ca2", "cert_admin", "yazhou"),
        ("puppet.admin", "admin", "yazhou"),
        ("puppet.leader", "group_leader", "yazhou.beiling.g1"),
        ("puppet.secretary", "secretary", "yazhou.beiling"),
        ("puppet.sealer", "seal_admin", "yazhou.beiling"),
    ]:
        answer = ask_post(api, admin, name, post, org)
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "pending"
        asked[name] = answer.json()["id"]
    for name, headers in puppets.items():
        assert api.get("/api/v1/me", headers=headers).json()["posts"] == [], name
    with runtime.readers() as session:
        held = session.scalars(
            select(PostGrant.id).join(User, User.id == PostGrant.user_id).where(User.username.startswith("puppet."))
        ).all()
        assert held == []

    # Neither the administrator nor a puppet approves what the administrator asked for.
    for headers in (admin, puppets["puppet.admin"], puppets["puppet.ca2"]):
        refused = api.post(f"/api/v1/admin/grant-requests/{asked['puppet.ca1']}/approve", headers=headers)
        assert refused.status_code == 403, refused.text
    pending = api.get("/api/v1/admin/grant-requests", headers=admin).json()
    assert {p["id"] for p in pending} >= set(asked.values())
    assert {p["state"] for p in pending} == {"pending"}

    # No certificate for 北岭村's seal: not by the administrator, not by a puppet, not with a real one's help.
    seal = seal_of(runtime, "yazhou.beiling")
    before = api.get(f"/api/v1/seals/{seal}", headers=bearer(api, "yz.certadmin1")).json()["certificate"]["serial"]
    for headers in (admin, puppets["puppet.ca1"]):
        renew = api.post("/api/v1/certificates/operations", json={"seal": seal, "kind": "renew"}, headers=headers)
        assert renew.status_code == 403, renew.text
    real = api.post(
        "/api/v1/certificates/operations", json={"seal": seal, "kind": "renew"}, headers=bearer(api, "yz.certadmin1")
    )
    assert real.status_code == 202, real.text
    for headers in (admin, puppets["puppet.ca1"], puppets["puppet.ca2"]):
        approve = api.post(f"/api/v1/certificates/operations/{real.json()['id']}/approve", headers=headers)
        assert approve.status_code == 403, approve.text
    after = api.get(f"/api/v1/seals/{seal}", headers=bearer(api, "yz.certadmin1")).json()["certificate"]["serial"]
    assert after == before
    with runtime.readers() as session:
        assert session.scalar(select(Operation.state).where(Operation.id == real.json()["id"])) == "pending"
        assert session.scalars(select(Certificate.serial).where(Certificate.seal_id == seal)).all() == [before]

    # A request of 北岭村 does not get past its first level with puppets: they decide nothing.
    applicant = add_user(api, admin, "puppet.applicant", "yazhou.beiling.g1")
    submitted = api.post("/api/v1/requests", json=SUBSIDY, headers=applicant)
    assert submitted.status_code == 201, submitted.text
    request = submitted.json()
    for name in ("puppet.leader", "puppet.secretary", "puppet.sealer"):
        for level in (1, 2, 3):
            decided = api.post(
                f"/api/v1/requests/{request['id']}/decisions",
                json={"decision": "approve", "level": level},
                headers=puppets[name],
            )
            assert decided.status_code in (403, 404, 409), (name, level, decided.text)
    mine = api.get(f"/api/v1/requests/{request['id']}", headers=applicant).json()
    assert (mine["state"], mine["level"]) == (request["state"], request["level"]) == ("in_review", 1)
