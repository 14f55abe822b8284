"""The seal machines' pages: a custodian sees the machines of their own village only, an alarm shows on its
machine's page and is acknowledged there with a comment, and the pages are closed to residents."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from fastapi.testclient import TestClient

from core.runtime import Runtime
from identity import auth, directory
from physical_seal import alarms
from physical_seal.models import Authorisation, MachineEvent
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_inspectors import submit
from workflow.models import SealRequest

MACHINE = "shuinan-1"


def raise_alarm(runtime: Runtime, detail: str = "the case was opened") -> int:
    with runtime.sessions() as session:
        alarm = alarms.raise_alarm(session, MACHINE, "tamper", "machine", detail, runtime.clock.now())
        session.commit()
        return alarm.id


def open_alarms(runtime: Runtime, username: str) -> list[int]:
    with runtime.readers() as session:
        who = auth.principal_of(session, directory.user(session, username), runtime.clock.now())
        found = alarms.listing(session, who, open_only=True, machine_id=MACHINE, limit=10)
        return [a.id for a in found]


def test_a_custodian_sees_the_machines_of_their_village_only(browser: TestClient, demo_data: dict[str, Any]) -> None:
    sign_in(browser, "sn.custodian1")
    listing = browser.get("/machines?lang=en")
    assert listing.status_code == 200, listing.text
    assert 'href="/machines/shuinan-1"' in listing.text
    assert "beiling-1" not in listing.text
    assert "chengxi-1" not in listing.text
    assert "三亚市崖州区水南村村民委员会" in listing.text  # the seal in its slot
    page = browser.get(f"/machines/{MACHINE}?lang=en")
    assert page.status_code == 200, page.text
    assert "waiting for enrolment" in page.text  # the demo's machines are registered, not enrolled yet

    sign_in(browser, "bl.custodian1")
    listing = browser.get("/machines?lang=en")
    assert 'href="/machines/beiling-1"' in listing.text
    assert MACHINE not in listing.text
    assert browser.get(f"/machines/{MACHINE}").status_code == 403


def test_an_alarm_is_shown_and_acknowledged_on_its_machine_page(browser: TestClient, runtime: Runtime) -> None:
    alarm_id = raise_alarm(runtime, "the case was opened at night")
    csrf = sign_in(browser, "sn.custodian1")
    page = browser.get(f"/machines/{MACHINE}?lang=en")
    assert "the machine was tampered with" in page.text
    assert "the case was opened at night" in page.text
    assert f'action="/alarms/{alarm_id}/acknowledge"' in page.text
    assert "1 open alarms" in browser.get("/machines?lang=en").text

    without_comment = browser.post(f"/alarms/{alarm_id}/acknowledge", data={"csrf": csrf, "comment": "  "})
    assert without_comment.status_code == 422
    assert open_alarms(runtime, "sn.custodian1") == [alarm_id]

    done = browser.post(f"/alarms/{alarm_id}/acknowledge", data={"csrf": csrf_of(page.text), "comment": "核实：误触"})
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/machines/{MACHINE}?done=")
    assert open_alarms(runtime, "sn.custodian1") == []
    after = browser.get(done.headers["location"] + "&lang=en")
    assert "The alarm is acknowledged." in after.text
    assert "核实：误触" in after.text
    assert f'action="/alarms/{alarm_id}/acknowledge"' not in after.text
    assert "open alarms" not in browser.get("/machines?lang=en").text


def test_an_inspector_sees_the_alarm_but_has_no_form_to_acknowledge_it(browser: TestClient, runtime: Runtime) -> None:
    alarm_id = raise_alarm(runtime)
    csrf = sign_in(browser, "yz.inspector")
    page = browser.get(f"/machines/{MACHINE}?lang=en")
    assert "the machine was tampered with" in page.text
    assert f'action="/alarms/{alarm_id}/acknowledge"' not in page.text
    refused = browser.post(f"/alarms/{alarm_id}/acknowledge", data={"csrf": csrf, "comment": "看过了"})
    assert refused.status_code == 403
    assert open_alarms(runtime, "sn.custodian1") == [alarm_id]


def test_a_custodian_of_another_village_cannot_acknowledge(browser: TestClient, runtime: Runtime) -> None:
    alarm_id = raise_alarm(runtime)
    csrf = sign_in(browser, "bl.custodian1")
    refused = browser.post(f"/alarms/{alarm_id}/acknowledge", data={"csrf": csrf, "comment": "不是我的"})
    assert refused.status_code == 403
    assert open_alarms(runtime, "sn.custodian1") == [alarm_id]


def test_a_resident_is_refused_the_machines(browser: TestClient, runtime: Runtime) -> None:
    alarm_id = raise_alarm(runtime)
    csrf = sign_in(browser, "sn.resident")
    assert browser.get("/machines").status_code == 403
    assert browser.get(f"/machines/{MACHINE}").status_code == 403
    assert browser.get("/supervision").status_code == 403
    refused = browser.post(f"/alarms/{alarm_id}/acknowledge", data={"csrf": csrf, "comment": "我来确认"})
    assert refused.status_code == 403
    assert open_alarms(runtime, "sn.custodian1") == [alarm_id]


def test_the_machine_page_shows_what_waits_and_the_day_s_stamps_with_their_photos(
    browser: TestClient, runtime: Runtime
) -> None:
    """An authorisation with one of its three uses stamped, the stamp's photo received (rows as the intake leaves
    them; the signatures are not read by the page)."""
    now = runtime.clock.now()
    request_id, number = submit(runtime)
    photo = hashlib.sha256(b"photo").hexdigest()
    with runtime.sessions() as session:
        public_id = session.get_one(SealRequest, request_id).public_id
        session.add(
            Authorisation(
                id="a" * 32,
                machine_id=MACHINE,
                slot=1,
                request_id=request_id,
                request_number=number,
                document_sha256="0" * 64,
                uses=3,
                used=1,
                epoch=0,
                not_before=now - dt.timedelta(hours=1),
                not_after=now + dt.timedelta(hours=47),
                state="executing",
                cose=b"signed",
                issued_at=now - dt.timedelta(hours=1),
            )
        )
        session.flush()
        session.add(
            MachineEvent(
                machine_id=MACHINE,
                counter=1,
                kind="stamp",
                authorisation_id="a" * 32,
                use=1,
                time=now - dt.timedelta(minutes=30),
                custodian="sn.custodian2",
                photo_sha256=photo,
                photo_received_at=now,
                cose=b"signed",
                sha256="1" * 64,
                received_at=now,
            )
        )
        session.commit()
    sign_in(browser, "sn.custodian1")
    page = browser.get(f"/machines/{MACHINE}?lang=en").text
    waiting = page[page.index("Waiting to be stamped") : page.index('id="alarms"')]
    assert f'<a href="/requests/{request_id}"><strong>{number}</strong></a>' in waiting
    assert "2 of 3 uses left" in waiting
    assert "to be stamped by 2026-11-04 16:00" in waiting  # 08:00 UTC, in China
    stamped = page[page.index("Stamps of 2026-11-02") :]
    assert "16:30:00" in stamped
    assert f'href="/records/{public_id}/photos/{photo}"' in stamped
    assert "sn.custodian2" in stamped
