"""OAuth2 password flow for bearer tokens, and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import PrincipalDep, RuntimeDep, SessionDep
from api.schemas import TokenOut
from identity import auth

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, responses={401: {}, 429: {}})
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    rt: RuntimeDep,
    session: SessionDep,
) -> TokenOut:
    issued = auth.login(
        session,
        username=form.username,
        password=form.password,
        address=request.client.host if request.client else "-",
        now=rt.clock.now(),
        policy=rt.settings.auth,
    )
    return TokenOut(access_token=issued.token, expires_in=issued.lifetime_seconds, expires_at=issued.expires_at)


@router.delete("/token", status_code=204, response_class=Response)
def revoke_token(who: PrincipalDep, rt: RuntimeDep, session: SessionDep) -> Response:
    assert who.token_id is not None, "a caller authenticated by a bearer token has its token's id"
    auth.revoke(session, who.token_id, rt.clock.now())
    return Response(status_code=204)
