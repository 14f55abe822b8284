"""The catalogue in the database: immutable versions, the newest in force, every change in the log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import canonical_json
from core.errors import Invalid, NotFound
from ledger.append import append
from ledger.entry import Event
from workflow.catalog import Catalog, parse
from workflow.models import CatalogVersion

SHIPPED = Path(__file__).resolve().parent / "data" / "catalog.yaml"

_parsed: dict[int, Catalog] = {}


class InvalidCatalog(Invalid):
    problem = "invalid-catalog"


def read(path: Path) -> dict[str, Any]:
    """A catalogue file, YAML or JSON (JSON is YAML)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidCatalog(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidCatalog(f"{path} does not hold a catalogue object")
    return data


def check(data: dict[str, Any]) -> Catalog:
    try:
        return parse(data)
    except ValidationError as exc:
        errors = [{"pointer": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()[:50]]
        raise InvalidCatalog(f"the catalogue is not valid: {errors[0]['message']}", errors=errors) from None


def load(session: Session, data: dict[str, Any], *, actor: str, now: Any, note: str) -> CatalogVersion:
    """Put a checked catalogue in force (no new version if it is the one in force); flushes and logs."""
    catalog = check(data)
    content = canonical_json.dumps(catalog.model_dump(mode="json", by_alias=True)).decode()
    digest = hashlib.sha256(content.encode()).hexdigest()
    newest = session.scalar(select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(1))
    if newest is not None and newest.sha256 == digest:
        return newest
    version = CatalogVersion(content=content, sha256=digest, loaded_at=now, loaded_by=actor, note=note[:200])
    session.add(version)
    session.flush()
    _parsed[version.id] = catalog
    data_logged = {
        "version": version.id,
        "sha256": digest,
        "matters": len(catalog.matters),
        "negative_list": len(catalog.negative_list),
        "note": note[:200],
    }
    append(session, Event("catalog.loaded", "catalog", actor, data_logged, now))
    return version


def current(session: Session) -> tuple[int, Catalog]:
    newest = session.scalar(select(CatalogVersion.id).order_by(CatalogVersion.id.desc()).limit(1))
    if newest is None:
        raise NotFound("no matters catalogue is loaded (sealgate catalog load)")
    return newest, version(session, newest)


def version(session: Session, version_id: int) -> Catalog:
    """A catalogue version, parsed once per process: versions never change."""
    cached = _parsed.get(version_id)
    if cached is None:
        row = session.get(CatalogVersion, version_id)
        if row is None:
            raise NotFound(f"no catalogue version {version_id}")
        cached = _parsed[version_id] = parse(json.loads(row.content))
    return cached


def forget() -> None:
    """Drop the parsed versions: for a process whose database was emptied and loaded again, where a version's id
    may then name another catalogue (tests do this)."""
    _parsed.clear()


def export(session: Session) -> dict[str, Any]:
    _, catalog = current(session)
    exported: dict[str, Any] = catalog.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    exported["version"] = catalog.version
    return exported


def put_matter(session: Session, matter: dict[str, Any], *, actor: str, now: Any) -> CatalogVersion:
    data = export(session)
    code = matter.get("code")
    data["matters"] = [m for m in data["matters"] if m["code"] != code] + [matter]
    return load(session, data, actor=actor, now=now, note=f"matter {code} put")


def retire_matter(session: Session, code: str, *, actor: str, now: Any) -> CatalogVersion:
    data = export(session)
    kept = [m for m in data["matters"] if m["code"] != code]
    if len(kept) == len(data["matters"]):
        raise NotFound(f"no matter {code!r} in the catalogue")
    data["matters"] = kept
    return load(session, data, actor=actor, now=now, note=f"matter {code} retired")
