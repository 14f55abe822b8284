"""``sealgate demo``: Yazhou district with 水南村, 北岭村 and 城西村, their groups, one user per post, residents
with a profile, the shipped matters catalogue, a seal machine per village holding its official seal, each
village's electronic seals (official, finance, contract) with their certificates, and the district agriculture
bureau (yazhou.agri) receiving its deliveries in the service's hosted inbox.

Loading is idempotent: what exists is kept, what is missing is added, and the demo sign-ins are printed again.
What administrators changed since is kept too: the shipped catalogue is loaded only while no catalogue is in
force, a bureau's endpoint only while it has none, and an electronic seal only while its organisation has none
of that kind. An electronic seal comes with its certificate, issued directly by the CA as an operator command
does (``ca init`` must have run): while the CA is not initialised the demo adds no electronic seal, says so, and
adds them at its next run.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from importlib import resources
from typing import Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from ca import hierarchy, seals
from ca.models import Seal
from ca.seals import SealForm
from core.clock import SystemClock
from core.keystore import Keystore
from core.runtime import Runtime
from core.settings import Settings
from identity import directory
from identity.models import Organisation, User
from identity.posts import OrgKind, Post
from physical_seal import machines
from physical_seal.models import Machine
from sealgate import MIGRATIONS
from sealgate.cli.state import state
from workflow import catalogs, delivery, inbox
from workflow.models import CatalogVersion, DeliveryEndpoint

ACTOR = "cli:demo"


def dataset() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("sealgate.cli").joinpath("yazhou.json").read_text("utf-8"))
    return data


@dataclass(frozen=True)
class Issued:
    """An electronic seal of the demo and its certificate in force."""

    organisation: str
    kind: str
    name: str
    serial: str
    not_after: dt.datetime


def load(
    session: Session,
    now: dt.datetime | None = None,
    *,
    code_hours: float = 72.0,
    settings: Settings | None = None,
    keystore: Keystore | None = None,
) -> dict[str, Any]:
    """Add what is missing of the demo; commits. The bureau's endpoint needs the service's ``settings`` (its
    public URL), the electronic seals also the ``keystore`` of an initialised CA."""
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
    if session.scalar(select(CatalogVersion.id).limit(1)) is None:
        catalogs.load(session, catalogs.read(catalogs.SHIPPED), actor=ACTOR, now=now, note="the shipped catalogue")
    data["enrolment_codes"] = _machines(session, data["machines"], now, code_hours)
    data["certificates"] = None
    if settings is not None:
        _endpoints(session, data["bureaus"], settings.public_url, now)
        if keystore is not None:
            data["certificates"] = _electronic_seals(session, data["electronic_seals"], keystore, settings, now)
    session.commit()
    return data


def _endpoints(session: Session, bureaus: list[dict[str, str]], public_url: str, now: dt.datetime) -> None:
    """The catalogue's bureaus the demo has an organisation for receive in the service's hosted inbox, signed
    with a secret made here; an endpoint an administrator set is kept."""
    for spec in bureaus:
        if session.get(DeliveryEndpoint, spec["bureau"]) is None:
            delivery.set_endpoint(
                session,
                spec["bureau"],
                url=inbox.address(public_url, spec["organisation"]),
                key_id=spec["key_id"],
                secret=secrets.token_urlsafe(32),
                now=now,
                organisation=spec["organisation"],
            )


def _electronic_seals(
    session: Session, specs: list[dict[str, Any]], keystore: Keystore, settings: Settings, now: dt.datetime
) -> list[Issued] | None:
    """Each village's electronic seals that it has no seal of that kind for yet, each with its certificate; the
    certificates in force of the demo's seals, or None while the CA is not initialised."""
    try:
        authority = hierarchy.load(session, keystore)
    except hierarchy.NotInitialised:
        return None
    issued: list[Issued] = []
    for spec in specs:
        organisation = directory.organisation(session, spec["organisation"])
        for kind in spec["kinds"]:
            seal = session.scalar(
                select(Seal)
                .where(
                    Seal.organisation_id == organisation.id,
                    Seal.kind == kind,
                    Seal.form.in_([str(SealForm.ELECTRONIC), str(SealForm.BOTH)]),
                )
                .order_by(Seal.id)
                .limit(1)
            )
            if seal is None:
                seals.check_fits(session, organisation, kind, spec["name"])
                seal = seals.add(session, organisation.code, kind, SealForm.ELECTRONIC, spec["name"], now, ACTOR)
                seals.issue(session, keystore, authority, settings, seal, now, ACTOR)
            certificate = seals.current_certificate(session, seal.id)
            if certificate is not None:
                issued.append(Issued(organisation.code, kind, seal.name, certificate.serial, certificate.not_after))
    return issued


def _machines(session: Session, machines_: list[dict[str, Any]], now: dt.datetime, hours: float) -> dict[str, str]:
    """One seal machine per village, holding its official seal, kept by its two custodians; a fresh enrolment
    code for each machine not yet enrolled (codes are kept only as hashes, so an old one cannot be printed)."""
    codes: dict[str, str] = {}
    for spec in machines_:
        machine = session.get(Machine, spec["id"])
        if machine is None:
            organisation = directory.organisation(session, spec["organisation"])
            seals.check_fits(session, organisation, spec["seal"]["kind"], spec["seal"]["name"])
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
    """Load the demo dataset and print its sign-ins (after ``sealgate ca init``, for its electronic seals)."""
    settings = state(ctx).settings()
    runtime = Runtime.open(settings, migrations=MIGRATIONS)
    try:
        with runtime.sessions() as session:
            data = load(
                session,
                code_hours=settings.machines.enrolment_code_hours,
                settings=settings,
                keystore=runtime.keystore,
            )
    finally:
        runtime.close()
    typer.echo(f"Demo sign-ins (username / password), for {settings.public_url} and POST /api/v1/auth/token:")
    for person in data["users"]:
        posts = ", ".join(f"{post}@{org}" for post, org in person["posts"]) or f"resident of {person['home']}"
        typer.echo(f"  {person['username']} / {person['password']}    {person['name']} ({posts})")
    if data["certificates"] is None:
        typer.echo("The CA is not initialised: no electronic seals yet (run sealgate ca init, then sealgate demo).")
    else:
        typer.echo("Electronic seals and their certificates:")
        for seal in data["certificates"]:
            until = f"{seal.not_after:%Y-%m-%d}"
            typer.echo(f"  {seal.organisation} {seal.kind}  {seal.name}  certificate {seal.serial} until {until}")
    for spec in data["bureaus"]:
        url = inbox.address(settings.public_url, spec["organisation"])
        typer.echo(f"Bureau {spec['bureau']} ({spec['organisation']}) receives its deliveries at {url}")
    if data["enrolment_codes"]:
        typer.echo("Seal machines waiting for enrolment (sealgate terminal ... --enrol CODE), one code each, once:")
        for machine_id, code in data["enrolment_codes"].items():
            typer.echo(f"  {machine_id}  {code}")
