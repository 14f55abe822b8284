"""Administration through the API: an administrator manages the organisations under their own, and the people
at home and holding posts there (``identity.scope``). New top-level organisations and the first administrator come
from the CLI only. A post other than staff is asked for here and granted when a second administrator approves it
(``identity.grant_requests``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden, NotFound
from identity import directory, grant_requests, scope
from identity.auth import Principal
from identity.models import GrantRequest, Organisation, PostGrant, User
from identity.posts import OrgKind, Post

_actor = scope.actor
_scope = scope.of
_require_within = scope.require_within


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
) -> PostGrant | GrantRequest:
    """A staff post is granted at once; any other post is asked for, and waits for a second administrator."""
    if post is not Post.STAFF:
        asked = grant_requests.ask(
            session,
            actor,
            username=username,
            post=post,
            organisation=organisation,
            valid_from=valid_from,
            valid_until=valid_until,
            now=now,
        )
        session.commit()
        return asked
    _require_within(session, actor, directory.organisation(session, organisation))
    grant_requests.target_of(session, actor, username, now)
    grant_requests.check_period(valid_from, valid_until, now)
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


def decide(session: Session, actor: Principal, *, request_id: int, approve: bool, now: dt.datetime) -> GrantRequest:
    """A second administrator approves (the post is granted) or rejects a post asked for."""
    decided = (grant_requests.approve if approve else grant_requests.reject)(session, actor, request_id, now)
    session.commit()
    return decided


def grant_requests_of(
    session: Session, actor: Principal, now: dt.datetime, state: grant_requests.State | None = None
) -> list[GrantRequest]:
    """Posts asked for that the administrator may see: waiting ones unless ``state`` says otherwise."""
    return grant_requests.listed(session, actor, now, state=state or grant_requests.State.PENDING)


def end_grant(
    session: Session, actor: Principal, *, username: str, grant_id: int, at: dt.datetime, now: dt.datetime
) -> PostGrant:
    held = session.get(PostGrant, grant_id)
    if held is None or held.user.username != username:
        raise NotFound(f"{username} has no post grant {grant_id}")
    _require_within(session, actor, held.organisation)
    scope.require_reach(session, actor, held.user, now)
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
    if target.id == actor.user_id and not active:
        raise Forbidden("nobody disables their own account")
    scope.require_reach(session, actor, target, now)
    directory.set_active(session, username, active, now, _actor(actor))
    session.commit()
    return target


def grants_of(session: Session, actor: Principal, username: str, now: dt.datetime) -> list[PostGrant]:
    target = directory.user(session, username)
    scope.require_reach(session, actor, target, now)
    return list(session.scalars(select(PostGrant).where(PostGrant.user_id == target.id).order_by(PostGrant.id)))


def account(session: Session, actor: Principal, username: str, now: dt.datetime) -> User:
    """A person the administrator looks after; Forbidden for anyone else."""
    target = directory.user(session, username)
    scope.require_reach(session, actor, target, now)
    return target


def users(session: Session, actor: Principal, now: dt.datetime, *, search: str = "", limit: int = 200) -> list[User]:
    """The accounts an administrator looks after, by username: at home in their organisations or placed nowhere,
    and holding posts only there; ``search`` narrows to usernames and names containing it."""
    ids = [org.id for _, org in list_organisations(session, actor)]
    posted_outside = select(PostGrant.user_id).where(PostGrant.in_force(now), PostGrant.organisation_id.not_in(ids))
    query = select(User).where(
        or_(User.home_organisation_id.in_(ids), User.home_organisation_id.is_(None)),
        User.id.not_in(posted_outside),
    )
    if search:
        query = query.where(
            or_(User.username.contains(search, autoescape=True), User.display_name.contains(search, autoescape=True))
        )
    return list(session.scalars(query.order_by(User.username).limit(limit)))
