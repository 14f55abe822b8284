"""``sealgate log ...`` and ``sealgate witness``: run the integrator, audit, check receipts, witness a log."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn

from core import canonical_json, logs
from core.runtime import Runtime
from ledger.audit import RemoteError, Report, audit_database, audit_remote
from ledger.keys import witness_signer
from ledger.merkle import leaf_hash
from ledger.note import NoteError, Verifier, parse_vkey
from ledger.receipt import ReceiptError, parse_receipt, verify_receipt
from ledger.service import LogService
from sealgate import MIGRATIONS
from sealgate.cli.state import state

app = typer.Typer(help="The verifiable log: integrate, audit, verify receipts.", no_args_is_help=True)

VkeyOption = Annotated[list[str], typer.Option("--vkey", help="Verifier key of the log (C2SP vkey); repeatable.")]


def _verifiers(vkeys: list[str]) -> list[Verifier]:
    try:
        return [parse_vkey(v) for v in vkeys]
    except (NoteError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--vkey") from None


@app.command("key")
def key(ctx: typer.Context) -> None:
    """Print the log's origin and verifier key (creating the key in the token on first use)."""
    runtime = Runtime.open(state(ctx).settings(), migrations=MIGRATIONS)
    try:
        service = LogService.open(runtime)
        typer.echo(service.vkey)
    finally:
        runtime.close()


@app.command("integrate")
def integrate(
    ctx: typer.Context, once: Annotated[bool, typer.Option(help="Integrate what is pending, then exit.")] = False
) -> None:
    """Run the integrator in the foreground (a standby waits until the leader stops)."""
    settings = state(ctx).settings()
    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime.open(settings, migrations=MIGRATIONS)
    try:
        integrator = LogService.open(runtime).integrator
        if once:
            done = integrator.run_until_idle()
            typer.echo(f"log size {done.size}")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        integrator.run(stop)
    finally:
        runtime.close()


def _print_report(report: Report) -> None:
    typer.echo(
        f"log {report.origin}: {report.size} entries, root {report.root.hex()}, {report.checkpoints} checkpoints, "
        f"{report.tiles} tiles checked in {report.seconds:.2f} s ({report.rate:,.0f} entries/s)"
    )
    for problem in report.problems:
        typer.echo(f"PROBLEM: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("audit passed")


@app.command("audit")
def audit(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(help="Audit a remote service through its tiles alone.")] = None,
    vkey: VkeyOption = [],  # noqa: B006  (typer reads the default, never mutates it)
    state_file: Annotated[
        Path | None, typer.Option("--state", help="Where the last checkpoint seen is remembered.")
    ] = None,
) -> None:
    """Replay the whole log, recompute every checkpoint and tile, check it against the last one seen."""
    if url is not None:
        if not vkey:
            raise typer.BadParameter("a remote audit needs the log's --vkey", param_hint="--vkey")
        verifiers = _verifiers(vkey)
        remembered = state_file or _default_state(verifiers[0].name)
        try:
            with httpx.Client(timeout=30.0) as client:
                total = _remote_size(client, url)
                with typer.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
                    report = audit_remote(client, url, verifiers, state=remembered, progress=bar.update)
        except (RemoteError, NoteError, httpx.HTTPError, ValueError) as exc:
            typer.echo(f"PROBLEM: {exc}", err=True)
            raise typer.Exit(1) from None
        _print_report(report)
        return
    settings = state(ctx).settings()
    runtime = Runtime.open(settings, migrations=None)
    try:
        service = LogService.open(runtime)
        verifiers = _verifiers(vkey) if vkey else [parse_vkey(service.vkey)]
        remembered = state_file or settings.var_dir / "audit" / "checkpoint.json"
        from sealgate.cli.completeness import CHECKS

        with runtime.sessions() as session:
            total = service.reader.published(session).size
            with typer.progressbar(length=total, label="replaying", file=sys.stderr) as bar:
                report = audit_database(
                    session, service.origin, verifiers, state=remembered, checks=CHECKS, progress=bar.update
                )
    finally:
        runtime.close()
    _print_report(report)


def _remote_size(client: httpx.Client, url: str) -> int:
    text = client.get(url.rstrip("/") + "/log/checkpoint").text.split("\n")
    return int(text[1]) if len(text) > 1 and text[1].isdigit() else 0


def _default_state(origin: str) -> Path:
    return Path.home() / ".local/state/sealgate/audit" / (hashlib.sha256(origin.encode()).hexdigest() + ".json")


@app.command("verify-receipt")
def verify_receipt_command(
    receipt: Annotated[Path, typer.Argument(help="A .tlog-proof file.")],
    vkey: VkeyOption,
    entry: Annotated[Path | None, typer.Option(help="The logged entry as a JSON file ('-' for stdin).")] = None,
    witness: Annotated[list[str], typer.Option(help="Verifier key of a witness; repeatable.")] = [],  # noqa: B006
    quorum: Annotated[int, typer.Option(help="Cosignatures needed from those witnesses.")] = 0,
) -> None:
    """Check a receipt offline: the log's signature, witness cosignatures, and that it proves the entry."""
    try:
        parsed = parse_receipt(receipt.read_bytes())
        body = None
        if entry is not None:
            text = sys.stdin.read() if str(entry) == "-" else entry.read_text()
            body = canonical_json.dumps(json.loads(text))
        verified = verify_receipt(
            parsed,
            body,
            origin=None,
            log_verifiers=_verifiers(vkey),
            witness_verifiers=_verifiers(witness),
            witness_quorum=quorum,
        )
    except (ReceiptError, NoteError, ValueError, OSError) as exc:
        typer.echo(f"receipt does not verify: {exc}", err=True)
        raise typer.Exit(1) from None
    what = f"entry {parsed.index} (leaf {leaf_hash(body).hex()})" if body is not None else f"index {parsed.index}"
    cp = verified.checkpoint
    typer.echo(
        f"receipt verifies: {what} is in {cp.origin} at size {cp.size}, "
        f"{len(verified.cosignatures)} witness cosignature(s)"
        + ("" if body is not None else "; the entry itself was not given, so only the proof was checked")
    )


def witness(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="The witness's name, e.g. 'witness.example.org/w1'.")],
    log_vkey: Annotated[
        list[str], typer.Option("--log", help="Verifier key of a log this witness cosigns; repeatable.")
    ] = [],  # noqa: B006
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    print_vkey: Annotated[bool, typer.Option("--print-vkey", help="Print the cosignature key and exit.")] = False,
) -> None:
    """Serve C2SP tlog-witness add-checkpoint for the given logs, cosigning with a key in the keystore."""
    from api.witness import create_witness_app

    settings = state(ctx).settings()
    logs.configure(settings.log_level, settings.log_format)
    runtime = Runtime.open(settings, migrations=MIGRATIONS)
    try:
        cosigner = witness_signer(runtime.keystore, name, runtime.clock, runtime.engine)
        if print_vkey:
            typer.echo(cosigner.vkey)
            return
        verifiers = _verifiers(log_vkey)
        if not verifiers:
            raise typer.BadParameter("name at least one log to witness", param_hint="--log")
        by_origin: dict[str, list[Verifier]] = {}
        for verifier in verifiers:
            by_origin.setdefault(verifier.name, []).append(verifier)
        typer.echo(f"witness {name}: {cosigner.vkey}", err=True)
        app = create_witness_app(runtime, cosigner, by_origin)
        uvicorn.run(app, host=host or settings.host, port=port, log_config=None, access_log=False)
    finally:
        runtime.close()
