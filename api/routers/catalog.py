"""The matters catalogue: what may be asked for (with the caller's own data filled in, masked), what villages
may not certify, and, for administrators, editing it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import PrincipalDep, ReadSessionDep, RuntimeDep, SessionDep
from api.schemas_workflow import MatterDetail, MatterSummary, NegativeOut
from core.errors import Forbidden, NotFound
from identity import directory
from identity.auth import Principal
from identity.posts import Post
from workflow import catalogs, forms
from workflow.catalog import Matter
from workflow.requests import profile_of

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
    _, catalog = catalogs.current(session)
    found = catalog.matter(code)
    if found is None:
        raise NotFound(f"no matter {code!r}")
    profile = profile_of(session, directory.user(session, who.username))
    prefill = {name: profile[source] for name, source in forms.profile_fields(found).items() if profile.get(source)}
    chain = catalog.chains[found.chain]
    return {
        **_summary(found),
        "description": found.description,
        "basis": found.basis,
        "chain": [level.model_dump(mode="json") for level in chain.levels],
        "form": found.form,
        "prefill": forms.masked(found, prefill, names=True),
    }


@router.get("/api/v1/negative-list", response_model=list[NegativeOut])
def negative_list(session: ReadSessionDep, _who: PrincipalDep) -> list[dict[str, Any]]:
    _, catalog = catalogs.current(session)
    return [item.model_dump() for item in catalog.negative_list]


def _admin(who: Principal) -> str:
    if not who.holds(Post.ADMIN):
        raise Forbidden("editing the catalogue needs the admin post")
    return f"user:{who.username}"


@router.get("/api/v1/admin/catalog")
def export(session: ReadSessionDep, who: PrincipalDep) -> dict[str, Any]:
    _admin(who)
    return catalogs.export(session)


@router.put("/api/v1/admin/catalog", status_code=204, response_class=Response)
def replace(body: dict[str, Any], who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    catalogs.load(session, body, actor=_admin(who), now=rt.clock.now(), note="replaced through the API")
    session.commit()
    return Response(status_code=204)


@router.put("/api/v1/admin/catalog/matters/{code}", status_code=204, response_class=Response)
def put_matter(code: str, body: dict[str, Any], who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    catalogs.put_matter(session, {**body, "code": code}, actor=_admin(who), now=rt.clock.now())
    session.commit()
    return Response(status_code=204)


@router.delete("/api/v1/admin/catalog/matters/{code}", status_code=204, response_class=Response)
def retire_matter(code: str, who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    catalogs.retire_matter(session, code, actor=_admin(who), now=rt.clock.now())
    session.commit()
    return Response(status_code=204)
