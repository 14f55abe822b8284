"""What administrators do through the API, each step behind the check of their post: editing the matters
catalogue, and looking after the outbox. The CLI, run by the operator of the machine, calls ``catalogs`` and
``delivery`` directly."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from identity.auth import Principal
from identity.posts import Post
from workflow import catalogs, delivery
from workflow.models import CatalogVersion, OutboxMessage


def _administrator(who: Principal, refusal: str) -> str:
    """The actor an administrator is logged as; Forbidden with ``refusal`` to anyone else."""
    if not who.holds(Post.ADMIN):
        raise Forbidden(refusal)
    return f"user:{who.username}"


def _catalogue_editor(who: Principal) -> str:
    return _administrator(who, "editing the catalogue needs the admin post")


def export_catalogue(session: Session, who: Principal) -> dict[str, Any]:
    _catalogue_editor(who)
    return catalogs.export(session)


def replace_catalogue(session: Session, who: Principal, data: dict[str, Any], now: dt.datetime) -> CatalogVersion:
    return catalogs.load(session, data, actor=_catalogue_editor(who), now=now, note="replaced through the API")


def put_matter(session: Session, who: Principal, code: str, matter: dict[str, Any], now: dt.datetime) -> CatalogVersion:
    return catalogs.put_matter(session, {**matter, "code": code}, actor=_catalogue_editor(who), now=now)


def retire_matter(session: Session, who: Principal, code: str, now: dt.datetime) -> CatalogVersion:
    return catalogs.retire_matter(session, code, actor=_catalogue_editor(who), now=now)


def _outbox_keeper(who: Principal) -> None:
    _administrator(who, "the outbox is for administrators")


def outbox(session: Session, who: Principal, status: str) -> list[OutboxMessage]:
    """The newest 500 messages in ``status`` (pending, delivered or dead)."""
    _outbox_keeper(who)
    query = select(OutboxMessage).where(OutboxMessage.status == status).order_by(OutboxMessage.id.desc())
    return list(session.scalars(query.limit(500)))


def redeliver(session: Session, who: Principal, message_id: int, now: dt.datetime) -> OutboxMessage:
    _outbox_keeper(who)
    return delivery.retry(session, message_id, now)
