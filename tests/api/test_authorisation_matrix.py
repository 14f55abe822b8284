"""Who may call what: every route of the application (the API and the pages, every method) against one caller of
each kind of post and an anonymous one, on the demo. The table below is the rule: a caller it names must get past
authorisation (any answer but 401, 403 or 404: a 409 or a 422 is the handler speaking), every other caller must be
refused with 401, 403 or 404 (an anonymous browser: sent to the sign-in page), and all the refusals together must
change nothing: no row in any table, no entry in the log. A route the table does not list fails the test, so the
table stays whole.

Cells where today's answer breaks the rule are marked ``KNOWN`` with the rule that is meant, and expected to fail
(strictly: once the rule holds, the mark must go)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.keystore import Keystore
from tests.api.matrix_setup import ANONYMOUS, World, world
from tests.web.test_every_page import _routes

pytestmark = pytest.mark.xdist_group("timed")

RESIDENT = "sn.resident"  # the applicant of the sample requests, in 水南村 group 1
STAFF = "sn.staff"  # staff and committee member of 水南村
LEADER = "sn.g1.leader"  # group leader of the applicant's group
SECRETARY = "sn.secretary"  # secretary and committee member of 水南村
COMMITTEE = "sn.committee1"
SEAL_ADMIN = "sn.sealadmin"
CUSTODIAN = "sn.custodian1"  # keeps machine shuinan-1
INSPECTOR = "yz.inspector"
CERT_ADMIN = "yz.certadmin1"
BUREAU = "yz.agri"  # the bureau the subsidy is sent to
ADMIN = "yz.admin"
# The secretary of another village, 北岭村, named deputy of the group leader by a stale delegation.
OUTSIDER = "bl.secretary"
PRINCIPALS = (
    ANONYMOUS,
    RESIDENT,
    STAFF,
    LEADER,
    SECRETARY,
    COMMITTEE,
    SEAL_ADMIN,
    CUSTODIAN,
    INSPECTOR,
    CERT_ADMIN,
    BUREAU,
    ADMIN,
    OUTSIDER,
)

EVERYONE = frozenset(PRINCIPALS)
SIGNED_IN = EVERYONE - {ANONYMOUS}
NOBODY: frozenset[str] = frozenset()
APPROVERS = frozenset({STAFF, LEADER, SECRETARY, COMMITTEE, SEAL_ADMIN, OUTSIDER})  # hold a deciding post
KEEPERS = frozenset({ADMIN, CUSTODIAN, INSPECTOR, SEAL_ADMIN})
# Who sees a request of 水南村: its applicant, every post of the village, the inspectors and administrators above.
SEES_IT = frozenset({RESIDENT, STAFF, LEADER, SECRETARY, COMMITTEE, SEAL_ADMIN, CUSTODIAN, INSPECTOR, ADMIN})
# Who takes the document of the sealed one: its applicant, its three approvers and the bureau it is sent to.
TAKES_IT = frozenset({RESIDENT, LEADER, SECRETARY, SEAL_ADMIN, BUREAU})


def of(*names: str) -> frozenset[str]:
    return frozenset(names)


# The rule: for each route, who may get past authorisation.
ALLOWED: dict[str, frozenset[str]] = {
    # Open to everyone: health, the log, the CA's public services, verification, public records, the sign-in.
    "GET /healthz": EVERYONE,
    "GET /readyz": EVERYONE,
    "GET /metrics": NOBODY,  # configured addresses or a token, not a user
    "POST /api/v1/auth/token": EVERYONE,
    "DELETE /api/v1/auth/token": SIGNED_IN,
    "GET /log/checkpoint": EVERYONE,
    "GET /log/tile/{path:path}": EVERYONE,
    "GET /api/v1/log/entries/{index}": EVERYONE,
    "GET /api/v1/log/entries/{index}/receipt": EVERYONE,
    "GET /api/v1/log/proofs/inclusion": EVERYONE,
    "GET /api/v1/log/proofs/consistency": EVERYONE,
    "GET /api/v1/log/key": EVERYONE,
    "GET /ca/crl": EVERYONE,
    "GET /ca/arl": EVERYONE,
    "GET /ca/chain": EVERYONE,
    "GET /ca/issuer": EVERYONE,
    "GET /ca/root": EVERYONE,
    "POST /ca/ocsp": EVERYONE,
    "GET /ca/ocsp/{encoded:path}": EVERYONE,
    "POST /ca/tsa": EVERYONE,
    "POST /api/v1/verify": EVERYONE,
    "GET /verify": EVERYONE,
    "POST /verify": EVERYONE,
    "GET /records/{public_id}": EVERYONE,
    "GET /records/{public_id}/photos/{sha256}": NOBODY,  # no photo in the demo: 404 for all
    "GET /problems": EVERYONE,
    "GET /problems/{slug}": EVERYONE,
    "GET /docs": EVERYONE,
    "GET /login": EVERYONE,
    "POST /login": EVERYONE,
    "GET /explorer": EVERYONE,
    "GET /explorer/entries/{index}": EVERYONE,
    # Anyone signed in.
    "GET /api/v1/me": SIGNED_IN,
    "GET /api/v1/matters": SIGNED_IN,
    "GET /api/v1/matters/{code}": SIGNED_IN,
    "GET /api/v1/negative-list": SIGNED_IN,
    # Anyone who lives or holds a post in 水南村 asks for its seal; the district's people do not.
    "POST /api/v1/requests": of(RESIDENT, STAFF, LEADER, SECRETARY, COMMITTEE, SEAL_ADMIN, CUSTODIAN),
    "POST /requests/new": of(RESIDENT, STAFF, LEADER, SECRETARY, COMMITTEE, SEAL_ADMIN, CUSTODIAN),
    "GET /api/v1/requests": SIGNED_IN,
    "GET /api/v1/approvals/inbox": SIGNED_IN,
    "GET /api/v1/notifications": SIGNED_IN,
    "GET /api/v1/delegations": SIGNED_IN,
    "POST /api/v1/delegations": of(SECRETARY),  # the secretary's own post
    "POST /logout": SIGNED_IN,
    "GET /": SIGNED_IN,
    "GET /requests": SIGNED_IN,
    "GET /requests/new": SIGNED_IN,
    "POST /requests/new/preview": SIGNED_IN,
    # One request of 水南村's group 1: its applicant, its approvers, and those who oversee the village.
    "GET /api/v1/requests/{request_id}": SEES_IT,
    "GET /api/v1/requests/{request_id}/document": TAKES_IT,
    "GET /api/v1/requests/{request_id}/sheet": NOBODY,  # an electronic seal has no sheet: 404 for all
    "GET /api/v1/requests/{request_id}/receipt": SEES_IT | {BUREAU},
    "POST /api/v1/requests/{request_id}/withdraw": of(RESIDENT),
    "POST /api/v1/requests/{request_id}/resubmit": of(RESIDENT),
    "POST /api/v1/requests/{request_id}/decisions": of(LEADER),
    "POST /api/v1/requests/{request_id}/retry": of(SEAL_ADMIN, ADMIN),
    "GET /requests/{request_id}": SEES_IT,
    "GET /requests/{request_id}/document": TAKES_IT,
    "GET /requests/{request_id}/pages/{number}": TAKES_IT,
    "GET /requests/{request_id}/sheet": NOBODY,  # as above
    "GET /requests/{request_id}/photos/{sha256}": NOBODY,  # no photo in the demo: 404 for all
    "POST /requests/{request_id}/withdraw": of(RESIDENT),
    "POST /requests/{request_id}/resubmit": of(RESIDENT),
    "POST /requests/{request_id}/retry": of(SEAL_ADMIN, ADMIN),  # as the API's
    "GET /inbox": APPROVERS,
    "GET /inbox/{request_id}": of(STAFF, LEADER, SECRETARY, COMMITTEE, SEAL_ADMIN),
    "POST /inbox/{request_id}": of(LEADER),
    "GET /delegations": APPROVERS,
    "POST /delegations": of(SECRETARY),  # the secretary's own post, as for the API
    "POST /api/v1/delegations/{delegation_id}/end": of(SECRETARY, STAFF),
    "POST /delegations/{delegation_id}/end": of(SECRETARY, STAFF),
    "GET /api/v1/supervision/overdue": of(SECRETARY, SEAL_ADMIN, INSPECTOR, ADMIN, OUTSIDER),
    "POST /api/v1/notifications/{notification_id}/read": of(LEADER),
    "GET /supervision": of(INSPECTOR),
    "GET /bureau": of(BUREAU),
    # Machines and alarms of 水南村.
    "POST /api/v1/machines": of(ADMIN, SEAL_ADMIN),
    "GET /api/v1/machines": SIGNED_IN,
    "GET /api/v1/machines/{machine_id}": KEEPERS,
    "POST /api/v1/machines/{machine_id}/enrolment-code": of(ADMIN, SEAL_ADMIN),
    "POST /api/v1/machines/{machine_id}/suspend": of(ADMIN, SEAL_ADMIN),
    "POST /api/v1/machines/{machine_id}/resume": of(ADMIN, SEAL_ADMIN),
    "POST /api/v1/machines/{machine_id}/retire": of(ADMIN, SEAL_ADMIN),
    "POST /api/v1/machines/{machine_id}/revoke-epoch": of(ADMIN, SEAL_ADMIN),
    "GET /api/v1/alarms": SIGNED_IN,
    "POST /api/v1/alarms/{alarm_id}/acknowledge": of(ADMIN, CUSTODIAN, SEAL_ADMIN),  # inspectors only look
    "GET /machines": KEEPERS,
    "GET /machines/{machine_id}": KEEPERS,
    "POST /alarms/{alarm_id}/acknowledge": of(ADMIN, CUSTODIAN, SEAL_ADMIN),
    "GET /admin/machines": of(ADMIN, SEAL_ADMIN),
    "POST /admin/machines": of(ADMIN, SEAL_ADMIN),
    "POST /admin/machines/{machine_id}/suspend": of(ADMIN, SEAL_ADMIN),
    "POST /admin/machines/{machine_id}/resume": of(ADMIN, SEAL_ADMIN),
    "POST /admin/machines/{machine_id}/retire": of(ADMIN, SEAL_ADMIN),
    "POST /admin/machines/{machine_id}/revoke-epoch": of(ADMIN, SEAL_ADMIN),
    # Machines speak for themselves with their own credentials, bureaus' inboxes take signed deliveries: no user.
    "POST /api/v1/terminals/{machine_id}/enrol": NOBODY,
    "GET /api/v1/terminals/{machine_id}/authorizations": NOBODY,
    "POST /api/v1/terminals/{machine_id}/events": NOBODY,
    "POST /api/v1/terminals/{machine_id}/photos": NOBODY,
    "POST /api/v1/bureaus/{code}/deliveries": NOBODY,
    # Seals and certificates: the certificate administrators, two of them for each operation.
    "POST /api/v1/seals": of(CERT_ADMIN),
    "POST /api/v1/seals/{seal_id}/suspend": of(CERT_ADMIN),
    "POST /api/v1/seals/{seal_id}/resume": of(CERT_ADMIN),
    "GET /api/v1/seals/{seal_id}": SIGNED_IN,
    "GET /api/v1/certificates": SIGNED_IN,
    "POST /api/v1/certificates/operations": of(CERT_ADMIN),
    "POST /api/v1/certificates/operations/{op_id}/approve": of(CERT_ADMIN),
    "POST /api/v1/certificates/operations/{op_id}/reject": of(CERT_ADMIN),
    "GET /api/v1/certificates/operations": of(CERT_ADMIN, ADMIN),
    "GET /admin": of(ADMIN, CERT_ADMIN, SEAL_ADMIN),
    "GET /admin/seals": of(ADMIN, CERT_ADMIN),
    "POST /admin/seals": of(CERT_ADMIN),
    "POST /admin/seals/{seal_id}/operations": of(CERT_ADMIN),
    "GET /admin/certificates": of(ADMIN, CERT_ADMIN),
    "POST /admin/certificates/{operation_id}/approve": of(CERT_ADMIN),
    "POST /admin/certificates/{operation_id}/reject": of(CERT_ADMIN),
    # People, organisations, the catalogue and the outbox: the administrator.
    "GET /api/v1/admin/organisations": of(ADMIN),
    "POST /api/v1/admin/organisations": of(ADMIN),
    "POST /api/v1/admin/users": of(ADMIN),
    "GET /api/v1/admin/users/{username}/posts": of(ADMIN),
    "GET /api/v1/admin/grant-requests": of(ADMIN),
    "POST /api/v1/admin/grant-requests/{request_id}/approve": of(ADMIN),  # asked by the second, yz.admin2
    "POST /api/v1/admin/grant-requests/{request_id}/reject": of(ADMIN),
    "POST /admin/grant-requests/{request_id}/approve": of(ADMIN),
    "POST /admin/grant-requests/{request_id}/reject": of(ADMIN),
    "POST /api/v1/admin/users/{username}/posts": of(ADMIN),
    "POST /api/v1/admin/users/{username}/posts/{grant_id}/end": of(ADMIN),
    "POST /api/v1/admin/users/{username}/disable": of(ADMIN),
    "POST /api/v1/admin/users/{username}/enable": of(ADMIN),
    "GET /api/v1/admin/catalog": of(ADMIN),
    "PUT /api/v1/admin/catalog": of(ADMIN),
    "PUT /api/v1/admin/catalog/matters/{code}": of(ADMIN),
    "DELETE /api/v1/admin/catalog/matters/{code}": of(ADMIN),
    "GET /api/v1/admin/outbox": of(ADMIN),
    "POST /api/v1/admin/outbox/{message_id}/retry": of(ADMIN),
    "GET /admin/outbox": of(ADMIN),
    "POST /admin/outbox/{message_id}/retry": of(ADMIN),
    "GET /admin/organisations": of(ADMIN),
    "POST /admin/organisations": of(ADMIN),
    "GET /admin/users": of(ADMIN),
    "POST /admin/users": of(ADMIN),
    "GET /admin/users/{username}": of(ADMIN),
    "POST /admin/users/{username}/posts": of(ADMIN),
    "POST /admin/users/{username}/posts/end": of(ADMIN),
    "POST /admin/users/{username}/disable": of(ADMIN),
    "POST /admin/users/{username}/enable": of(ADMIN),
    "GET /admin/catalog": of(ADMIN),
    "GET /admin/catalog/export": of(ADMIN),
    "POST /admin/catalog": of(ADMIN),
    "POST /admin/catalog/matters/{matter}/retire": of(ADMIN),
}


@dataclass(frozen=True)
class Known:
    """Cells where today's answer breaks the rule in ``ALLOWED``, and why."""

    routes: tuple[str, ...]
    principals: frozenset[str]
    reason: str


KNOWN: list[Known] = []  # none today


# Path parameters that name something else than the sample of their name, for a route that changes it.
PATHS: dict[str, dict[str, str]] = {
    "GET /api/v1/requests/{request_id}/document": {"request_id": "sealed_id"},
    "GET /api/v1/requests/{request_id}/receipt": {"request_id": "sealed_id"},
    "GET /requests/{request_id}/document": {"request_id": "sealed_id"},
    "GET /requests/{request_id}/pages/{number}": {"request_id": "sealed_id"},
    "POST /api/v1/requests/{request_id}/withdraw": {"request_id": "withdrawn_id"},
    "POST /requests/{request_id}/withdraw": {"request_id": "withdrawn_id"},
    "POST /api/v1/requests/{request_id}/decisions": {"request_id": "decided_id"},
    "POST /api/v1/requests/{request_id}/retry": {"request_id": "retried_id"},
    "POST /api/v1/admin/grant-requests/{request_id}/approve": {"request_id": "grant_request_id"},
    "POST /api/v1/admin/grant-requests/{request_id}/reject": {"request_id": "grant_request_id"},
    "POST /admin/grant-requests/{request_id}/approve": {"request_id": "grant_request_id"},
    "POST /admin/grant-requests/{request_id}/reject": {"request_id": "grant_request_id"},
    "POST /inbox/{request_id}": {"request_id": "decided_id"},
    "POST /requests/{request_id}/retry": {"request_id": "retried_id"},
    "POST /api/v1/admin/users/{username}/posts": {"username": "victim"},
    "POST /api/v1/admin/users/{username}/posts/{grant_id}/end": {"username": "victim"},
    "POST /delegations/{delegation_id}/end": {"delegation_id": "page_delegation_id"},
    "POST /api/v1/admin/users/{username}/disable": {"username": "victim"},
    "POST /api/v1/admin/users/{username}/enable": {"username": "victim"},
    "POST /admin/users/{username}/posts": {"username": "victim"},
    "POST /admin/users/{username}/posts/end": {"username": "page_victim"},
    "POST /admin/users/{username}/disable": {"username": "victim"},
    "POST /admin/users/{username}/enable": {"username": "victim"},
    "DELETE /api/v1/admin/catalog/matters/{code}": {"code": "matter"},
    "POST /admin/catalog/matters/{matter}/retire": {"matter": "page_matter"},
    "POST /api/v1/bureaus/{code}/deliveries": {"code": "bureau"},
}

# The smallest body that gets past validation to the handler's own checks, so a refusal is the rule speaking.
JSON: dict[str, Any] = {
    "POST /api/v1/admin/organisations": {
        "code": "yazhou.matrix",
        "name": "矩阵村",
        "kind": "village",
        "parent": "yazhou",
    },
    "POST /api/v1/admin/users": {"username": "matrix.user", "display_name": "矩阵", "password": "matrix-pass-1"},
    "POST /api/v1/admin/users/{username}/posts": {"post": "custodian", "organisation": "yazhou.chengxi"},
    "POST /api/v1/admin/users/{username}/posts/{grant_id}/end": {},
    "PUT /api/v1/admin/catalog": {},
    "PUT /api/v1/admin/catalog/matters/{code}": {},
    "POST /api/v1/requests": {
        "matter": "agri.winter-vegetable-subsidy",
        "organisation": "yazhou.shuinan",
        "seal": "village_official",
        "seal_form": "electronic",
        "copies": 1,
        "purpose": "申请补贴",
        "form": {},
    },
    "POST /api/v1/requests/{request_id}/withdraw": {"reason": "不需要了"},
    "POST /api/v1/requests/{request_id}/resubmit": {},
    "POST /api/v1/requests/{request_id}/decisions": {"decision": "approve", "level": 1, "comment": "同意"},
    "POST /api/v1/delegations": {
        "post": "secretary",
        "organisation": "yazhou.shuinan",
        "deputy": "sn.committee2",
        "valid_from": "2026-11-14T09:00:00Z",  # after the sample delegations: they may not overlap
        "valid_until": "2026-11-15T09:00:00Z",
    },
    "POST /api/v1/seals": {
        "organisation": "yazhou.shuinan",
        "kind": "village_contract",
        "form": "electronic",
        "name": "三亚市崖州区水南村村民委员会",
    },
    "POST /api/v1/certificates/operations": {"seal": 0, "kind": "renew"},  # the seal's id is filled in
    "POST /api/v1/machines": {
        "id": "shuinan-9",
        "organisation": "yazhou.shuinan",
        "name": "水南村第二台用印机",
        "slots": [{"slot": 1, "seal": 0}],  # the physical seal's id is filled in
        "latitude": 18.366,
        "longitude": 109.162,
        "custodians": ["sn.custodian1", "sn.custodian2"],
    },
    "POST /api/v1/machines/{machine_id}/suspend": {"reason": "检修"},
    "POST /api/v1/machines/{machine_id}/resume": {"reason": "检修完毕"},
    "POST /api/v1/machines/{machine_id}/retire": {"reason": "报废"},
    "POST /api/v1/machines/{machine_id}/revoke-epoch": {"reason": "钥匙遗失"},
    "POST /api/v1/alarms/{alarm_id}/acknowledge": {"comment": "已处理"},
    "POST /api/v1/terminals/{machine_id}/enrol": {"code": "not-the-code", "csr": "AAAA"},
    "POST /api/v1/terminals/{machine_id}/events": {"events": ["AAAA"]},
}
FORMS: dict[str, dict[str, str]] = {
    "POST /requests/{request_id}/withdraw": {"reason": "不需要了"},
    "POST /inbox/{request_id}": {"decision": "approve", "level": "1", "comment": "同意"},
    "POST /requests/new/preview": {"matter": "agri.winter-vegetable-subsidy"},
    "POST /requests/new": {
        "matter": "agri.winter-vegetable-subsidy",
        "organisation": "yazhou.shuinan",
        "seal": "village_official",
        "seal_form": "electronic",
        "copies": "1",
        "purpose": "申请补贴",
    },
    "POST /delegations": {
        "deputy": "sn.committee2",
        "seat": "secretary@yazhou.shuinan",
        "valid_from": "2026-11-16T17:00",
        "valid_until": "2026-11-17T17:00",
    },
    "POST /admin/users/{username}/posts": {"post": "custodian", "organisation": "yazhou.chengxi"},
    "POST /admin/users/{username}/posts/end": {"grant": ""},  # the grant's id is filled in
    "POST /admin/seals/{seal_id}/operations": {"kind": "renew"},
    "POST /alarms/{alarm_id}/acknowledge": {"comment": "已处理"},
    "POST /admin/machines/{machine_id}/suspend": {"reason": "检修"},
    "POST /admin/machines/{machine_id}/resume": {"reason": "检修完毕"},
    "POST /admin/machines/{machine_id}/retire": {"reason": "报废"},
    "POST /admin/machines/{machine_id}/revoke-epoch": {"reason": "钥匙遗失"},
}
# Sent last, as they end the caller's session or token, or change what the others read.
LAST = (
    "POST /api/v1/machines/{machine_id}/retire",
    "POST /admin/machines/{machine_id}/retire",
    "DELETE /api/v1/auth/token",
    "POST /logout",
)
DENIED = {401, 403, 404}


@dataclass(frozen=True)
class Answer:
    status: int
    location: str

    @property
    def refused(self) -> bool:
        return self.status in DENIED or (self.status in (302, 303, 307) and self.location.startswith("/login"))

    def __str__(self) -> str:
        return f"{self.status} {self.location}".strip()


def _fill(w: World, route: str, who: str) -> str:
    path = route.split(" ", 1)[1]
    names = PATHS.get(route, {})
    for part in path.split("/"):
        if part.startswith("{"):
            name = part.strip("{}").split(":")[0]
            path = path.replace(part, w.sample(names.get(name, name), who))
    return path + ("?counter=1" if route.endswith("/photos") else "")


def _call(w: World, route: str, who: str) -> Answer:
    method = route.split(" ", 1)[0]
    url = _fill(w, route, who)
    s = w.samples
    if route in ("POST /login", "POST /api/v1/auth/token"):
        # Open to all, and every caller signed in once already: without a password, the handler's 422 is enough
        # (each check of a password costs a fifth of a second).
        answer = w.browsers[who].post(url, data={"username": RESIDENT, "csrf": w.csrf[who]})
    elif url.startswith("/api/"):
        body = JSON.get(route)
        if route == "POST /api/v1/certificates/operations":
            body = {**JSON[route], "seal": int(s["seal_id"])}
        if route == "POST /api/v1/machines":
            body = {**JSON[route], "slots": [{"slot": 1, "seal": int(s["seal_id"])}]}
        content = b"\x00" if route.endswith(("/photos", "/deliveries")) else None
        answer = w.api.request(method, url, json=body, content=content, headers=w.bearer[who])
    else:
        client: TestClient = w.browsers[who]
        if method == "GET":
            answer = client.get(url)
        else:
            form = {"csrf": w.csrf[who], **FORMS.get(route, {})}
            if route == "POST /admin/users/{username}/posts/end":
                form["grant"] = s["page_grant_id"]
            answer = client.request(method, url, data=form)
            if route == "POST /logout" and who != ANONYMOUS and answer.status_code == 303:
                # Signing out sends the browser to the sign-in page; it counts once the session is gone.
                gone = client.get("/").headers.get("location", "").startswith("/login")
                return Answer(answer.status_code, "(signed out)" if gone else "(still signed in)")
    return Answer(answer.status_code, httpx.URL(answer.headers.get("location", "")).path)


def _known(route: str, who: str) -> Known | None:
    return next((k for k in KNOWN if route in k.routes and who in k.principals), None)


@dataclass
class Sweep:
    routes: set[str]
    answers: dict[tuple[str, str], Answer]
    changed: dict[str, dict[str, tuple[int, int]]]  # route: table: rows before and after its refusals


@pytest.fixture(scope="module")
def sweep(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, migrated: Engine, keystore: Keystore
) -> Iterator[Sweep]:
    """Every cell once: first everything the table refuses, route by route between fingerprints of the database;
    then the cells known to break the rule; then what the table allows, the routes that end a session last."""
    with world(tmp_path_factory.mktemp("matrix"), database_url, migrated, keystore, PRINCIPALS) as w:
        answers: dict[tuple[str, str], Answer] = {}
        cells = [(route, who) for route in ALLOWED for who in PRINCIPALS]
        refused = [(r, p) for r, p in cells if p not in ALLOWED[r] and _known(r, p) is None]
        known = [(r, p) for r, p in cells if _known(r, p) is not None]
        allowed = [(r, p) for r, p in cells if p in ALLOWED[r] and _known(r, p) is None]
        allowed.sort(key=lambda cell: LAST.index(cell[0]) if cell[0] in LAST else -1)
        changed: dict[str, dict[str, tuple[int, int]]] = {}
        for route in ALLOWED:
            before = w.fingerprint()
            for who in (p for r, p in refused if r == route):
                answers[route, who] = _call(w, route, who)
            after = w.fingerprint()
            if after != before:
                changed[route] = {t: (n, after[t]) for t, n in before.items() if after[t] != n}
        for route, who in known + allowed:
            answers[route, who] = _call(w, route, who)
        routes = {f"{m} {r.path}" for r in _routes(w.app.routes) for m in (r.methods or set()) - {"HEAD"}}
        yield Sweep(routes, answers, changed)


def test_the_table_names_every_route_and_no_other(sweep: Sweep) -> None:
    found = sweep.routes
    assert sorted(found - set(ALLOWED)) == [], "routes the table does not say who may call"
    assert sorted(set(ALLOWED) - found) == [], "rows for routes the app no longer has"


def _cells() -> Iterator[Any]:
    for route in ALLOWED:
        for who in PRINCIPALS:
            known = _known(route, who)
            marks = [pytest.mark.xfail(strict=True, reason=known.reason)] if known else []
            yield pytest.param(route, who, id=f"{route} as {who}", marks=marks)


@pytest.mark.parametrize(("route", "who"), list(_cells()))
def test_cell(sweep: Sweep, route: str, who: str) -> None:
    answer = sweep.answers[route, who]
    assert answer.status < 500, f"{route} as {who}: {answer}"
    if who in ALLOWED[route]:
        assert not answer.refused, f"{route} as {who} is refused: {answer}"
    else:
        assert answer.refused, f"{route} as {who} got past authorisation: {answer}"


def test_refusals_change_nothing(sweep: Sweep) -> None:
    assert sweep.changed == {}
