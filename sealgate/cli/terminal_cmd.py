"""``sealgate terminal``: the agent on the PC beside a seal machine.

Commands on stdin, one JSON line per command on stdout, logs on stderr, so a person or a program can drive it.
Exit status: 0 after ``quit``, end of input or SIGTERM; 1 when the port cannot be opened, the machine on it is
another one or enrolment failed.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import serial
import typer

from physical_seal.terminal import console
from physical_seal.terminal.agent import Agent, AgentError, connect
from physical_seal.terminal.journal import Journal
from physical_seal.terminal.line import SerialLine
from physical_seal.terminal.service import TerminalService


def terminal(
    port: Annotated[str, typer.Option("--port", help="The machine's serial device.")],
    server: Annotated[str, typer.Option("--server", help="The sealgate service's base URL.")],
    machine: Annotated[str, typer.Option("--machine", help="The machine's id.")],
    state: Annotated[
        Path | None, typer.Option("--state", help="The journal's directory (default: var/terminal-MACHINE).")
    ] = None,
    enrol: Annotated[str | None, typer.Option("--enrol", help="Enrol the machine with this one-time code.")] = None,
    poll: Annotated[float, typer.Option("--poll", min=0.1, help="Seconds between passes.")] = 2.0,
    baud: Annotated[int, typer.Option("--baud", help="The line's speed.")] = 115200,
) -> None:
    """Relay authorisations to a seal machine and its events and photos to the service; take custodians' commands."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    journal = Journal((state or Path("var") / f"terminal-{machine}") / "journal.sqlite")
    service = TerminalService(server, machine, journal.credential)
    try:
        line = SerialLine(port, baud)
        try:
            agent = Agent(machine, connect(line, journal), journal, service)
            if enrol is not None:
                agent.enrol(enrol)
            console.run(agent, sys.stdin, sys.stdout, poll=poll)
        finally:
            line.close()
    except (serial.SerialException, AgentError) as exc:
        print(f"sealgate: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        service.close()
        journal.close()
