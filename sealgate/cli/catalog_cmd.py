"""``sealgate catalog load/export``: the matters catalogue, from and to a YAML or JSON file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.clock import SystemClock
from sealgate.cli.people import actor
from sealgate.cli.state import state
from workflow import catalogs

app = typer.Typer(help="The matters catalogue.", no_args_is_help=True)


@app.command("load")
def load(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="YAML or JSON file (default: the shipped catalogue).")] = None,
) -> None:
    """Check a catalogue and put it in force as a new version (nothing changes if it is the same)."""
    source = path or catalogs.SHIPPED
    with state(ctx).session() as session:
        version = catalogs.load(
            session, catalogs.read(source), actor=actor(), now=SystemClock().now(), note=f"loaded from {source.name}"
        )
        session.commit()
        _, catalog = catalogs.current(session)
    typer.echo(
        f"catalogue version {version.id} in force: {len(catalog.matters)} matters, "
        f"{len(catalog.negative_list)} on the negative list (sha256 {version.sha256[:16]})"
    )


@app.command("export")
def export(ctx: typer.Context) -> None:
    """Print the catalogue in force as JSON (load it back with `sealgate catalog load FILE`)."""
    with state(ctx).session() as session:
        data = catalogs.export(session)
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
