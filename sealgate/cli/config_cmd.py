"""``sealgate config show``: the settings in force, as TOML, secrets masked."""

from __future__ import annotations

import tomli_w
import typer

from core.settings import config_file_in_force, shown_settings
from sealgate.cli.state import state

app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the settings in force (defaults, file, environment) with secrets masked."""
    cli = state(ctx)
    settings = cli.settings()
    source = cli.config or config_file_in_force()
    typer.echo(f"# settings file: {source or 'none'}; environment: SEALGATE_*")
    typer.echo(tomli_w.dumps(shown_settings(settings)), nl=False)
