"""Dependencies shared by the routers: the runtime, a database session, the signed-in principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from identity import auth
from identity.auth import Principal
from sealgate.errors import Unauthorized
from sealgate.runtime import Runtime

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class InvalidToken(Unauthorized):
    problem = "invalid-token"


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def db_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


def read_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.readers() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(read_session)]


def principal(rt: RuntimeDep, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The caller, looked up in a short read-only session of its own, so no lock outlives the lookup."""
    if token is None:
        raise Unauthorized("this needs a bearer token from POST /api/v1/auth/token")
    with rt.readers() as session:
        found = auth.resolve(session, token, rt.clock.now())
    if found is None:
        raise InvalidToken("the bearer token is unknown, expired or revoked")
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]
