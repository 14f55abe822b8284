"""The ``sealgate`` command: serve the API, manage people and organisations, load the demo, inspect settings.

Errors a user can fix end the command with one line on stderr (exit 2 for settings, 1 for refused input).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import ConfigError, DomainError
from sealgate.cli import (
    ca_cmd,
    catalog_cmd,
    config_cmd,
    db_cmd,
    demo,
    device_cmd,
    log_cmd,
    outbox_cmd,
    people,
    serve,
    terminal_cmd,
    verify_cmd,
)
from sealgate.cli.state import CliState

app = typer.Typer(
    name="sealgate",
    help="The seal office of a township: approved seals, one verifiable log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (default: $SEALGATE_CONFIG).")
    ] = None,
) -> None:
    ctx.obj = CliState(config)


app.command("serve")(serve.serve)
app.command("init")(people.init)
app.command("demo")(demo.demo)
app.command("witness")(log_cmd.witness)
app.command("verify")(verify_cmd.verify)
app.command("terminal")(terminal_cmd.terminal)
app.command("device-sim")(device_cmd.device_sim)
app.add_typer(people.users, name="users")
app.add_typer(people.orgs, name="orgs")
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(log_cmd.app, name="log")
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(outbox_cmd.app, name="outbox")
app.add_typer(ca_cmd.app, name="ca")


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        print(f"sealgate: {exc}", file=sys.stderr)
        sys.exit(2)
    except DomainError as exc:
        print(f"sealgate: {exc.detail}", file=sys.stderr)
        sys.exit(1)
