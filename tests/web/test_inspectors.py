"""The supervision page: overdue steps, open alarms, stamps outside office hours and quick approvals of the
organisations an inspector oversees, and the requests counted in server-drawn charts."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.clock import ManualClock
from core.runtime import Runtime
from identity import directory
from identity.posts import OrgKind, Post
from physical_seal import alarms
from physical_seal.models import MachineEvent
from tests.web.conftest import password, sign_in, subsidy
from workflow import charts, review
from workflow.supervision import outside_office_hours

CHINA = dt.timezone(dt.timedelta(hours=8))


def submit(runtime: Runtime) -> tuple[int, str]:
    request = subsidy(runtime)
    assert request.number is not None
    return request.id, request.number


def approve(runtime: Runtime, request_id: int, username: str, level: int) -> None:
    with runtime.sessions() as session:
        user = directory.user(session, username)
        review.decide(
            session,
            request_id,
            review.Actor(user.id, user.username),
            level=level,
            verdict=review.Verdict.APPROVE,
            comment="",
            to_level=None,
            now=runtime.clock.now(),
        )
        session.commit()


def section(page: str, anchor: str) -> str:
    """The part of the page from the heading ``anchor`` to the next heading of its rank."""
    start = page.index(f'<h2 id="{anchor}">')
    end = page.find("<h2", start + 1)
    return page[start : end if end != -1 else len(page)]


def supervision(browser: TestClient, username: str = "yz.inspector") -> str:
    sign_in(browser, username)
    page = browser.get("/supervision?lang=en")
    assert page.status_code == 200, page.text
    shown: str = page.text
    return shown


def test_the_charts_count_a_submitted_request(browser: TestClient, runtime: Runtime, clock: ManualClock) -> None:
    submit(runtime)
    page = supervision(browser)
    assert "<title>水南村: 1</title>" in page
    assert "<title>北岭村: 0</title>" in page  # every village overseen has its bar, none too
    assert "<title>冬季瓜菜种植补贴: 1</title>" in page
    assert "<title>村民委员会公章: 1</title>" in page or "公章: 1</title>" in page
    month = clock.now().astimezone(CHINA).strftime("%Y-%m")
    assert f"<title>{month}: 1</title>" in page
    assert page.count('role="img"') == 4
    assert '<th scope="row">水南村</th><td>1</td>' in page  # the table beside the chart


def test_an_inspector_sees_only_what_is_below_their_organisation(
    browser: TestClient, runtime: Runtime, demo_data: dict[str, Any]
) -> None:
    now = runtime.clock.now()
    with runtime.sessions() as session:
        for code, name, kind, parent in (
            ("yazhou.nanshan", "南山镇", OrgKind.TOWNSHIP, "yazhou"),
            ("yazhou.nanshan.dongfeng", "东风村", OrgKind.VILLAGE, "yazhou.nanshan"),
        ):
            directory.create_organisation(
                session, code=code, name=name, kind=kind, parent_code=parent, uscc_code=None, now=now, actor="test"
            )
        directory.create_user(
            session,
            username="ns.inspector",
            display_name="南山镇监督员",
            password=password("ns.inspector"),
            home_code=None,
            now=now,
            actor="test",
        )
        directory.grant_post(
            session,
            username="ns.inspector",
            org_code="yazhou.nanshan",
            post=Post.INSPECTOR,
            valid_from=now,
            now=now,
            actor="test",
        )
        alarms.raise_alarm(session, "shuinan-1", "tamper", "machine", "opened", now)
        session.commit()
    submit(runtime)
    page = supervision(browser, "ns.inspector")
    assert "<title>东风村: 0</title>" in page
    assert "水南村" not in page
    assert "No open alarms." in section(page, "alarms")
    district = supervision(browser)
    assert "<title>东风村: 0</title>" in district
    assert "<title>水南村: 1</title>" in district


def test_an_open_alarm_shows_on_the_supervision_page(browser: TestClient, runtime: Runtime) -> None:
    with runtime.sessions() as session:
        alarms.raise_alarm(session, "shuinan-1", "tamper", "machine", "the case was opened", runtime.clock.now())
        session.commit()
    shown = section(supervision(browser), "alarms")
    assert "the machine was tampered with" in shown
    assert 'href="/machines/shuinan-1"' in shown
    assert "the case was opened" in shown


def test_an_approval_five_seconds_after_its_step_began_is_a_quick_one(
    browser: TestClient, runtime: Runtime, clock: ManualClock
) -> None:
    request_id, number = submit(runtime)
    clock.advance(dt.timedelta(seconds=5))
    approve(runtime, request_id, "sn.g1.leader", 1)
    clock.advance(dt.timedelta(hours=1))
    approve(runtime, request_id, "sn.secretary", 2)
    quick = section(supervision(browser), "quick")
    assert number in quick
    assert "村民小组长审核" in quick
    assert "approved 5 seconds after the step began" in quick
    assert "支部书记审批" not in quick


def test_a_step_past_its_due_time_is_overdue(browser: TestClient, runtime: Runtime, clock: ManualClock) -> None:
    _, number = submit(runtime)
    assert "No step is past its time limit." in section(supervision(browser), "overdue")
    clock.advance(dt.timedelta(hours=25))  # the group leader's level has 24 hours
    overdue = section(supervision(browser), "overdue")
    assert number in overdue
    assert "村民小组长审核" in overdue


def stamp(runtime: Runtime, counter: int, at: dt.datetime) -> None:
    """A stamp made without an authorisation, as the machine reports it (its signature is not read here)."""
    with runtime.sessions() as session:
        session.add(
            MachineEvent(
                machine_id="shuinan-1",
                counter=counter,
                kind="stamp",
                use=0,
                time=at,
                custodian="sn.custodian1",
                cose=b"signed",
                sha256=hashlib.sha256(str(counter).encode()).hexdigest(),
                received_at=at,
            )
        )
        session.commit()


def test_stamps_outside_office_hours_and_of_the_day(browser: TestClient, runtime: Runtime, clock: ManualClock) -> None:
    monday_morning = dt.datetime(2026, 11, 2, 10, 0, tzinfo=CHINA)
    sunday = dt.datetime(2026, 11, 1, 11, 0, tzinfo=CHINA)
    monday_evening = dt.datetime(2026, 11, 2, 18, 30, tzinfo=CHINA)
    clock.advance(dt.datetime(2026, 11, 2, 20, 0, tzinfo=CHINA) - clock.now())
    for counter, at in ((1, sunday), (2, monday_morning), (3, monday_evening)):
        stamp(runtime, counter, at)
    off_hours = section(supervision(browser), "off-hours")
    assert "record 1" in off_hours
    assert "Sunday" in off_hours
    assert "record 3" in off_hours
    assert "record 2" not in off_hours

    sign_in(browser, "sn.custodian1")
    today = browser.get("/machines/shuinan-1?lang=en").text
    assert "Stamps of 2026-11-02" in today
    assert "record 2" in today
    assert "record 3" in today
    assert "record 1" not in today
    assert "10:00:00" in today
    yesterday = browser.get("/machines/shuinan-1?lang=en&day=2026-11-01").text
    assert "record 1" in yesterday
    assert "record 2" not in yesterday


@pytest.mark.parametrize(
    ("at", "outside"),
    [
        (dt.datetime(2026, 11, 2, 7, 59, tzinfo=CHINA), True),
        (dt.datetime(2026, 11, 2, 8, 0, tzinfo=CHINA), False),
        (dt.datetime(2026, 11, 2, 18, 0, tzinfo=CHINA), False),
        (dt.datetime(2026, 11, 2, 18, 1, tzinfo=CHINA), True),
        (dt.datetime(2026, 11, 7, 10, 0, tzinfo=CHINA), True),  # a Saturday
        (dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC), False),  # 09:00 in China
    ],
)
def test_office_hours_are_china_time(at: dt.datetime, outside: bool) -> None:
    assert outside_office_hours(at) is outside


def test_a_chart_escapes_its_labels() -> None:
    svg = charts.bar_chart("c", "<t>", "<x>", "<y>", [("<script>&", 3), ("一个很长很长很长很长很长的名字", 1)])
    assert "<script>" not in svg
    assert "&lt;script&gt;&amp;" in svg
    assert "&lt;t&gt;" in svg
    assert "&lt;x&gt;" in svg
    assert "&lt;y&gt;" in svg
    assert "<title>一个很长很长很长很长很长的名字: 1</title>" in svg  # whole in its title, cut short on the bar
    assert svg.count("<rect") == 2
