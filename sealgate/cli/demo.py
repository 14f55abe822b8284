"""``sealgate demo``: Yazhou district with 水南村, 北岭村 and 城西村, their groups, one user per post, residents
with a profile, the shipped matters catalogue, and a seal machine per village holding its official seal.

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

from ca import seals
from ca.seals import SealForm
from core.clock import SystemClock
from identity import directory
from identity.models import Organisation, User
from identity.posts import OrgKind, Post
from physical_seal import machines
from physical_seal.models import Machine
from sealgate.cli.state import state
from workflow import catalogs

ACTOR = "cli:demo"


def dataset() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("sealgate.cli").joinpath("yazhou.json").read_text("utf-8"))
    return data


def load(session: Session, now: dt.datetime | None = None, *, code_hours: float = 72.0) -> dict[str, Any]:
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
    data["enrolment_codes"] = _machines(session, data["machines"], now, code_hours)
    session.commit()
    return data


def _machines(session: Session, machines_: list[dict[str, Any]], now: dt.datetime, hours: float) -> dict[str, str]:
    """One seal machine per village, holding its official seal, kept by its two custodians; a fresh enrolment
    code for each machine not yet enrolled (codes are kept only as hashes, so an old one cannot be printed)."""
    codes: dict[str, str] = {}
    for spec in machines_:
        machine = session.get(Machine, spec["id"])
        if machine is None:
            seal = seals.add(
                session, spec["organisation"], spec["seal"]["kind"], SealForm.PHYSICAL, spec["seal"]["name"], now, ACTOR
            )
            latitude, longitude = spec["position"]
            _, codes[spec["id"]] = machines.register(
                session,
                machine_id=spec["id"],
                organisation_code=spec["organisation"],
                name=spec["name"],
                slots=[(1, seal.id)],
                latitude=latitude,
                longitude=longitude,
                radius_m=spec["radius_m"],
                custodians=spec["custodians"],
                now=now,
                actor=ACTOR,
                code_hours=hours,
            )
        elif machine.status == machines.MachineStatus.REGISTERED:
            codes[spec["id"]] = machines.new_enrolment_code(session, machine.id, now, ACTOR, hours)
    return codes


def demo(ctx: typer.Context) -> None:
    """Load the demo dataset and print its sign-ins."""
    hours = state(ctx).settings().machines.enrolment_code_hours
    with state(ctx).session() as session:
        data = load(session, code_hours=hours)
    typer.echo("Demo sign-ins (username / password), for http://127.0.0.1:8000 and POST /api/v1/auth/token:")
    for person in data["users"]:
        posts = ", ".join(f"{post}@{org}" for post, org in person["posts"]) or f"resident of {person['home']}"
        typer.echo(f"  {person['username']} / {person['password']}    {person['name']} ({posts})")
    if data["enrolment_codes"]:
        typer.echo("Seal machines waiting for enrolment (sealgate terminal ... --enrol CODE), one code each, once:")
        for machine_id, code in data["enrolment_codes"].items():
            typer.echo(f"  {machine_id}  {code}")
