"""Failed sign-ins slow the one who fails, with short, growing, capped delays; nobody can lock an owner out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.settings import AuthSettings
from identity import auth, directory
from identity.models import LoginFailure

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PASSWORD = "pass-word-1"
OWNER = "192.0.2.10"
ATTACKER = "203.0.113.66"
POLICY = AuthSettings()
SMALL = AuthSettings(max_failures_per_account=2, max_failures_per_address=4, max_failures_per_account_everywhere=6)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        for username in ("chen", "fu"):
            directory.create_user(
                s, username=username, display_name=username, password=PASSWORD, home_code=None, now=T0, actor="test"
            )
        s.commit()
        yield s
        s.rollback()


def attempt(
    session: Session,
    password: str,
    at: dt.datetime,
    *,
    address: str,
    username: str = "chen",
    policy: AuthSettings = POLICY,
) -> str:
    """``ok``, ``wrong`` or ``wait N`` (a 429 with its Retry-After)."""
    try:
        auth.login(session, username=username, password=password, address=address, now=at, policy=policy)
    except auth.TooManyAttempts as exc:
        return f"wait {exc.retry_after}"
    except auth.InvalidCredentials:
        return "wrong"
    return "ok"


def failures(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LoginFailure)) or 0


def test_delays_double_from_the_first_and_stop_at_the_cap() -> None:
    assert [auth.delay(n, 5, POLICY) for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert auth.delay(12, 5, POLICY) == 60
    assert auth.delay(10_000, 5, POLICY) == 60


def test_a_flood_at_someone_elses_account_does_not_keep_its_owner_out(session: Session) -> None:
    now = T0
    outcomes = []
    for _ in range(300):  # a wrong password every two seconds for ten minutes
        outcomes.append(attempt(session, "guess", now, address=ATTACKER))
        now += dt.timedelta(seconds=2)
    # 5 failures, then waits of 1, 2, 4... seconds: most of the flood is refused unheard.
    assert outcomes[:12] == ["wrong"] * 7 + ["wait 2", "wrong", "wait 6", "wait 4", "wait 2"]
    assert outcomes.count("wrong") < 25
    assert max(int(o.split()[1]) for o in outcomes if o.startswith("wait")) <= 60
    # The owner, from an address of their own, signs in at once, with the flood going on.
    assert attempt(session, PASSWORD, now, address=OWNER) == "ok"
    # Even from the attacker's own address (one NAT for the whole village), the right password works once the
    # delay, at most the cap, has passed: there is no lock.
    assert attempt(session, PASSWORD, now + dt.timedelta(seconds=61), address=ATTACKER) == "ok"


def test_the_right_password_waits_only_the_short_delay(session: Session) -> None:
    for i in range(5):
        assert attempt(session, "guess", T0 + dt.timedelta(milliseconds=i), address=OWNER) == "wrong"
    last = T0 + dt.timedelta(milliseconds=4)
    assert attempt(session, PASSWORD, last, address=OWNER) == "wait 1"
    assert attempt(session, PASSWORD, last + dt.timedelta(seconds=1), address=OWNER) == "ok"


def test_an_attempt_during_the_delay_is_not_counted(session: Session) -> None:
    for _ in range(5):
        attempt(session, "guess", T0, address=ATTACKER)
    assert failures(session) == 5
    for _ in range(20):
        assert attempt(session, "guess", T0, address=ATTACKER) == "wait 1"
    assert failures(session) == 5
    after = T0 + dt.timedelta(seconds=1)
    assert attempt(session, "guess", after, address=ATTACKER) == "wrong"
    assert attempt(session, "guess", after + dt.timedelta(seconds=1), address=ATTACKER) == "wait 1"  # 2 s now
    assert attempt(session, "guess", after + dt.timedelta(seconds=2), address=ATTACKER) == "wrong"
    assert failures(session) == 7


def test_an_address_failing_at_many_accounts_waits(session: Session) -> None:
    for i in range(4):
        assert attempt(session, "guess", T0, address=ATTACKER, username=f"nobody{i}", policy=SMALL) == "wrong"
    assert attempt(session, PASSWORD, T0, address=ATTACKER, username="fu", policy=SMALL) == "wait 1"
    assert attempt(session, PASSWORD, T0, address=OWNER, username="fu", policy=SMALL) == "ok"
    assert (
        attempt(session, PASSWORD, T0 + dt.timedelta(seconds=1), address=ATTACKER, username="fu", policy=SMALL) == "ok"
    )


def test_a_guess_spread_over_many_addresses_waits_for_the_account(session: Session) -> None:
    for i in range(6):
        assert attempt(session, "guess", T0, address=f"198.51.100.{i}", policy=SMALL) == "wrong"
    assert attempt(session, PASSWORD, T0, address=OWNER, policy=SMALL) == "wait 1"
    assert attempt(session, PASSWORD, T0 + dt.timedelta(seconds=1), address=OWNER, policy=SMALL) == "ok"


def test_failures_are_forgotten_after_the_window(session: Session) -> None:
    for _ in range(3):
        attempt(session, "guess", T0, address=ATTACKER, policy=SMALL)
    later = T0 + dt.timedelta(seconds=SMALL.failure_window_seconds + 1)
    assert attempt(session, "guess", later, address=ATTACKER, policy=SMALL) == "wrong"
    assert failures(session) == 1
