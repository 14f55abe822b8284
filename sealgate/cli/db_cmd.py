"""``sealgate db``: schema migrations."""

from __future__ import annotations

import typer

from core import migrate
from core.runtime import open_database
from sealgate import MIGRATIONS
from sealgate.cli.state import state

app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply every migration not yet applied."""
    engine = open_database(state(ctx).settings(), migrations=MIGRATIONS)
    try:
        typer.echo(f"database at revision {migrate.current(engine)}")
    finally:
        engine.dispose()


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the applied revision and the newest one known."""
    settings = state(ctx).settings()
    engine = open_database(settings, migrations=None)
    try:
        typer.echo(f"applied: {migrate.current(engine) or 'none'}; newest: {migrate.head(MIGRATIONS)}")
    finally:
        engine.dispose()
