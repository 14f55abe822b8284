"""``sealgate serve``: check every setting, migrate, then answer HTTP.

A request's database work runs in worker threads, one round trip after another; each time an answer arrives,
its thread waits for the GIL, by default up to 5 ms while another thread computes. Half a millisecond shortens
those waits; in ``bench/approvals.py`` it helped by 2 to 20%, within this machine's run-to-run spread.

A request allocates thousands of short-lived objects (SQLAlchemy results, FastAPI's models), so at the default
threshold of 700 the cyclic collector runs several times per request and walks the young objects each time.
The objects made at startup (modules, the app, the runtime) are frozen, out of every later collection, and the
youngest generation is collected every 20,000 allocations: in ``bench/approvals.py``, with alternating rounds,
that gave 10% more decisions per second (median of three rounds each).

The client's address (which sign-in delays count) is the peer's, unless the peer is one of the reverse proxies
named in ``forwarded_allow_ips``: only then is its ``X-Forwarded-For`` believed. Uvicorn's own default believes
127.0.0.1, which would let anything on the host, or a proxy that passes the header through, pick its address.
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Annotated, Any

import typer
import uvicorn

from core import logs
from core.runtime import Runtime
from core.settings import Settings
from sealgate import MIGRATIONS
from sealgate.cli.state import state

log = logging.getLogger("sealgate")
GIL_SWITCH_INTERVAL = 0.0005  # seconds
GC_YOUNG_THRESHOLD = 20_000  # allocations between collections of the youngest generation


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: SEALGATE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: SEALGATE_PORT).")] = None,
) -> None:
    """Run the service."""
    from api import create_app

    settings = state(ctx).settings()
    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime.open(settings, migrations=MIGRATIONS)
    app = create_app(
        runtime, integrate=settings.ledger.integrate, workers=settings.workflow.workers, close_runtime=True
    )
    bind_host, bind_port = host or settings.host, port or settings.port
    log.info("serving on http://%s:%d", bind_host, bind_port)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    uvicorn.run(app, host=bind_host, port=bind_port, log_config=None, access_log=False, **proxy_options(settings))


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's options for the forwarded headers: believed from the configured proxies only, never by default."""
    proxies = list(settings.forwarded_allow_ips)
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}
