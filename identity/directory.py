"""Organisations, users and post grants: creating them, finding them, and asking who held which post when.

Functions take the caller's session and flush; the caller commits, so several changes can share a transaction.
Every change that bears on approval power is appended to the log in that same transaction: organisations,
users (their names as commitments only), posts granted and ended, accounts disabled and enabled.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from core.errors import Conflict, Invalid, NotFound
from identity import idcard, uscc
from identity.models import Organisation, PostGrant, Profile, User
from identity.passwords import hash_password
from identity.posts import PARENT_KINDS, POST_KINDS, OrgKind, Post
from ledger.append import append
from ledger.entry import Event, commit, timestamp

# How far behind the service's clock a post or a delegation may be dated to start or end: the caller's clock, or the
# minute a form shows. Dated further back, it would make decisions already taken look authorised, or unauthorised.
SKEW = dt.timedelta(minutes=1)
_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class HeldPost:
    post: Post
    organisation_code: str
    organisation_name: str
    valid_from: dt.datetime
    valid_until: dt.datetime | None


def organisation(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"no organisation with code {code!r}")
    return org


def user(session: Session, username: str) -> User:
    found = session.scalar(select(User).where(User.username == username))
    if found is None:
        raise NotFound(f"no user named {username!r}")
    return found


def create_organisation(
    session: Session,
    *,
    code: str,
    name: str,
    kind: OrgKind,
    parent_code: str | None,
    uscc_code: str | None,
    now: dt.datetime,
    actor: str,
) -> Organisation:
    if not _CODE.match(code):
        raise Invalid(f"organisation code {code!r}: lower-case letters, digits, '.', '_' and '-', up to 64")
    if not name.strip():
        raise Invalid("an organisation needs a name")
    parent = organisation(session, parent_code) if parent_code else None
    parent_kind = OrgKind(parent.kind) if parent else None
    if parent_kind not in PARENT_KINDS[kind]:
        allowed = sorted(str(k) for k in PARENT_KINDS[kind] if k is not None) or ["none"]
        raise Invalid(f"a {kind} sits under {' or '.join(allowed)}, not under {parent_kind or 'nothing'}")
    if session.scalar(select(Organisation.id).where(Organisation.code == code)) is not None:
        raise Conflict(f"organisation code {code!r} is taken", rule="organisation-code-taken")
    if uscc_code is not None:
        uscc.validate(uscc_code)
        if session.scalar(select(Organisation.id).where(Organisation.uscc == uscc_code)) is not None:
            raise Conflict(f"unified social credit code {uscc_code} belongs to another organisation", rule="uscc-taken")
    org = Organisation(code=code, name=name.strip(), kind=str(kind), parent=parent, uscc=uscc_code, created_at=now)
    session.add(org)
    session.flush()
    data = {"code": code, "name": org.name, "kind": str(kind), "parent": parent_code, "uscc": uscc_code}
    append(session, Event("org.created", f"org:{code}", actor, data, now))
    return org


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    home_code: str | None,
    now: dt.datetime,
    actor: str,
) -> User:
    if not _USERNAME.match(username):
        raise Invalid(f"username {username!r}: 2 to 64 lower-case letters, digits, '.', '_' or '-'")
    if not display_name.strip():
        raise Invalid("a user needs a display name")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"username {username!r} is taken", rule="username-taken")
    home = organisation(session, home_code) if home_code else None
    new = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=hash_password(password),
        home_organisation=home,
        active=True,
        created_at=now,
        password_changed_at=now,
        created_by_id=_actor_id(session, actor),
    )
    session.add(new)
    session.flush()
    data = {"username": username, "name": commit(session, "name", new.display_name, now), "home": home_code}
    append(session, Event("user.created", f"user:{username}", actor, data, now))
    return new


def set_password(session: Session, username: str, password: str, now: dt.datetime) -> None:
    target = user(session, username)
    target.password_hash = hash_password(password)
    target.password_changed_at = now
    session.flush()


def set_active(session: Session, username: str, active: bool, now: dt.datetime, actor: str) -> None:
    """Disabling the last enabled administrator of an organisation is refused, as ending their post is."""
    target = user(session, username)
    if target.active == active:
        return
    if not active:
        held = session.scalars(
            select(PostGrant).where(
                PostGrant.user_id == target.id, PostGrant.post == str(Post.ADMIN), PostGrant.in_force(now)
            )
        )
        for grant in held:
            if not _other_admins(session, grant, now):
                code = grant.organisation.code
                raise Conflict(
                    f"{username} is the last administrator of {code}: grant the post to another first",
                    rule="last-administrator",
                )
    target.active = active
    session.flush()
    kind = "user.enabled" if active else "user.disabled"
    append(session, Event(kind, f"user:{username}", actor, {"username": username}, now))


def grant_post(
    session: Session,
    *,
    username: str,
    org_code: str,
    post: Post,
    valid_from: dt.datetime,
    now: dt.datetime,
    actor: str,
    valid_until: dt.datetime | None = None,
    asked_by: str | None = None,
) -> PostGrant:
    """``actor`` grants the post; with ``asked_by``, ``actor`` is the second administrator approving what
    ``asked_by`` asked for, and the grant records both."""
    holder = user(session, username)
    org = organisation(session, org_code)
    check_fits(org, post)
    if valid_until is not None and valid_until <= valid_from:
        raise Invalid("a post grant must end after it starts")
    refuse_overlap(session, holder, org, post, valid_from, valid_until)
    grant = PostGrant(
        user=holder,
        organisation=org,
        post=str(post),
        valid_from=valid_from,
        valid_until=valid_until,
        granted_by_id=_actor_id(session, asked_by or actor),
        approved_by_id=_actor_id(session, actor) if asked_by else None,
    )
    session.add(grant)
    session.flush()
    data: dict[str, Any] = {
        "user": username,
        "post": str(post),
        "from": timestamp(valid_from),
        "until": timestamp(valid_until) if valid_until else None,
    }
    if asked_by:
        data["asked_by"] = asked_by
    append(session, Event("post.granted", f"org:{org_code}", actor, data, now))
    return grant


def check_fits(org: Organisation, post: Post) -> None:
    """Invalid unless ``post`` is one an organisation of ``org``'s kind has."""
    if OrgKind(org.kind) not in POST_KINDS[post]:
        fits = ", ".join(sorted(str(k) for k in POST_KINDS[post]))
        raise Invalid(f"the post {post} belongs to a {fits}; {org.code} is a {org.kind}")


def refuse_overlap(
    session: Session,
    holder: User,
    org: Organisation,
    post: Post,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
) -> None:
    """Conflict if ``holder`` holds ``post`` in ``org`` for part of the period."""
    overlapping = session.scalar(
        select(PostGrant.id).where(
            PostGrant.user_id == holder.id,
            PostGrant.organisation_id == org.id,
            PostGrant.post == str(post),
            or_(PostGrant.valid_until.is_(None), PostGrant.valid_until > valid_from),
            *([PostGrant.valid_from < valid_until] if valid_until is not None else []),
        )
    )
    if overlapping is not None:
        raise Conflict(f"{holder.username} already holds {post} in {org.code} in that period", rule="post-overlaps")


def end_post(
    session: Session,
    *,
    username: str,
    org_code: str,
    post: Post,
    at: dt.datetime,
    now: dt.datetime,
    actor: str,
) -> PostGrant:
    if at < now - SKEW:
        raise Invalid("a post cannot end in the past: decisions taken since would look unauthorised")
    holder = user(session, username)
    org = organisation(session, org_code)
    grant = session.scalar(
        select(PostGrant).where(
            PostGrant.user_id == holder.id,
            PostGrant.organisation_id == org.id,
            PostGrant.post == str(post),
            PostGrant.in_force(at),
        )
    )
    if grant is None:
        raise NotFound(f"{username} does not hold {post} in {org_code} at {at.isoformat()}")
    if post is Post.ADMIN and not _other_admins(session, grant, at):
        raise Conflict(
            f"{username} is the last administrator of {org_code}: grant the post to another first",
            rule="last-administrator",
        )
    grant.valid_until = at
    grant.ended_by_id = _actor_id(session, actor)
    session.flush()
    data = {"user": username, "post": str(post), "at": timestamp(at)}
    append(session, Event("post.ended", f"org:{org_code}", actor, data, now))
    return grant


def _other_admins(session: Session, grant: PostGrant, at: dt.datetime) -> bool:
    """Whether someone other than the holder of ``grant``, with an enabled account, holds the admin post of its
    organisation at ``at``."""
    other = select(PostGrant.id).where(
        PostGrant.organisation_id == grant.organisation_id,
        PostGrant.post == str(Post.ADMIN),
        PostGrant.user_id != grant.user_id,
        PostGrant.user_id.in_(select(User.id).where(User.active.is_(True))),
        PostGrant.in_force(at),
    )
    return session.scalar(other.limit(1)) is not None


def _actor_id(session: Session, actor: str) -> int | None:
    """The user behind an actor string ``user:<username>``; None for the CLI or the system."""
    if not actor.startswith("user:"):
        return None
    return session.scalar(select(User.id).where(User.username == actor[5:]))


_grants = PostGrant.__table__.c
_organisations = Organisation.__table__.c
HELD_POST_COLUMNS = (_grants.post, _organisations.code, _organisations.name, _grants.valid_from, _grants.valid_until)
_POSTS_OF = (
    select(*HELD_POST_COLUMNS)
    .join_from(PostGrant.__table__, Organisation.__table__, _grants.organisation_id == _organisations.id)
    .where(_grants.user_id == bindparam("user"), PostGrant.in_force(bindparam("at")))
    .order_by(_organisations.code, _grants.post)
)


def posts_of(session: Session, user_id: int, at: dt.datetime) -> list[HeldPost]:
    return held_posts(session.connection().execute(_POSTS_OF, {"user": user_id, "at": at}))


def held_posts(rows: Iterable[Sequence[Any]]) -> list[HeldPost]:
    """Posts from rows of ``HELD_POST_COLUMNS`` (a row of nulls is none)."""
    return [HeldPost(Post(post), code, name, since, until) for post, code, name, since, until in rows if post]


def holders(session: Session, org_code: str, post: Post, at: dt.datetime) -> list[User]:
    org = organisation(session, org_code)
    return list(
        session.scalars(
            select(User)
            .join(PostGrant, PostGrant.user_id == User.id)
            .where(
                PostGrant.organisation_id == org.id,
                PostGrant.post == str(post),
                PostGrant.in_force(at),
                User.active.is_(True),
            )
            .order_by(User.username)
        )
    )


def organisation_tree(session: Session) -> list[tuple[int, Organisation]]:
    """Every organisation with its depth, parents before children, siblings by code."""
    orgs = list(session.scalars(select(Organisation).order_by(Organisation.code)))
    children: dict[int | None, list[Organisation]] = {}
    for org in orgs:
        children.setdefault(org.parent_id, []).append(org)
    out: list[tuple[int, Organisation]] = []

    def walk(parent: int | None, depth: int) -> None:
        for org in children.get(parent, []):
            out.append((depth, org))
            walk(org.id, depth + 1)

    walk(None, 0)
    return out


def ancestors(session: Session, org: Organisation) -> list[Organisation]:
    """The organisation itself, then its parent, up to the top."""
    chain = [org]
    while chain[-1].parent_id is not None:
        parent = session.get(Organisation, chain[-1].parent_id)
        assert parent is not None, "parent_id is a foreign key"
        chain.append(parent)
    return chain


def is_within(session: Session, org: Organisation, scope_codes: set[str]) -> bool:
    return any(o.code in scope_codes for o in ancestors(session, org))


def set_profile(
    session: Session, username: str, *, id_number: str | None, ssn: str | None, phone: str | None
) -> Profile:
    """Personal data for filling forms; an ID number must pass the GB 11643 check."""
    person = user(session, username)
    if id_number is not None:
        idcard.validate(id_number)
    profile = session.get(Profile, person.id) or Profile(user_id=person.id)
    profile.id_number, profile.ssn, profile.phone = id_number, ssn, phone
    session.add(profile)
    session.flush()
    return profile
