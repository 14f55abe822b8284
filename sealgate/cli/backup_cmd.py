"""``sealgate backup`` and ``sealgate restore``: a consistent copy of a running service, and its return."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from sealgate.cli.state import state


def backup(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A new or empty directory to write the backup into.")],
    include_dev_token: Annotated[
        bool, typer.Option(help="Also copy the development token's keys (never its PIN); a real HSM has its own.")
    ] = False,
) -> None:
    """Back up the database, the blob store, the settings and the public parts of the CA and the log."""
    from sealgate.backup.take import take

    taken = take(state(ctx).settings(), directory, include_dev_token=include_dev_token, now=dt.datetime.now(dt.UTC))
    for warning in taken.warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    log = taken.manifest.about["log"]
    typer.echo(
        f"backup written to {directory}: {len(taken.manifest.files)} files, {taken.blobs} blobs, "
        f"the log at {log['size']} entries"
    )


def restore(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A backup that `sealgate backup` wrote.")],
    pin_file: Annotated[
        Path | None, typer.Option(help="The development token's PIN, when the backup holds the token.")
    ] = None,
    seen_checkpoint: Annotated[
        list[Path],
        typer.Option(help="A checkpoint of this log seen by an auditor or witness; the backup must reach it."),
    ] = [],  # noqa: B006  (typer reads the default, never mutates it)
) -> None:
    """Restore a backup into an empty database and var directory; refuses a damaged backup or a non-empty target."""
    from sealgate.backup.restore import restore as restore_backup

    done = restore_backup(state(ctx).settings(), directory, pin_file=pin_file, seen=seen_checkpoint)
    for warning in done.warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    log = done.manifest.about["log"]
    typer.echo(
        f"restored {directory}: schema {done.manifest.about['schema']}, {done.blobs} blobs, the log at "
        f"{log['size']} entries; start the service, then check it with `sealgate log audit`"
    )
