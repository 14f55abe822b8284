"""Idempotency records keep no secret: a sign-in is never taken up, and a crashed request's key is taken over."""

from __future__ import annotations

import datetime as dt
import re
import threading

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import create_app
from bench.machines import machine_csr
from ca import hierarchy
from core.clock import ManualClock
from core.idempotency import TAKEOVER, IdempotencyRecord
from core.runtime import Runtime
from ledger.service import LogService
from sealgate.cli import demo
from tests.api.conftest import PASSWORDS, token

MACHINE = "shuinan-1"


def _records(runtime: Runtime) -> list[IdempotencyRecord]:
    with runtime.sessions() as s:
        return list(s.scalars(select(IdempotencyRecord)))


def _holds(record: IdempotencyRecord, secret: str) -> bool:
    kept = b"".join([record.fingerprint.encode(), (record.headers or "").encode(), record.body or b""])
    return secret.encode() in kept


def test_a_token_issued_under_an_idempotency_key_is_not_kept(
    client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    form = {"username": "admin", "password": PASSWORDS["admin"]}
    first = client.post("/api/v1/auth/token", data=form, headers={"Idempotency-Key": "sign-in-1"})
    assert first.status_code == 200
    issued = first.json()["access_token"]
    assert not any(_holds(r, issued) or _holds(r, PASSWORDS["admin"]) for r in _records(runtime))
    assert _records(runtime) == []
    again = client.post("/api/v1/auth/token", data=form, headers={"Idempotency-Key": "sign-in-1"})
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert again.json()["access_token"] != issued


def test_a_page_sign_in_under_an_idempotency_key_is_not_kept(
    client: TestClient, runtime: Runtime, cast: dict[str, str]
) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    signed_in = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORDS["admin"], "csrf": csrf.group(1), "next": "/"},
        headers={"Idempotency-Key": "page-sign-in-1"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    cookie = next(v for k, v in signed_in.headers.multi_items() if k == "set-cookie" and "sg_session" in v)
    session_token = cookie.split("=", 1)[1].split(";", 1)[0]
    assert session_token
    assert not any(_holds(r, session_token) or _holds(r, PASSWORDS["admin"]) for r in _records(runtime))
    assert _records(runtime) == []


def test_a_key_left_in_progress_by_a_crash_is_taken_over(app: FastAPI, runtime: Runtime) -> None:
    """The first request hangs, as a dead process would never answer; past the bound a retry runs for real and
    the late first request cannot overwrite the retry's answer."""
    clock = runtime.clock
    assert isinstance(clock, ManualClock)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def stuck() -> dict[str, int]:
        calls.append(1)
        attempt = len(calls)
        if attempt == 1:
            started.set()
            release.wait(10)
        return {"attempt": attempt}

    app.add_api_route("/stuck", stuck, methods=["POST"])
    results: list[int] = []
    with TestClient(app) as c:
        first = threading.Thread(
            target=lambda: results.append(c.post("/stuck", headers={"Idempotency-Key": "c"}).json()["attempt"])
        )
        first.start()
        assert started.wait(10)
        clock.advance(TAKEOVER - dt.timedelta(seconds=30))
        assert c.post("/stuck", headers={"Idempotency-Key": "c"}).status_code == 409
        clock.advance(dt.timedelta(minutes=1))
        retry = c.post("/stuck", headers={"Idempotency-Key": "c"})
        assert retry.status_code == 200
        assert retry.json() == {"attempt": 2}
        release.set()
        first.join()
        replayed = c.post("/stuck", headers={"Idempotency-Key": "c"})
    assert results == [1]
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == {"attempt": 2}
    assert len(calls) == 2


def test_an_answer_that_hands_out_a_secret_keeps_only_its_status(runtime: Runtime, log: LogService) -> None:
    """A machine's new enrolment code and the credential enrolment gives are kept nowhere but in the answer: a
    retry is not run twice (a second code would void the first) and is told to ask again."""
    with runtime.sessions() as session:
        data = demo.load(session, runtime.clock.now())
        hierarchy.initialise(session, runtime.keystore, runtime.settings, runtime.clock.now(), "test")
        session.commit()
    passwords = {p["username"]: p["password"] for p in demo.dataset()["users"]}
    with TestClient(create_app(runtime), raise_server_exceptions=False) as c:
        signed_in = c.post(
            "/api/v1/auth/token", data={"username": "sn.sealadmin", "password": passwords["sn.sealadmin"]}
        )
        admin = {"Authorization": f"Bearer {signed_in.json()['access_token']}", "Idempotency-Key": "new-code-1"}
        first = c.post(f"/api/v1/machines/{MACHINE}/enrolment-code", headers=admin)
        assert first.status_code == 200, first.text
        code = first.json()["enrolment_code"]
        again = c.post(f"/api/v1/machines/{MACHINE}/enrolment-code", headers=admin)
        assert again.status_code == 409
        assert "not kept" in again.json()["detail"]
        body = {"code": code, "csr": machine_csr(MACHINE, ec.generate_private_key(ec.SECP256R1()))}
        enrolled = c.post(f"/api/v1/terminals/{MACHINE}/enrol", json=body, headers={"Idempotency-Key": "enrol-1"})
        assert enrolled.status_code == 200, "the first code still works: the retry made no second one"
        credential = enrolled.json()["credential"]
    assert data["enrolment_codes"][MACHINE] != code
    records = _records(runtime)
    assert len(records) == 2
    assert not any(_holds(r, code) or _holds(r, credential) for r in records)
    assert all(r.body is None and r.headers is None and r.status == 200 for r in records)


def test_a_refusal_on_a_route_that_hands_out_secrets_is_replayed(client: TestClient, cast: dict[str, str]) -> None:
    headers = {**token(client, "admin"), "Idempotency-Key": "code-for-nothing"}
    first = client.post("/api/v1/machines/no-such-machine/enrolment-code", headers=headers)
    assert 400 <= first.status_code < 500
    again = client.post("/api/v1/machines/no-such-machine/enrolment-code", headers=headers)
    assert again.status_code == first.status_code
    assert again.headers["idempotent-replayed"] == "true"
