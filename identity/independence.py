"""Four eyes are two people only if neither made the other: the creator of an account set its first password, and
whoever granted a post chose its holder. A second approval by such a pair is refused, for posts and for
certificate operations alike."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity.models import PostGrant, User
from identity.posts import Post


class NotIndependent(Forbidden):
    problem = "separation-of-duties"


def require(session: Session, requester_id: int, approver_id: int, post: Post, now: dt.datetime) -> None:
    """Forbidden when one of the two made the other's account, or granted (asked for or approved) the ``post``
    the other holds at ``now``."""
    for made, maker in ((approver_id, requester_id), (requester_id, approver_id)):
        if session.scalar(select(User.created_by_id).where(User.id == made)) == maker:
            raise NotIndependent("the second approval cannot come from an account the other administrator made")
        granted = select(PostGrant.id).where(
            PostGrant.user_id == made,
            PostGrant.post == str(post),
            PostGrant.in_force(now),
            or_(PostGrant.granted_by_id == maker, PostGrant.approved_by_id == maker),
        )
        if session.scalar(granted.limit(1)) is not None:
            raise NotIndependent(f"the second approval cannot come from a {post} post the other administrator granted")
