"""``sealgate serve``: check every setting, migrate, then answer HTTP."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
import uvicorn

from sealgate import logs
from sealgate.cli.state import state
from sealgate.runtime import Runtime

log = logging.getLogger("sealgate")


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: SEALGATE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: SEALGATE_PORT).")] = None,
) -> None:
    """Run the service."""
    from api import create_app

    settings = state(ctx).settings()
    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime.open(settings)
    app = create_app(
        runtime, integrate=settings.ledger.integrate, workers=settings.workflow.workers, close_runtime=True
    )
    bind_host, bind_port = host or settings.host, port or settings.port
    log.info("serving on http://%s:%d", bind_host, bind_port)
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False)
