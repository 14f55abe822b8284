"""The matters catalogue for administrators: what villages may use their seals for and what they may not certify;
retiring a matter, and replacing the whole catalogue with an edited export, which the service checks whole."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from api.deps import RuntimeDep
from api.pages.administrators import PeopleAdmin as Admin
from api.pages.base import N_, FormDep, Viewer, redirect, render
from core.errors import Invalid
from core.runtime import Runtime
from workflow import administration, catalogs
from workflow.catalog import Catalog

router = APIRouter(include_in_schema=False)
EXPORT_NAME = "sealgate-catalogue.json"


@router.get("/admin/catalog")
def catalogue(request: Request, who: Admin, rt: RuntimeDep) -> Response:
    return _page(request, who, rt)


def _page(request: Request, who: Viewer, rt: Runtime, status: int = 200, **refusal: Any) -> Response:
    with rt.readers() as session:
        version, catalog = catalogs.current(session)
    return render(request, who, "admin/catalog.html", status=status, version=version, **_shown(catalog), **refusal)


def _shown(catalog: Catalog) -> dict[str, Any]:
    """Matters with the names of their class, chain, seals and destination, as the catalogue itself names them."""
    matters = [
        {
            "code": m.code,
            "name": m.name,
            "class": catalog.classes.get(m.use_class, str(m.use_class)),
            "chain": catalog.chains[m.chain].name,
            "levels": [level.label for level in catalog.chains[m.chain].levels],
            "seals": [catalog.seals[s].name for s in m.seals],
            "forms": [str(f) for f in m.forms],
            "destination": catalog.bureaus[m.destination].name if m.destination else "",
        }
        for m in catalog.matters
    ]
    return {"matters": matters, "negative_list": catalog.negative_list}


@router.get("/admin/catalog/export")
def export(who: Admin, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        data = administration.export_catalogue(session, who.principal)
    body = json.dumps(data, ensure_ascii=False, indent=2).encode()
    headers = {"Content-Disposition": f'attachment; filename="{EXPORT_NAME}"', "Cache-Control": "no-store"}
    return Response(body, media_type="application/json", headers=headers)


@router.post("/admin/catalog")
def replace(request: Request, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    upload = form.get("catalogue")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid("choose the catalogue file (JSON) to upload")
    try:
        data = json.loads(upload.file.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _page(request, who, rt, 422, detail=f"{upload.filename}: {exc}", errors=[])
    if not isinstance(data, dict):
        return _page(request, who, rt, 422, detail=f"{upload.filename}: not a catalogue object", errors=[])
    try:
        with rt.sessions() as session:
            administration.replace_catalogue(session, who.principal, data, rt.clock.now())
            session.commit()
    except catalogs.InvalidCatalog as exc:
        return _page(request, who, rt, 422, detail=exc.detail, errors=exc.extensions.get("errors", []))
    return redirect("/admin/catalog", done=N_("The catalogue was replaced; requests already made keep theirs."))


@router.post("/admin/catalog/matters/{matter}/retire")
def retire(matter: str, who: Admin, form: FormDep, rt: RuntimeDep) -> Response:
    with rt.sessions() as session:
        administration.retire_matter(session, who.principal, matter, rt.clock.now())
        session.commit()
    return redirect("/admin/catalog", done=N_("The matter was retired: it can no longer be asked for."))
