"""``sealgate outbox ...``: what is waiting to be delivered, what gave up, and where the bureaus receive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from core.clock import SystemClock
from core.errors import Invalid
from sealgate.cli.state import state
from workflow import delivery
from workflow.models import DeliveryEndpoint, OutboxMessage

app = typer.Typer(help="Deliveries to bureaus and webhooks.", no_args_is_help=True)


@app.command("list")
def list_messages(
    ctx: typer.Context,
    dead_only: Annotated[bool, typer.Option("--dead", help="Only the messages that gave up.")] = False,
) -> None:
    """List the messages not delivered yet: waiting or dead."""
    with state(ctx).session() as session:
        if dead_only:
            messages = delivery.dead(session)
        else:
            query = select(OutboxMessage).where(OutboxMessage.status != "delivered").order_by(OutboxMessage.id)
            messages = list(session.scalars(query))
        for m in messages:
            due = f"{m.next_attempt_at:%Y-%m-%d %H:%M:%S}Z" if m.status == "pending" else "-"
            typer.echo(f"{m.id:>6}  {m.kind:<7}  {m.target}  {m.status}  {m.attempts}  {due}  {m.last_error or '-'}")


@app.command("retry")
def retry(ctx: typer.Context, message_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Send a dead (or waiting) message again now, with a fresh set of attempts."""
    with state(ctx).session() as session:
        delivery.retry(session, message_id, SystemClock().now())
        session.commit()
    typer.echo(f"message {message_id} will be sent again")


@app.command("endpoint")
def endpoint(
    ctx: typer.Context,
    bureau: str,
    url: Annotated[str, typer.Option(help="Where the bureau receives deliveries (http or https).")],
    key_id: Annotated[str, typer.Option("--key-id", help="The key id the bureau knows the secret by.")],
    secret_file: Annotated[
        Path, typer.Option("--secret-file", help="File holding the shared signing secret (never on the command line).")
    ],
    organisation: Annotated[
        str | None,
        typer.Option(help="Code of the organisation that is this bureau: its bureau post sees what is delivered."),
    ] = None,
) -> None:
    """Set where a bureau receives its deliveries and the secret they are signed with."""
    try:
        secret = secret_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read the secret from {secret_file}: {exc}") from None
    with state(ctx).session() as session:
        delivery.set_endpoint(
            session, bureau, url=url, key_id=key_id, secret=secret, now=SystemClock().now(), organisation=organisation
        )
        session.commit()
    typer.echo(f"bureau {bureau} receives at {url}, signed with key {key_id}")


@app.command("endpoints")
def endpoints(ctx: typer.Context) -> None:
    """List the bureaus' endpoints and key ids (never their secrets)."""
    with state(ctx).session() as session:
        for e in session.scalars(select(DeliveryEndpoint).order_by(DeliveryEndpoint.bureau)):
            typer.echo(f"{e.bureau:<20} {e.url}  key {e.key_id}")
