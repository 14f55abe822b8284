"""The FastAPI application: routers, problem details and the request middleware around a Runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import sealgate
from api import problems
from api.middleware import RequestContext
from api.routers import admin, auth, health, me
from api.routers import problems as problem_types
from sealgate.runtime import Runtime


def create_app(runtime: Runtime, *, close_runtime: bool = False) -> FastAPI:
    """Build the app around resources the caller opened (and closes, unless ``close_runtime``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_runtime:
                runtime.close()

    app = FastAPI(
        title="sealgate",
        version=sealgate.__version__,
        summary="Approved electronic and physical seals in one verifiable log",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    problems.install(app)
    for router in (health.router, auth.router, me.router, admin.router, problem_types.router):
        app.include_router(router)
    app.add_middleware(RequestContext)
    return app
