"""Completeness for the audit: every organisation, user, post grant and post asked for has its log entries
(sequenced or queued).

A row without its entry is a change that bypassed the log, which is exactly what the audit is there to find.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import GrantRequest, Organisation, PostGrant, User
from ledger.audit import logged as entries_of
from ledger.entry import timestamp

_ASKED_STEPS = ("post.grant.requested", "post.grant.approved", "post.grant.rejected")


def missing_entries(session: Session) -> Iterator[str]:
    logged = entries_of(session, ("org.created", "user.created", "post.granted", *_ASKED_STEPS))
    subjects = {(kind, subject) for kind, subject, _ in logged}
    for code in session.scalars(select(Organisation.code)):
        if ("org.created", f"org:{code}") not in subjects:
            yield f"organisation {code} has no org.created entry"
    for username in session.scalars(select(User.username)):
        if ("user.created", f"user:{username}") not in subjects:
            yield f"user {username} has no user.created entry"
    granted = set()
    for kind, subject, body in logged:
        if kind == "post.granted":
            data = json.loads(body)["data"]
            granted.add((subject, data["user"], data["post"], data["from"]))
    rows = session.execute(
        select(Organisation.code, User.username, PostGrant.post, PostGrant.valid_from)
        .join(Organisation, PostGrant.organisation_id == Organisation.id)
        .join(User, PostGrant.user_id == User.id)
    )
    for code, username, post, since in rows:
        if (f"org:{code}", username, post, timestamp(since)) not in granted:
            yield f"post {post} of {username} in {code} from {timestamp(since)} has no post.granted entry"
    asked = {(kind, json.loads(body)["data"]["request"]) for kind, _, body in logged if kind in _ASKED_STEPS}
    for request_id, state in session.execute(select(GrantRequest.id, GrantRequest.state)):
        for step in ("requested", *([state] if state != "pending" else [])):
            if (f"post.grant.{step}", request_id) not in asked:
                yield f"post grant request {request_id} has no post.grant.{step} entry"
