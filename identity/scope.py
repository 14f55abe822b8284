"""Which organisations and people an administrator looks after: the organisations under those where they hold the
admin post, and the people at home there. Every administrator's action on a person checks both."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity import directory
from identity.auth import Principal
from identity.models import Organisation, User
from identity.posts import Post


def actor(principal: Principal) -> str:
    return f"user:{principal.username}"


def of(principal: Principal) -> set[str]:
    """The codes of the organisations where ``principal`` holds the admin post; Forbidden without one."""
    codes = {p.organisation_code for p in principal.posts if p.post is Post.ADMIN}
    if not codes:
        raise Forbidden("this needs the admin post")
    return codes


def require_within(session: Session, principal: Principal, org: Organisation) -> None:
    if not directory.is_within(session, org, of(principal)):
        raise Forbidden(f"{org.code} is outside the organisations {principal.username} administers")


def outside(session: Session, codes: set[str], target: User, now: dt.datetime) -> list[str]:
    """What places ``target`` outside the organisations under ``codes``: their home, and the posts they hold."""
    found = []
    if target.home_organisation is not None and not directory.is_within(session, target.home_organisation, codes):
        found.append(target.home_organisation.code)
    for held in directory.posts_of(session, target.id, now):
        if not directory.is_within(session, directory.organisation(session, held.organisation_code), codes):
            found.append(held.organisation_code)
    return sorted(set(found))


def require_reach(session: Session, principal: Principal, target: User, now: dt.datetime) -> None:
    """Forbidden unless ``target`` lives in the administrator's organisations and holds posts only there (a person
    placed nowhere yet, with no post, is anyone's to place)."""
    beyond = outside(session, of(principal), target, now)
    if beyond:
        raise Forbidden(f"{target.username} belongs to organisations outside yours: {', '.join(beyond)}")
