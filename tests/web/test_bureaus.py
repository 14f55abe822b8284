"""The district agriculture bureau on the demo: it sees a subsidy request of 水南村 only once it is sealed and sent
to it, receives the delivery in its hosted inbox (signed, once), and finds it on its page with the sealed PDF."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from http_message_signatures import ContentDigest
from sqlalchemy import func, select

from bench.ports import free_port
from core.clock import ManualClock
from core.idempotency import IdempotencyRecord
from core.runtime import Runtime
from sealgate.cli import demo
from tests.conftest import rollbacks
from tests.web.conftest import password, sign_in
from tests.workflow.examples import WINTER_VEGETABLE_SUBSIDY
from workflow import delivery, inbox
from workflow.delivery import Deliverer
from workflow.models import BureauDelivery, DeliveryEndpoint, OutboxMessage, SealRequest

RESIDENCE_CERTIFICATE: dict[str, Any] = {  # a matter for the police station, not the agriculture bureau
    "matter": "residence.certificate",
    "organisation": "yazhou.shuinan",
    "seal": "village_official",
    "seal_form": "electronic",
    "purpose": "子女入学",
    "form": {"address": "水南村一组 12 号", "since": "2010-05-01", "housing": "自有住房", "purpose": "子女入学"},
}
CHAIN = (("sn.g1.leader", 1), ("sn.secretary", 2), ("sn.sealadmin", 3))


def bearer(client: TestClient, username: str) -> dict[str, str]:
    token = client.post("/api/v1/auth/token", data={"username": username, "password": password(username)})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
def bureau_demo(runtime: Runtime, browser: TestClient) -> TestClient:
    """The demo loaded again with the service's settings and keystore: the villages' electronic seals with their
    certificates, and yazhou.agri's hosted inbox as the agriculture bureau's endpoint. The service's public URL is
    a closed port, so deliveries reach the inbox only through ``deliver``."""
    runtime.settings.public_url = f"http://127.0.0.1:{free_port()}"
    with runtime.sessions() as session:
        demo.load(session, runtime.clock.now(), settings=runtime.settings, keystore=runtime.keystore)
    return browser


def submit(client: TestClient, body: dict[str, Any]) -> int:
    submitted = client.post("/api/v1/requests", headers=bearer(client, "sn.resident"), json=body)
    assert submitted.status_code == 201, submitted.text
    return int(submitted.json()["id"])


def complete(client: TestClient, request_id: int) -> dict[str, Any]:
    for who, level in CHAIN:
        decided = client.post(
            f"/api/v1/requests/{request_id}/decisions",
            headers=bearer(client, who),
            json={"decision": "approve", "level": level},
        )
        assert decided.status_code == 200, decided.text
    client.app.state.workers.once()  # type: ignore[attr-defined]
    done = client.get(f"/api/v1/requests/{request_id}", headers=bearer(client, "sn.resident")).json()
    assert done["state"] == "completed", done
    return dict(done)


@pytest.fixture
def deliverer(runtime: Runtime, web_app: FastAPI) -> Iterator[Deliverer]:
    """Delivers into the app itself, as the service's workers do through its public URL."""
    with TestClient(web_app) as into_the_app:
        yield Deliverer(runtime.sessions, runtime.settings.workflow, runtime.clock, client=into_the_app)


def deliver(clock: ManualClock, deliverer: Deliverer) -> None:
    clock.advance(dt.timedelta(hours=1))  # past the back-off of the attempt the workers made
    assert deliverer.deliver_due().delivered >= 1


def received(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(BureauDelivery)) or 0


def opens(client: TestClient, request_id: int) -> tuple[int, int, int]:
    """What yz.agri gets for the request: from the API, its page, and its document."""
    api = client.get(f"/api/v1/requests/{request_id}", headers=bearer(client, "yz.agri")).status_code
    sign_in(client, "yz.agri")
    return (
        api,
        client.get(f"/requests/{request_id}").status_code,
        client.get(f"/requests/{request_id}/document").status_code,
    )


def test_the_bureau_sees_a_request_only_once_it_is_sealed_for_it(bureau_demo: TestClient) -> None:
    client = bureau_demo
    subsidy = submit(client, WINTER_VEGETABLE_SUBSIDY)
    residence = submit(client, RESIDENCE_CERTIFICATE)
    assert opens(client, subsidy) == (404, 404, 404)
    for request_id in (subsidy, residence):
        complete(client, request_id)
    assert opens(client, subsidy) == (200, 200, 200)  # queued for delivery to it: the bureau may open it
    assert opens(client, residence) == (404, 404, 404)  # another matter's, for another bureau


def test_a_delivered_request_is_listed_on_the_bureau_page(
    bureau_demo: TestClient, runtime: Runtime, clock: ManualClock, deliverer: Deliverer
) -> None:
    client = bureau_demo
    sign_in(client, "yz.agri")
    assert "Nothing has been delivered to you yet" in client.get("/bureau?lang=en").text
    request_id = submit(client, WINTER_VEGETABLE_SUBSIDY)
    done = complete(client, request_id)
    deliver(clock, deliverer)
    with runtime.sessions() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.request_id == request_id)).one()
        assert (message.target, message.status) == ("agriculture", "delivered")
    assert received(runtime) == 1
    sign_in(client, "yz.agri")
    page = client.get("/bureau?lang=en")
    assert page.status_code == 200
    item = page.text[page.text.index(done["number"]) - 200 :]
    assert "冬季瓜菜" in item  # the matter
    assert "水南村" in item  # the organisation
    for link in (f'href="/requests/{request_id}"', f'href="/requests/{request_id}/document"', 'href="/verify"'):
        assert link in item
    assert "Sealed PDF" in item
    pdf = client.get(f"/requests/{request_id}/document")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    assert "盖章" in client.get("/bureau?lang=zh_CN").text


@dataclass(frozen=True)
class Queued:
    message: OutboxMessage
    endpoint: DeliveryEndpoint


@pytest.fixture
def queued(bureau_demo: TestClient, runtime: Runtime) -> Queued:
    """A subsidy request completed, its delivery to the agriculture bureau waiting."""
    complete(bureau_demo, submit(bureau_demo, WINTER_VEGETABLE_SUBSIDY))
    with runtime.sessions() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.target == "agriculture")).one()
        endpoint = session.get_one(DeliveryEndpoint, "agriculture")
        session.expunge_all()
        return Queued(message, endpoint)


def signed(runtime: Runtime, queued: Queued, secret: str, payload: bytes | None = None) -> httpx.Request:
    """The queued delivery signed with ``secret``; with ``payload`` instead of its own, under its key."""
    content = queued.message.payload if payload is None else payload
    request = httpx.Request(
        "POST",
        queued.endpoint.url,
        content=content,
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": queued.message.idempotency_key,
            "Content-Digest": ContentDigest.create(content),
        },
    )
    delivery.sign(request, key_id=queued.endpoint.key_id, secret=secret.encode(), created=runtime.clock.now())
    return request


def post(client: TestClient, request: httpx.Request) -> httpx.Response:
    answer: httpx.Response = client.post(str(request.url), content=request.content, headers=dict(request.headers))
    return answer


def test_a_forged_delivery_is_refused_and_a_repeat_recorded_once(
    bureau_demo: TestClient, runtime: Runtime, clock: ManualClock, queued: Queued
) -> None:
    assert queued.endpoint.url.endswith("/api/v1/bureaus/yazhou.agri/deliveries")
    forged = post(bureau_demo, signed(runtime, queued, "not-the-bureau-secret"))
    assert forged.status_code == 401, forged.text
    assert forged.json()["type"].endswith("bad-signature")
    assert received(runtime) == 0
    # Someone who guessed the delivery's key (they are predictable) and sends a large unsigned body first is
    # refused as unsigned, which keeps nothing for the key: the real delivery still goes through.
    spoiler = {"Idempotency-Key": queued.message.idempotency_key, "Content-Type": "application/json"}
    spoilt = bureau_demo.post(queued.endpoint.url, content=b"x" * (inbox.MAX_BYTES + 1), headers=spoiler)
    assert spoilt.status_code == 401, spoilt.text
    first = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret))
    assert first.status_code == 201, first.text
    clock.advance(dt.timedelta(seconds=30))
    again = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret))  # signed anew, sent again
    assert again.status_code in (200, 201), again.text
    assert again.json()["id"] == first.json()["id"]
    assert received(runtime) == 1
    with runtime.sessions() as session:  # behind any replay of the HTTP layer, the inbox itself
        repeat = signed(runtime, queued, queued.endpoint.secret)
        taken = inbox.receive(
            session,
            "yazhou.agri",
            target=str(repeat.url),
            headers=repeat.headers,
            body=repeat.content,
            now=runtime.clock.now(),
        )
        assert not taken.fresh
        assert taken.delivery.id == first.json()["id"]
    too_large = json.dumps({"padding": "x" * inbox.MAX_BYTES}).encode()
    big = httpx.Request(
        "POST",
        queued.endpoint.url,
        content=too_large,
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": "another",
            "Content-Digest": ContentDigest.create(too_large),
        },
    )
    delivery.sign(
        big, key_id=queued.endpoint.key_id, secret=queued.endpoint.secret.encode(), created=runtime.clock.now()
    )
    with runtime.sessions() as session, pytest.raises(inbox.DeliveryTooLarge):
        inbox.receive(
            session, "yazhou.agri", target=str(big.url), headers=big.headers, body=too_large, now=runtime.clock.now()
        )


def test_the_bureau_page_is_for_bureaus(browser: TestClient) -> None:
    sign_in(browser, "sn.resident")
    assert browser.get("/bureau").status_code == 403
    sign_in(browser, "yz.agri")
    assert browser.get("/bureau").status_code == 200


def test_a_delivery_received_ends_in_commit_not_rollback(
    bureau_demo: TestClient, runtime: Runtime, queued: Queued
) -> None:
    """Reading the answer after the COMMIT began a transaction that closing then rolled back."""
    with rollbacks(runtime.engine) as seen:
        answer = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret))
    assert answer.status_code == 201, answer.text
    with runtime.sessions() as session:
        number = session.scalars(select(SealRequest.number).where(SealRequest.id == queued.message.request_id)).one()
    assert answer.json()["request"] == number
    assert seen == []


def test_the_inbox_keeps_its_own_keys(bureau_demo: TestClient, runtime: Runtime, queued: Queued) -> None:
    """The Idempotency-Key middleware leaves the inbox alone (no record of its own), and the inbox refuses a
    repeat of a key with another body as that middleware would."""
    before = kept(runtime)
    first = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret))
    assert first.status_code == 201, first.text
    again = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    reused = post(bureau_demo, signed(runtime, queued, queued.endpoint.secret, queued.message.payload + b" "))
    assert reused.status_code == 422, reused.text
    assert reused.json()["type"].endswith("idempotency-key-reused")
    assert received(runtime) == 1
    assert kept(runtime) == before


def kept(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0
