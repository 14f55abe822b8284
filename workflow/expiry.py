"""Certificates about to expire: logged once by the CA, and the certificate administrators told in their inbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import seals
from identity.models import PostGrant, User
from identity.posts import Post
from workflow.notify import notify


def scan(session: Session, now: dt.datetime, days: int, webhook: str | None = None) -> int:
    """Warn about certificates within ``days`` of their end; commits. Returns how many were warned about."""
    due = seals.warn_expiring(session, now, days)
    if due:
        admins = session.scalars(
            select(User.id)
            .join(PostGrant, PostGrant.user_id == User.id)
            .where(PostGrant.post == Post.CERT_ADMIN, PostGrant.in_force(now), User.active.is_(True))
        ).all()
        for certificate in due:
            notify(
                session,
                admins,
                "certificate-expiring",
                None,
                f"证书即将到期：{certificate.subject}",
                f"序列号 {certificate.serial} 将于 {certificate.not_after:%Y-%m-%d} 到期，请及时更新。",
                now,
                webhook,
            )
    session.commit()
    return len(due)
