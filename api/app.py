"""The FastAPI application: routers, problem details and the request middleware around a Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import sealgate
from api import problems
from api.idempotency import Idempotency
from api.middleware import RequestContext
from api.routers import admin, auth, health, log, me
from api.routers import problems as problem_types
from ledger.service import LogService
from sealgate.runtime import Runtime


def create_app(runtime: Runtime, *, integrate: bool = False, close_runtime: bool = False) -> FastAPI:
    """Build the app around resources the caller opened (and closes, unless ``close_runtime``).

    ``integrate`` runs the log integrator in a background thread for the app's lifetime; several processes may
    do so, one leads and the others stand by.
    """
    log_service = LogService.open(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        integrator = log_service.integrator.start() if integrate else None
        try:
            yield
        finally:
            if integrator is not None:
                thread, stop = integrator
                stop.set()
                thread.join(timeout=30)
            if close_runtime:
                runtime.close()

    app = FastAPI(
        title="sealgate",
        version=sealgate.__version__,
        summary="Approved electronic and physical seals in one verifiable log",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.log = log_service
    problems.install(app)
    for router in (health.router, auth.router, me.router, admin.router, log.router, problem_types.router):
        app.include_router(router)
    app.add_middleware(Idempotency)
    app.add_middleware(RequestContext)
    return app
