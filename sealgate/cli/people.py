"""``sealgate init``, ``sealgate users ...`` and ``sealgate orgs ...``: people, posts and organisations."""

from __future__ import annotations

import datetime as dt
import getpass
import secrets
import sys
from typing import Annotated

import typer
from sqlalchemy import select

from core.clock import SystemClock
from core.errors import Conflict, Invalid
from identity import directory
from identity.models import Organisation, PostGrant, User
from identity.posts import OrgKind, Post
from sealgate.cli.state import state

users = typer.Typer(help="Manage users and the posts they hold.", no_args_is_help=True)
orgs = typer.Typer(help="Manage organisations.", no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")]
GeneratePassword = Annotated[bool, typer.Option("--generate-password", help="Make up a password and print it.")]


def _password(from_stdin: bool, generate: bool) -> str:
    if from_stdin and generate:
        raise Invalid("choose one of --password-stdin and --generate-password")
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if generate:
        password = secrets.token_urlsafe(12)
        typer.echo(f"password: {password}")
        return password
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def actor() -> str:
    """Commands run by an operator at the console are logged as the CLI with the system account's name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _when(value: str | None, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{value!r} is not an ISO 8601 date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def init(
    ctx: typer.Context,
    org_code: Annotated[str, typer.Option(help="Code of the top organisation, e.g. 'yazhou'.")],
    org_name: Annotated[str, typer.Option(help="Its name, e.g. '三亚市崖州区'.")],
    org_kind: Annotated[OrgKind, typer.Option(help="district or township.")] = OrgKind.DISTRICT,
    uscc: Annotated[str | None, typer.Option(help="Its unified social credit code.")] = None,
    username: Annotated[str, typer.Option(help="The first administrator's username.")] = "admin",
    name: Annotated[str, typer.Option(help="The first administrator's display name.")] = "系统管理员",
    password_stdin: PasswordStdin = False,
    generate_password: GeneratePassword = False,
) -> None:
    """Create the top organisation and its first administrator; refuses once an administrator exists."""
    with state(ctx).session() as session:
        admins = session.scalars(
            select(User.username).join(PostGrant, PostGrant.user_id == User.id).where(PostGrant.post == "admin")
        ).all()
        if admins:
            raise Conflict(f"already initialised: {', '.join(sorted(set(admins)))} hold the admin post")
        now = SystemClock().now()
        if session.scalar(select(Organisation.id).where(Organisation.code == org_code)) is None:
            directory.create_organisation(
                session,
                code=org_code,
                name=org_name,
                kind=org_kind,
                parent_code=None,
                uscc_code=uscc,
                now=now,
                actor=actor(),
            )
        directory.create_user(
            session,
            username=username,
            display_name=name,
            password=_password(password_stdin, generate_password),
            home_code=None,
            now=now,
            actor=actor(),
        )
        directory.grant_post(
            session, username=username, org_code=org_code, post=Post.ADMIN, valid_from=now, now=now, actor=actor()
        )
        session.commit()
    typer.echo(f"administrator {username} of {org_code} created")


@users.command("add")
def add_user(
    ctx: typer.Context,
    username: str,
    name: Annotated[str, typer.Option(help="Display name, e.g. '陈明德'.")],
    home: Annotated[str | None, typer.Option(help="Code of the organisation the user lives in.")] = None,
    password_stdin: PasswordStdin = False,
    generate_password: GeneratePassword = False,
) -> None:
    """Add a user."""
    with state(ctx).session() as session:
        directory.create_user(
            session,
            username=username,
            display_name=name,
            password=_password(password_stdin, generate_password),
            home_code=home,
            now=SystemClock().now(),
            actor=actor(),
        )
        session.commit()
    typer.echo(f"user {username} added")


@users.command("passwd")
def passwd(
    ctx: typer.Context,
    username: str,
    password_stdin: PasswordStdin = False,
    generate_password: GeneratePassword = False,
) -> None:
    """Set a user's password."""
    with state(ctx).session() as session:
        directory.set_password(session, username, _password(password_stdin, generate_password), SystemClock().now())
        session.commit()
    typer.echo(f"password of {username} changed")


@users.command("disable")
def disable(ctx: typer.Context, username: str) -> None:
    """Stop a user from signing in; their tokens stop working at once."""
    with state(ctx).session() as session:
        directory.set_active(session, username, False, SystemClock().now(), actor())
        session.commit()
    typer.echo(f"user {username} disabled")


@users.command("enable")
def enable(ctx: typer.Context, username: str) -> None:
    """Let a disabled user sign in again."""
    with state(ctx).session() as session:
        directory.set_active(session, username, True, SystemClock().now(), actor())
        session.commit()
    typer.echo(f"user {username} enabled")


@users.command("grant")
def grant(
    ctx: typer.Context,
    username: str,
    post: Post,
    org: str,
    since: Annotated[str | None, typer.Option("--from", help="Start (ISO 8601), default now.")] = None,
    until: Annotated[str | None, typer.Option(help="End (ISO 8601), default open-ended.")] = None,
) -> None:
    """Give a user a post in an organisation."""
    now = SystemClock().now()
    with state(ctx).session() as session:
        directory.grant_post(
            session,
            username=username,
            org_code=org,
            post=post,
            valid_from=_when(since, now),
            valid_until=_when(until, now) if until else None,
            now=now,
            actor=actor(),
        )
        session.commit()
    typer.echo(f"{username} holds {post} in {org}")


@users.command("end")
def end(
    ctx: typer.Context,
    username: str,
    post: Post,
    org: str,
    at: Annotated[str | None, typer.Option(help="When the post ends (ISO 8601), default now.")] = None,
) -> None:
    """End a user's post in an organisation."""
    with state(ctx).session() as session:
        now = SystemClock().now()
        directory.end_post(
            session, username=username, org_code=org, post=post, at=_when(at, now), now=now, actor=actor()
        )
        session.commit()
    typer.echo(f"{username} no longer holds {post} in {org}")


@users.command("list")
def list_users(ctx: typer.Context) -> None:
    """List users with the posts they hold now."""
    now = SystemClock().now()
    with state(ctx).session() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            posts = ", ".join(f"{p.post}@{p.organisation_code}" for p in directory.posts_of(session, user.id, now))
            flag = "" if user.active else " [disabled]"
            typer.echo(f"{user.username:<20} {user.display_name}{flag}  {posts or '-'}")


@orgs.command("add")
def add_org(
    ctx: typer.Context,
    code: str,
    name: Annotated[str, typer.Option(help="Name, e.g. '水南村'.")],
    kind: Annotated[OrgKind, typer.Option(help="Kind of organisation.")],
    parent: Annotated[str | None, typer.Option(help="Code of the parent organisation.")] = None,
    uscc: Annotated[str | None, typer.Option(help="Unified social credit code (GB 32100-2015).")] = None,
) -> None:
    """Add an organisation under its parent."""
    with state(ctx).session() as session:
        directory.create_organisation(
            session,
            code=code,
            name=name,
            kind=kind,
            parent_code=parent,
            uscc_code=uscc,
            now=SystemClock().now(),
            actor=actor(),
        )
        session.commit()
    typer.echo(f"organisation {code} added")


@orgs.command("list")
def list_orgs(ctx: typer.Context) -> None:
    """Show the organisations as a tree."""
    with state(ctx).session() as session:
        for depth, org in directory.organisation_tree(session):
            typer.echo(f"{'  ' * depth}{org.code}  {org.name}  [{org.kind}]{'  ' + org.uscc if org.uscc else ''}")
