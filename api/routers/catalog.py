"""The matters catalogue: what may be asked for (with the caller's own data filled in, masked), what villages
may not certify, and, for administrators, editing it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, ReadSessionDep, RuntimeDep, SessionDep
from api.schemas_workflow import MatterDetail, MatterSummary, NegativeOut
from workflow import administration, catalogs
from workflow.catalog import Matter
from workflow.requests import prefilled

router = APIRouter(tags=["catalogue"])


def _summary(matter: Matter) -> dict[str, Any]:
    return {
        "code": matter.code,
        "name": matter.name,
        "class": str(matter.use_class),
        "seals": list(matter.seals),
        "forms": [str(f) for f in matter.forms],
        "destination": matter.destination,
        "has_template": matter.template is not None,
    }


@router.get("/api/v1/matters", response_model=list[MatterSummary])
def matters(session: ReadSessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    _, catalog = catalogs.current(session)
    return [_summary(m) for m in catalog.matters]


@router.get("/api/v1/matters/{code}", response_model=MatterDetail)
def matter(code: str, session: ReadSessionDep, who: PrincipalDep) -> dict[str, Any]:
    """The matter, its chain and its form, with what the caller's profile fills in shown masked."""
    found, chain, prefill = prefilled(session, who, code)
    return {
        **_summary(found),
        "description": found.description,
        "basis": found.basis,
        "chain": [level.model_dump(mode="json") for level in chain.levels],
        "form": found.form,
        "prefill": prefill,
    }


@router.get("/api/v1/negative-list", response_model=list[NegativeOut])
def negative_list(session: ReadSessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    _, catalog = catalogs.current(session)
    return [item.model_dump() for item in catalog.negative_list]


@router.get("/api/v1/admin/catalog")
def export(session: ReadSessionDep, who: PrincipalDep) -> dict[str, Any]:
    return administration.export_catalogue(session, who)


@router.put("/api/v1/admin/catalog", status_code=204, response_class=Response)
def replace(body: dict[str, Any], who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    administration.replace_catalogue(session, who, body, rt.clock.now())
    session.commit()
    return Response(status_code=204)


@router.put("/api/v1/admin/catalog/matters/{code}", status_code=204, response_class=Response)
def put_matter(code: str, body: dict[str, Any], who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    administration.put_matter(session, who, code, body, rt.clock.now())
    session.commit()
    return Response(status_code=204)


@router.delete("/api/v1/admin/catalog/matters/{code}", status_code=204, response_class=Response)
def retire_matter(code: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    administration.retire_matter(session, who, code, rt.clock.now())
    session.commit()
    return Response(status_code=204)
