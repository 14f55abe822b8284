"""Administration through the API: an administrator manages the organisations under their own, and the people
who hold posts there. New top-level organisations and the first administrator come from the CLI only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, PostGrant, User
from identity.posts import OrgKind, Post


def _actor(principal: Principal) -> str:
    return f"user:{principal.username}"


def _scope(actor: Principal) -> set[str]:
    codes = {p.organisation_code for p in actor.posts if p.post is Post.ADMIN}
    if not codes:
        raise Forbidden("this needs the admin post")
    return codes


def _require_within(session: Session, actor: Principal, org: Organisation) -> None:
    if not directory.is_within(session, org, _scope(actor)):
        raise Forbidden(f"{org.code} is outside the organisations {actor.username} administers")


def list_organisations(session: Session, actor: Principal) -> list[tuple[int, Organisation]]:
    scope = _scope(actor)
    return [(d, o) for d, o in directory.organisation_tree(session) if directory.is_within(session, o, scope)]


def add_organisation(
    session: Session,
    actor: Principal,
    *,
    code: str,
    name: str,
    kind: OrgKind,
    parent: str,
    uscc: str | None,
    now: dt.datetime,
) -> Organisation:
    _require_within(session, actor, directory.organisation(session, parent))
    org = directory.create_organisation(
        session, code=code, name=name, kind=kind, parent_code=parent, uscc_code=uscc, now=now, actor=_actor(actor)
    )
    session.commit()
    return org


def add_user(
    session: Session,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    password: str,
    home: str | None,
    now: dt.datetime,
) -> User:
    if home is not None:
        _require_within(session, actor, directory.organisation(session, home))
    else:
        _scope(actor)
    created = directory.create_user(
        session,
        username=username,
        display_name=display_name,
        password=password,
        home_code=home,
        now=now,
        actor=_actor(actor),
    )
    session.commit()
    return created


def grant(
    session: Session,
    actor: Principal,
    *,
    username: str,
    post: Post,
    organisation: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
    now: dt.datetime,
) -> PostGrant:
    _require_within(session, actor, directory.organisation(session, organisation))
    created = directory.grant_post(
        session,
        username=username,
        org_code=organisation,
        post=post,
        valid_from=valid_from,
        valid_until=valid_until,
        now=now,
        actor=_actor(actor),
    )
    session.commit()
    return created


def end_grant(
    session: Session, actor: Principal, *, username: str, grant_id: int, at: dt.datetime, now: dt.datetime
) -> PostGrant:
    held = session.get(PostGrant, grant_id)
    if held is None or held.user.username != username:
        raise NotFound(f"{username} has no post grant {grant_id}")
    _require_within(session, actor, held.organisation)
    ended = directory.end_post(
        session,
        username=username,
        org_code=held.organisation.code,
        post=Post(held.post),
        at=at,
        now=now,
        actor=_actor(actor),
    )
    session.commit()
    return ended


def set_active(session: Session, actor: Principal, *, username: str, active: bool, now: dt.datetime) -> User:
    target = directory.user(session, username)
    scope = _scope(actor)
    outside = [
        p.organisation_code
        for p in directory.posts_of(session, target.id, now)
        if not directory.is_within(session, directory.organisation(session, p.organisation_code), scope)
    ]
    if outside:
        raise Forbidden(f"{username} holds posts outside your organisations: {', '.join(outside)}")
    directory.set_active(session, username, active, now, _actor(actor))
    session.commit()
    return target


def grants_of(session: Session, actor: Principal, username: str) -> list[PostGrant]:
    _scope(actor)
    target = directory.user(session, username)
    return list(session.scalars(select(PostGrant).where(PostGrant.user_id == target.id).order_by(PostGrant.id)))


def users(session: Session, actor: Principal, *, search: str = "", limit: int = 200) -> list[User]:
    """The accounts an administrator looks after, by username: those at home in or holding a post in their
    organisations, and those placed nowhere yet; ``search`` narrows to usernames and names containing it."""
    ids = [org.id for _, org in list_organisations(session, actor)]
    posted = select(PostGrant.user_id)
    query = select(User).where(
        or_(
            User.home_organisation_id.in_(ids),
            User.id.in_(posted.where(PostGrant.organisation_id.in_(ids))),
            and_(User.home_organisation_id.is_(None), User.id.not_in(posted)),
        )
    )
    if search:
        query = query.where(
            or_(User.username.contains(search, autoescape=True), User.display_name.contains(search, autoescape=True))
        )
    return list(session.scalars(query.order_by(User.username).limit(limit)))
