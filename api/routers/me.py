"""The signed-in user and the posts they hold now."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import PrincipalDep
from api.schemas import MeOut, PostOut

router = APIRouter(prefix="/api/v1", tags=["identity"])


@router.get("/me", response_model=MeOut)
def me(who: PrincipalDep) -> MeOut:
    return MeOut(
        username=who.username,
        display_name=who.display_name,
        posts=[
            PostOut(
                post=p.post,
                organisation=p.organisation_code,
                organisation_name=p.organisation_name,
                since=p.valid_from,
                until=p.valid_until,
            )
            for p in who.posts
        ],
    )
