"""Who may do what to an organisation's seal machines.

Its seal administrators manage them, as do administrators anywhere (the machines of a township or village are
set up by the district's staff as often as by their own). Its custodians, and the inspectors of the district or
township above it, see them without managing them.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity import directory
from identity.auth import Principal
from identity.posts import Post


def may_manage(principal: Principal, org_code: str) -> bool:
    return principal.holds(Post.SEAL_ADMIN, org_code) or principal.holds(Post.ADMIN)


def may_view(session: Session, principal: Principal, org_code: str) -> bool:
    if may_manage(principal, org_code) or principal.holds(Post.CUSTODIAN, org_code):
        return True
    inspected = {p.organisation_code for p in principal.posts if p.post is Post.INSPECTOR}
    return bool(inspected) and directory.is_within(session, directory.organisation(session, org_code), inspected)


def require_manage(principal: Principal, org_code: str) -> None:
    if not may_manage(principal, org_code):
        raise Forbidden(f"only a seal administrator of {org_code} or an administrator manages its seal machines")


def require_view(session: Session, principal: Principal, org_code: str) -> None:
    if not may_view(session, principal, org_code):
        raise Forbidden(f"{principal.username} may not see the seal machines of {org_code}")
