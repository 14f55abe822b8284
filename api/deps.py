"""Dependencies shared by the routers: the runtime, a database session, the signed-in principal."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from ca import hierarchy
from ca.hierarchy import Authority
from ca.ocsp import Responder, StatusBook
from ca.tsa import TimeStampAuthority
from core.errors import Unauthorized
from core.runtime import Runtime
from identity import auth
from identity.auth import Principal
from ledger.service import LogService
from signer.sealing import Office

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


class InvalidToken(Unauthorized):
    problem = "invalid-token"


async def runtime(request: Request) -> Runtime:
    """Async, as it does no I/O: FastAPI would run a plain function in a worker thread, a hand-off per request."""
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]
# A row's id in a path: a database holds 64 bits, so a larger number is refused as input, not sent to it.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a positive 64-bit integer")]


def db_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


def read_session(rt: RuntimeDep) -> Iterator[Session]:
    with rt.readers() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(read_session)]


def authenticate(rt: Runtime, token: str | None, session: Session | None = None) -> Principal:
    """The one way a request is authenticated: the caller behind the bearer token, looked up in a short read-only
    session of its own, so no lock outlives the lookup, or in the caller's ``session`` (a hot route that runs in
    one worker thread with one connection); 401 without a token, or with one unknown, expired or revoked."""
    if token is None:
        raise Unauthorized("this needs a bearer token from POST /api/v1/auth/token")
    if session is not None:
        found = auth.resolve(session, token, rt.clock.now())
    else:
        with rt.readers() as own:
            found = auth.resolve(own, token, rt.clock.now())
    if found is None:
        raise InvalidToken("the bearer token is unknown, expired or revoked")
    return found


def principal(rt: RuntimeDep, token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    return authenticate(rt, token)


def principal_if_any(rt: RuntimeDep, token: Annotated[str | None, Depends(oauth2)]) -> Principal | None:
    """The caller of a page anyone may open, which shows more to the signed-in: None without a token, and a
    token that is unknown or expired is refused all the same."""
    return None if token is None else authenticate(rt, token)


PrincipalDep = Annotated[Principal, Depends(principal)]
TokenDep = Annotated[str | None, Depends(oauth2)]  # for a hot route that authenticates in its own worker thread
PrincipalIfAnyDep = Annotated[Principal | None, Depends(principal_if_any)]


@dataclass(frozen=True)
class Ca:
    authority: Authority
    responder: Responder
    tsa: TimeStampAuthority


class CertificateAuthority:
    """The CA hierarchy, loaded at its first use and kept: it changes only with a key ceremony, after which the
    service is restarted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: Ca | None = None

    def get(self, rt: Runtime) -> Ca:
        with self._lock:
            if self._loaded is None:
                with rt.readers() as session:
                    authority = hierarchy.load(session, rt.keystore)
                settings = rt.settings.ca
                self._loaded = Ca(
                    authority,
                    Responder(
                        authority,
                        StatusBook(rt.engine, authority.issuing_id, settings.ocsp_status_seconds),
                        dt.timedelta(minutes=settings.ocsp_validity_minutes),
                    ),
                    TimeStampAuthority(
                        key=authority.tsa.key,
                        certificate=authority.tsa.certificate,
                        chain=authority.chain,
                        policy=settings.tsa_policy,
                        clock=rt.clock,
                    ),
                )
            return self._loaded

    def office(self, rt: Runtime) -> Office:
        """The seal office over this CA; callers keep it, since it holds each seal's prepared signer."""
        ca = self.get(rt)
        settings = rt.settings
        return Office(
            keystore=rt.keystore,
            authority=ca.authority,
            responder=ca.responder,
            tsa=ca.tsa,
            blobs=rt.blobs,
            ca_settings=settings.ca,
            work_dir=settings.var_dir / "sealing",
            level=settings.signer.level,
        )


def certificate_authority(request: Request, rt: RuntimeDep) -> Ca:
    holder: CertificateAuthority = request.app.state.ca
    return holder.get(rt)


CaDep = Annotated[Ca, Depends(certificate_authority)]


def log_service(request: Request) -> LogService:
    service: LogService = request.app.state.log
    return service


LogDep = Annotated[LogService, Depends(log_service)]
