"""The FastAPI application: routers, problem details and the request middleware around a Runtime."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from api import openapi, problems
from api.deps import CertificateAuthority
from api.gate import Gate
from api.i18n import PAGES
from api.idempotency import Idempotency
from api.limits import BodyLimit, BodyLimits
from api.middleware import FiniteJson, RequestContext
from api.pages import (
    account,
    admin_catalog,
    admin_machines,
    admin_people,
    admin_seals,
    administrators,
    applicants,
    approvers,
    bureaus,
    custodians,
    explorer,
    inspectors,
)
from api.routers import (
    admin,
    approvals,
    auth,
    ca,
    catalog,
    delegations,
    deliveries,
    docs,
    health,
    log,
    machines,
    me,
    outbox,
    records,
    requests,
    terminals,
    verify,
)
from api.routers import problems as problem_types
from core.errors import NotFound
from core.runtime import Runtime
from core.version import VERSION
from ledger.service import LogService
from signer import outlines
from workflow import catalogs
from workflow.catalog import SealForm
from workflow.delivery import Deliverer
from workflow.electronic import ElectronicSealing
from workflow.execution import Executors
from workflow.physical import PhysicalAuthorisation
from workflow.verifier_priming import Priming
from workflow.workers import Workers


def create_app(
    runtime: Runtime,
    *,
    integrate: bool = False,
    workers: bool = False,
    executors: Executors | None = None,
    close_runtime: bool = False,
) -> FastAPI:
    """Build the app around resources the caller opened (and closes, unless ``close_runtime``).

    ``integrate`` runs the log integrator in a background thread for the app's lifetime; several processes may
    do so, one leads and the others stand by. ``workers`` runs the workflow's background jobs the same way.
    """
    log_service = LogService.open(runtime)
    deliverer = Deliverer(runtime.sessions, runtime.settings.workflow, runtime.clock)
    authority = CertificateAuthority()
    jobs = Workers(runtime, executors or _executors(runtime, authority), deliverer.deliver_due)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warm(runtime, seals=workers)
        background = []
        if integrate:
            background.append(log_service.integrator.start())
        if workers:
            background.append(jobs.start())
        try:
            yield
        finally:
            for _, stop in background:
                stop.set()
            for thread, _ in background:
                thread.join(timeout=30)
            if close_runtime:
                runtime.close()

    app = FastAPI(
        title="sealgate",
        version=VERSION,
        summary="Approved electronic and physical seals in one verifiable log",
        lifespan=lifespan,
        docs_url=None,  # served by api.routers.docs from the vendored Swagger UI
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.log = log_service
    app.state.workers = jobs
    app.state.ca = authority
    signer = runtime.settings.signer
    app.state.verifications = Gate(
        signer.max_concurrent_verifications, signer.verification_wait_seconds, "verifications"
    )
    app.state.priming = Priming()
    problems.install(app)
    for router in (
        health.router,
        auth.router,
        me.router,
        admin.router,
        log.router,
        catalog.router,
        requests.router,
        approvals.router,
        delegations.router,
        ca.router,
        outbox.router,
        deliveries.router,
        verify.router,
        records.router,
        machines.router,
        terminals.router,
        problem_types.router,
        docs.router,
        account.router,
        applicants.router,
        approvers.router,
        custodians.router,
        inspectors.router,
        bureaus.router,
        administrators.router,
        admin_people.router,
        admin_seals.router,
        admin_catalog.router,
        admin_machines.router,
        explorer.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=PAGES / "static"), name="static")
    app.openapi = functools.partial(openapi.document, app)  # type: ignore[method-assign]
    app.add_middleware(FiniteJson)  # innermost: checks the body as a route reads it
    app.add_middleware(Idempotency)
    app.add_middleware(BodyLimit, limits=BodyLimits.of(runtime.settings))  # outside Idempotency: bounds its reads
    app.add_middleware(RequestContext)
    return app


def _executors(runtime: Runtime, authority: CertificateAuthority) -> Executors:
    """Electronic seals are sealed by the signer; physical ones are authorised to the machine that holds them."""
    settings = runtime.settings
    executors = Executors()
    executors.register(
        SealForm.ELECTRONIC,
        ElectronicSealing(
            functools.cache(lambda: authority.office(runtime)),
            settings.public_url,
            settings.signer.anchor,
            settings.signer.qr_code,
        ),
    )
    executors.register(
        SealForm.PHYSICAL,
        PhysicalAuthorisation(
            lambda: authority.get(runtime).authority,
            settings.machines.authorisation_hours,
            runtime.blobs,
            settings.public_url,
            settings.workflow.notification_webhook,
        ),
    )
    return executors


def _warm(runtime: Runtime, *, seals: bool) -> None:
    """Parse the catalogue in force at startup, not in the first requests (it is checked as a whole, which takes
    a while, and every request of every matter needs it), and where this process seals, read the face every seal
    is drawn with (a fraction of a second the first seal would wait). Best effort: a database that is down is for
    /readyz to report, and a missing font for the seal that needs it."""
    with suppress(NotFound, SQLAlchemyError), runtime.readers() as session:
        catalogs.current(session)
    if seals:
        with suppress(LookupError, OSError):
            outlines.load_font()
