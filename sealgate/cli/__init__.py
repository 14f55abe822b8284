"""The ``sealgate`` command: serve the API, manage people and organisations, load the demo, inspect settings.

Errors a user can fix end the command with one line on stderr (exit 2 for settings, 1 for refused input).

A command imports only its own module: the CA's and the verifier's modules pull in pyHanko and the PKCS#11
bindings, seconds of start-up that ``sealgate log integrate`` or ``sealgate db upgrade`` do not need.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from core.errors import ConfigError, DomainError
from sealgate.cli.state import CliState

# command name -> (module under sealgate.cli, attribute, whether it is a group of commands), in the help's order
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "serve": ("serve", "serve", False),
    "init": ("people", "init", False),
    "demo": ("demo", "demo", False),
    "witness": ("log_cmd", "witness", False),
    "verify": ("verify_cmd", "verify", False),
    "terminal": ("terminal_cmd", "terminal", False),
    "device-sim": ("device_cmd", "device_sim", False),
    "backup": ("backup_cmd", "backup", False),
    "restore": ("backup_cmd", "restore", False),
    "users": ("people", "users", True),
    "orgs": ("people", "orgs", True),
    "config": ("config_cmd", "app", True),
    "db": ("db_cmd", "app", True),
    "log": ("log_cmd", "app", True),
    "catalog": ("catalog_cmd", "app", True),
    "outbox": ("outbox_cmd", "app", True),
    "ca": ("ca_cmd", "app", True),
}


def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file (default: $SEALGATE_CONFIG).")
    ] = None,
) -> None:
    ctx.obj = CliState(config)


def build(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The command line with the commands ``names``."""
    built = typer.Typer(
        name="sealgate",
        help="The seal office of a township: approved seals, one verifiable log.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    built.callback()(root)
    for name in names:
        module, attribute, group = COMMANDS[name]
        target = getattr(importlib.import_module(f"sealgate.cli.{module}"), attribute)
        if group:
            built.add_typer(target, name=name)
        else:
            built.command(name)(target)
    return built


def named(argv: Sequence[str]) -> list[str]:
    """The one command ``argv`` names; every command when it names none it knows, so help and typos list all."""
    args = iter(argv)
    for arg in args:
        if arg == "--config":
            next(args, None)
        elif not arg.startswith("--config="):
            return [arg] if arg in COMMANDS else list(COMMANDS)
    return list(COMMANDS)


def __getattr__(name: str) -> typer.Typer:
    """``app``: the whole command line, for tests that invoke it in-process."""
    if name == "app":
        return build()
    raise AttributeError(name)


def main() -> None:
    try:
        build(named(sys.argv[1:]))()
    except ConfigError as exc:
        print(f"sealgate: {exc}", file=sys.stderr)
        sys.exit(2)
    except DomainError as exc:
        print(f"sealgate: {exc.detail}", file=sys.stderr)
        sys.exit(1)
