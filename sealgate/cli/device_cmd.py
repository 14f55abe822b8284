"""``sealgate device-sim``: a seal machine emulator on a pseudo-terminal, for the terminal agent, demos and tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from physical_seal.device.sim import Options, serve
from physical_seal.device.store import OtherMachine
from physical_seal.protocol.link import Faults

YAZHOU = "18.3500,109.1700"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # as the signed structures spell machines and custodians


def device_sim(
    machine: Annotated[str, typer.Option("--machine", help="The machine's id (its certificate's serialNumber).")],
    state: Annotated[Path, typer.Option("--state", help="Directory of the machine's persistent state.")],
    position: Annotated[str, typer.Option("--position", help="Where the machine stands: LAT,LON in degrees.")] = YAZHOU,
    custodian: Annotated[
        list[str], typer.Option("--custodian", help="A custodian who may log in, USER:PIN; repeatable.")
    ] = [],  # noqa: B006
    sheets: Annotated[
        Path | None, typer.Option("--sheets", help="Directory of <sha256 hex>.pdf to show in stamp photos.")
    ] = None,
    drop: Annotated[float, typer.Option("--drop", help="Probability that the line loses a frame (either way).")] = 0.0,
    corrupt: Annotated[
        float, typer.Option("--corrupt", help="Probability that the line garbles a frame (either way).")
    ] = 0.0,
    duplicate: Annotated[
        float, typer.Option("--duplicate", help="Probability that the line delivers a frame twice.")
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the line faults.")] = None,
    power_loss_at: Annotated[
        int | None, typer.Option("--power-loss-at", help="The N-th stamp of this run loses power mid-stamp.", min=1)
    ] = None,
    clock_drift: Annotated[float, typer.Option("--clock-drift", help="Seconds the machine's clock is off.")] = 0.0,
    reset_tamper: Annotated[
        bool, typer.Option("--reset-tamper", help="A custodian inspected the opened case: stamping may resume.")
    ] = False,
) -> None:
    """Emulate a seal machine: print its serial device's path, then serve the machine protocol on it."""
    try:
        faults = Faults(drop, corrupt, duplicate, seed) if drop or corrupt or duplicate else None
        options = Options(
            machine=_name(machine, "--machine"),
            state=state,
            position=_position(position),
            custodians=dict(_custodian(c) for c in custodian),
            sheets=sheets,
            faults=faults,
            power_loss_at=power_loss_at,
            clock_drift=clock_drift,
            reset_tamper=reset_tamper,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        serve(options)
    except OtherMachine as exc:
        print(f"sealgate: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None


def _name(value: str, option: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{option} {value!r}: letters, digits, '.', '_' and '-', at most 64")
    return value


def _position(value: str) -> tuple[int, int]:
    """Degrees as the protocol's integers of 10⁻⁷ degree."""
    try:
        lat, lon = (float(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"--position {value!r}: LAT,LON in degrees") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"--position {value!r} is not on Earth")
    return round(lat * 1e7), round(lon * 1e7)


def _custodian(value: str) -> tuple[str, str]:
    user, sep, pin = value.partition(":")
    if not sep or not pin:
        raise ValueError(f"--custodian {value!r}: USER:PIN")
    return _name(user, "--custodian"), pin
