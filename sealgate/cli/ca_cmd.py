"""``sealgate ca ...``: the key ceremony, and what an administrator looks up about the CA."""

from __future__ import annotations

import getpass
from contextlib import suppress
from typing import Annotated

import typer

from ca import hierarchy, seals
from core.clock import SystemClock
from core.runtime import Runtime
from sealgate import MIGRATIONS
from sealgate.cli.state import state

app = typer.Typer(help="The certificate authority.", no_args_is_help=True)


@app.command("init")
def init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Make a new hierarchy even if one exists.")] = False,
    if_missing: Annotated[
        bool, typer.Option("--if-missing", help="Do nothing, successfully, if a hierarchy exists (for make run).")
    ] = False,
) -> None:
    """Key ceremony: root CA, issuing CA, OCSP responder, TSA and authorisation signer, keys in the keystore."""
    runtime = Runtime.open(state(ctx).settings(), migrations=MIGRATIONS)
    try:
        with runtime.sessions() as session:
            if if_missing and not force:
                with suppress(hierarchy.NotInitialised):
                    hierarchy.load(session, runtime.keystore)
                    typer.echo("the certificate authority is initialised already")
                    return
            rows = hierarchy.initialise(
                session,
                runtime.keystore,
                runtime.settings,
                SystemClock().now(),
                f"cli:{getpass.getuser()}",
                force=force,
            )
            session.commit()
    finally:
        runtime.close()
    for row in rows:
        typer.echo(f"{row.role:<14} SHA-256 {row.sha256}  until {row.not_after:%Y-%m-%d}  {row.subject}")


@app.command("expiring")
def expiring(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="Within how many days.")] = 30,
) -> None:
    """Certificates in use that expire within DAYS, soonest first."""
    with state(ctx).session() as session:
        for c in seals.expiring(session, SystemClock().now(), days):
            typer.echo(f"{c.not_after:%Y-%m-%d}  {c.role:<14} {c.serial}  {c.subject}")
