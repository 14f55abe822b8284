"""What certificate administrators do to seals through the API, each step behind the check of their post; what
changes a seal's certificate or its use (suspending, resuming) is an operation for two (``ca.operations``).

The CLI, run by the operator of the machine, calls ``ca.seals`` directly.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from ca import seals
from ca.models import Seal
from ca.seals import SealForm
from core.errors import Forbidden
from identity import directory
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
    """A seal of a kind its organisation holds, named after it (``seals.check_fits``)."""
    actor = administrator(who, "adds seals")
    seals.check_fits(session, directory.organisation(session, org_code), kind, name)
    return seals.add(session, org_code, kind, form, name, now, actor)
