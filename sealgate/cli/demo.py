"""``sealgate demo``: Yazhou district with 水南村, 北岭村 and 城西村, their groups, one user per post, residents
with a profile, and the shipped matters catalogue.

Loading is idempotent: what exists is kept, what is missing is added, and the demo sign-ins are printed again.
"""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import SystemClock
from identity import directory
from identity.models import Organisation, User
from identity.posts import OrgKind, Post
from sealgate.cli.state import state
from workflow import catalogs

ACTOR = "cli:demo"


def dataset() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("sealgate.cli").joinpath("yazhou.json").read_text("utf-8"))
    return data


def load(session: Session, now: dt.datetime | None = None) -> dict[str, Any]:
    """Add the demo organisations, users and posts that are missing; commits."""
    data = dataset()
    now = now or SystemClock().now()
    for org in data["organisations"]:
        if session.scalar(select(Organisation.id).where(Organisation.code == org["code"])) is None:
            directory.create_organisation(
                session,
                code=org["code"],
                name=org["name"],
                kind=OrgKind(org["kind"]),
                parent_code=org.get("parent"),
                uscc_code=org.get("uscc"),
                now=now,
                actor=ACTOR,
            )
    for person in data["users"]:
        if session.scalar(select(User.id).where(User.username == person["username"])) is not None:
            continue
        directory.create_user(
            session,
            username=person["username"],
            display_name=person["name"],
            password=person["password"],
            home_code=person.get("home"),
            now=now,
            actor=ACTOR,
        )
        for post, org_code in person["posts"]:
            directory.grant_post(
                session,
                username=person["username"],
                org_code=org_code,
                post=Post(post),
                valid_from=now,
                now=now,
                actor=ACTOR,
            )
        if "profile" in person:
            directory.set_profile(session, person["username"], **person["profile"])
    catalogs.load(session, catalogs.read(catalogs.SHIPPED), actor=ACTOR, now=now, note="the shipped catalogue")
    session.commit()
    return data


def demo(ctx: typer.Context) -> None:
    """Load the demo dataset and print its sign-ins."""
    with state(ctx).session() as session:
        data = load(session)
    typer.echo("Demo sign-ins (username / password), for http://127.0.0.1:8000 and POST /api/v1/auth/token:")
    for person in data["users"]:
        posts = ", ".join(f"{post}@{org}" for post, org in person["posts"]) or f"resident of {person['home']}"
        typer.echo(f"  {person['username']} / {person['password']}    {person['name']} ({posts})")
