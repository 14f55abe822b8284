"""Human-readable descriptions of the problem types, so every ``type`` URI the API returns resolves."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.problems import CATALOGUE, type_uri
from core.errors import NotFound

router = APIRouter(prefix="/problems", tags=["operations"])


class ProblemType(BaseModel):
    type: str
    title: str


@router.get("", response_model=list[ProblemType])
def all_types() -> list[ProblemType]:
    return [ProblemType(type=type_uri(slug), title=title) for slug, title in sorted(CATALOGUE.items())]


@router.get("/{slug}", response_model=ProblemType)
def one_type(slug: str) -> ProblemType:
    if slug not in CATALOGUE:
        raise NotFound(f"no problem type {slug!r}")
    return ProblemType(type=type_uri(slug), title=CATALOGUE[slug])
