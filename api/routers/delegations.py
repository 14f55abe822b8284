"""Delegations: a holder hands a post to a deputy for a period."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep, ReadSessionDep, RowId, RuntimeDep, SessionDep
from api.schemas_workflow import DelegationIn, DelegationOut
from identity import delegation
from identity.models import Delegation

router = APIRouter(prefix="/api/v1/delegations", tags=["delegations"])


def _out(d: Delegation) -> DelegationOut:
    return DelegationOut(
        id=d.id,
        post=d.post,
        organisation=d.organisation.code,
        holder=d.holder.username,
        deputy=d.deputy.username,
        valid_from=d.valid_from,
        valid_until=d.valid_until,
        ended_at=d.ended_at,
    )


@router.post("", response_model=DelegationOut, status_code=201)
def create(body: DelegationIn, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> DelegationOut:
    now = rt.clock.now()
    made = delegation.delegate(
        session,
        holder=who.username,
        deputy=body.deputy,
        org_code=body.organisation,
        post=body.post,
        valid_from=body.valid_from or now,
        valid_until=body.valid_until,
        now=now,
        actor=f"user:{who.username}",
    )
    out = _out(made)
    session.commit()
    return out


@router.get("", response_model=list[DelegationOut])
def mine(who: PrincipalDep, session: ReadSessionDep) -> list[DelegationOut]:
    return [_out(d) for d in delegation.of_user(session, who.user_id)]


@router.post("/{delegation_id}/end", response_model=DelegationOut)
def end(delegation_id: RowId, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> DelegationOut:
    ended = delegation.end(
        session, delegation_id, now=rt.clock.now(), actor=f"user:{who.username}", by_user_id=who.user_id
    )
    out = _out(ended)
    session.commit()
    return out
