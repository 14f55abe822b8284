"""What certificate administrators do to seals through the API, each step behind the check of their post.

The CLI, run by the operator of the machine, calls ``ca.seals`` directly.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ca import seals
from ca.models import Certificate, Seal
from ca.seals import SealForm
from core.errors import Forbidden
from identity.auth import Principal
from identity.posts import Post


def administrator(who: Principal, doing: str) -> str:
    """The actor a certificate administrator is logged as; Forbidden, saying what only they do, to anyone else."""
    if not who.holds(Post.CERT_ADMIN):
        raise Forbidden(f"only a certificate administrator {doing}")
    return f"user:{who.username}"


def add_seal(
    session: Session, who: Principal, org_code: str, kind: str, form: SealForm, name: str, now: dt.datetime
) -> Seal:
    return seals.add(session, org_code, kind, form, name, now, administrator(who, "adds seals"))


def suspend_seal(session: Session, who: Principal, seal_id: int, now: dt.datetime) -> tuple[Seal, Certificate | None]:
    """Stop a seal's use (a lost machine, a dispute); its certificate stays valid. Revocation is an operation."""
    actor = administrator(who, "suspends or resumes seals")
    seal = seals.get(session, seal_id, lock=True)
    seals.suspend(session, seal, now, actor)
    return seal, seals.current_certificate(session, seal.id)


def resume_seal(session: Session, who: Principal, seal_id: int, now: dt.datetime) -> tuple[Seal, Certificate | None]:
    actor = administrator(who, "suspends or resumes seals")
    seal = seals.get(session, seal_id, lock=True)
    seals.resume(session, seal, now, actor)
    return seal, seals.current_certificate(session, seal.id)
