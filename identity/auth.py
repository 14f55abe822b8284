"""Signing in: password checks slowed by growing delays per account and per address, and opaque bearer tokens.

Tokens are random 256-bit strings; the database keeps their SHA-256 only. Failed sign-ins are rows, not process
memory, so the delays hold across every API process behind the proxy. There is no lock: a delay is short and
capped, so nobody can keep an account's owner out by failing on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, delete, func, select
from sqlalchemy.orm import Session

from core.errors import TooManyRequests, Unauthorized
from core.settings import AuthSettings
from identity.directory import HELD_POST_COLUMNS, HeldPost, held_posts, posts_of
from identity.models import ApiToken, LoginFailure, Organisation, PostGrant, User
from identity.passwords import hash_password, needs_rehash, verify_password

TOKEN_PREFIX = "sg_"


class InvalidCredentials(Unauthorized):
    problem = "invalid-credentials"


class TooManyAttempts(TooManyRequests):
    problem = "too-many-attempts"


@dataclass(frozen=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_at: dt.datetime
    lifetime_seconds: int


@dataclass(frozen=True)
class Principal:
    """The user behind a request, with the posts they hold at the time of the request."""

    user_id: int
    username: str
    display_name: str
    posts: tuple[HeldPost, ...]
    token_id: int | None = None

    def holds(self, post: str, org_code: str | None = None) -> bool:
        return any(p.post == post and (org_code is None or p.organisation_code == org_code) for p in self.posts)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    now: dt.datetime,
    policy: AuthSettings,
) -> IssuedToken:
    """Check a password and issue a token; commits, so a failure is counted even though it raises."""
    counted, address = username[:64], address[:64]  # as the failures are kept
    _refuse_if_throttled(session, counted, address, now, policy)
    account = session.scalar(select(User).where(User.username == username))
    stored = account.password_hash if account is not None and account.active else None
    if not verify_password(stored, password):
        session.add(LoginFailure(username=counted, address=address, at=now))
        session.commit()
        raise InvalidCredentials("unknown user, wrong password or disabled account")
    assert account is not None, "verify_password refuses a missing account"
    assert stored is not None, "and a disabled account or one without a password"
    if needs_rehash(stored):
        account.password_hash = hash_password(password)
    session.execute(delete(LoginFailure).where(LoginFailure.username == counted, LoginFailure.address == address))
    issued = _issue(session, account, now, policy.token_lifetime_seconds, address)
    session.commit()
    return issued


def delay(failures: int, allowed: int, policy: AuthSettings) -> float:
    """How long after the last of ``failures`` the next attempt waits: nothing within the ``allowed``, then the
    first delay, doubled by every further failure up to the cap."""
    if failures < allowed:
        return 0.0
    return min(policy.failure_delay_cap_seconds, policy.failure_delay_seconds * 2.0 ** min(failures - allowed, 64))


def _refuse_if_throttled(session: Session, username: str, address: str, now: dt.datetime, policy: AuthSettings) -> None:
    """Attempts wait after repeated failures, never longer than the cap, and a refused attempt is not counted: a
    flood of wrong passwords slows the one who sends it, and the owner of the account, from an address of their
    own, is never kept out; the wait for the account from every address only slows a guess spread over many."""
    since = now - dt.timedelta(seconds=policy.failure_window_seconds)
    session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    for condition, allowed, what in (
        (
            and_(LoginFailure.username == username, LoginFailure.address == address),
            policy.max_failures_per_account,
            "this account",
        ),
        (LoginFailure.address == address, policy.max_failures_per_address, "this address"),
        (LoginFailure.username == username, policy.max_failures_per_account_everywhere, "this account"),
    ):
        count, last = session.execute(select(func.count(), func.max(LoginFailure.at)).where(condition)).one()
        wait = delay(count, allowed, policy)
        if wait <= 0:
            continue
        remaining = (_as_utc(last) + dt.timedelta(seconds=wait) - now).total_seconds()
        if remaining > 0:
            retry = max(1, math.ceil(remaining))
            session.commit()
            raise TooManyAttempts(f"too many failed sign-ins for {what}; try again in {retry} s", retry_after=retry)


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    # Aggregates bypass the column type on SQLite and come back as text.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _issue(session: Session, account: User, now: dt.datetime, lifetime: int, address: str) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = now + dt.timedelta(seconds=lifetime)
    session.add(
        ApiToken(
            user_id=account.id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=expires,
            client_address=address[:64],
        )
    )
    return IssuedToken(token, expires, lifetime)


_tokens = ApiToken.__table__.c
_users = User.__table__.c
_grants = PostGrant.__table__.c
_organisations = Organisation.__table__.c
_RESOLVE = (
    select(_tokens.id, _users.id, _users.username, _users.display_name, *HELD_POST_COLUMNS)
    .join_from(ApiToken.__table__, User.__table__, _users.id == _tokens.user_id)
    .outerjoin(PostGrant.__table__, and_(_grants.user_id == _users.id, PostGrant.in_force(bindparam("at"))))
    .outerjoin(Organisation.__table__, _organisations.id == _grants.organisation_id)
    .where(
        _tokens.token_hash == bindparam("digest"),
        _tokens.revoked_at.is_(None),
        _tokens.expires_at > bindparam("at"),
        _users.active.is_(True),
    )
    .order_by(_organisations.code, _grants.post)
)


def resolve(session: Session, token: str, now: dt.datetime) -> Principal | None:
    """The principal a bearer token stands for, or None if it is unknown, expired, revoked or disabled: one
    statement, as every API call asks it."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    rows = session.connection().execute(_RESOLVE, {"digest": token_digest(token), "at": now}).all()
    if not rows:
        return None
    token_id, user_id, username, display_name = rows[0][:4]
    posts = held_posts(row[4:] for row in rows)
    return Principal(user_id, username, display_name, tuple(posts), token_id)


def principal_of(session: Session, account: User, now: dt.datetime) -> Principal:
    """A user as a principal with the posts they hold at ``now``, for work done without a token."""
    return Principal(
        user_id=account.id,
        username=account.username,
        display_name=account.display_name,
        posts=tuple(posts_of(session, account.id, now)),
    )


def revoke(session: Session, token_id: int, now: dt.datetime) -> None:
    api_token = session.get(ApiToken, token_id)
    if api_token is not None and api_token.revoked_at is None:
        api_token.revoked_at = now
    session.commit()
