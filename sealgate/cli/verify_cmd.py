"""``sealgate verify FILE``: a bureau's check of a sealed PDF, offline or by the service that sealed it.

Exit status: 0 TOTAL-PASSED, 1 TOTAL-FAILED, 2 INDETERMINATE, 3 the file (or the service) could not be checked.
A receipt given with ``--receipt`` that does not verify fails the check (1); one that cannot be checked for want
of ``--log-key`` leaves it INDETERMINATE (2).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography import x509

from ledger.note import NoteError, parse_vkey
from signer import verification
from signer.revocation import Sources
from signer.verification import exit_code

ERROR = 3


def verify(
    file: Annotated[Path, typer.Argument(help="The sealed PDF.")],
    receipt: Annotated[Path | None, typer.Option("--receipt", help="Its tlog-proof receipt from the service.")] = None,
    trust: Annotated[
        list[Path] | None, typer.Option("--trust", help="PEM file of trusted root certificates (repeatable).")
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Ask this service instead (it knows its log).")] = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="The log's signed-note verifier key, to check a receipt offline.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    online: Annotated[
        bool,
        typer.Option("--online", help="Fetch OCSP responses and CRLs from the certificates' own pointers."),
    ] = False,
) -> None:
    """Verify a sealed PDF: integrity, certificates, timestamps, changes after sealing, and the log."""
    try:
        data = file.read_bytes()
        extra = receipt.read_bytes() if receipt is not None else None
        if url is not None:
            report = _remote(url, data, extra)
        else:
            keys = [parse_vkey(log_key)] if log_key else []
            report = verification.bureau_report(
                data, trust=_anchors(trust or []), receipt=extra, log_keys=keys, revocation=Sources(online=online)
            )
    except (OSError, ValueError, NoteError, httpx.HTTPError, verification.UnverifiablePdf) as exc:
        message = exc.detail if isinstance(exc, verification.UnverifiablePdf) else str(exc)
        print(f"sealgate: {file}: {message}", file=sys.stderr)
        raise typer.Exit(ERROR) from None
    typer.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else _text(report))
    raise typer.Exit(exit_code(report["indication"]))


def _anchors(paths: list[Path]) -> list[x509.Certificate]:
    found = []
    for path in paths:
        found.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return found


def _remote(url: str, data: bytes, receipt: bytes | None) -> dict[str, Any]:
    files: dict[str, tuple[str, bytes, str]] = {"file": ("document.pdf", data, "application/pdf")}
    if receipt is not None:
        files["receipt"] = ("receipt.tlog-proof", receipt, "text/plain")
    answer = httpx.post(url.rstrip("/") + "/api/v1/verify", files=files, timeout=60)
    if answer.status_code == 422:
        raise ValueError(answer.json().get("detail", "the service cannot verify the file"))
    answer.raise_for_status()
    report: dict[str, Any] = answer.json()
    return report


def _text(report: dict[str, Any]) -> str:
    lines = [report["indication"] + (f" ({report['sub_indication']})" if report.get("sub_indication") else "")]
    brought = report.get("receipt")
    if brought is not None:
        verdict = "verified" if brought["verified"] else f"does not verify: {brought['problem']}"
        lines.append(f"  receipt {verdict}")
    lines += [f"  ! {problem}" for problem in report.get("problems", [])]
    for s in report["signatures"]:
        sub = f" ({s['sub_indication']})" if s.get("sub_indication") else ""
        lines.append(f"{s['field']} [{s['kind']}]: {s['indication']}{sub}")
        lines.append(f"  signer: {s['signer']}  level: {s['pades_level'] or '-'}  coverage: {s['coverage']}")
        lines.append(
            f"  intact: {s['intact']}  trusted: {s['trusted']}  timestamp: {(s['timestamp'] or {}).get('time')}"
        )
        lines += [f"  ! {problem}" for problem in s["problems"]]
        log = s.get("log")
        if log is not None:
            where = f"entry {log['index']} of {log['checkpoint_size']}" if log["included"] else "queued"
            lines.append(f"  log: {where}; " + ", ".join(step["type"] for step in log["chain"]))
        if "receipt" in s:
            check = s["receipt"]
            lines.append(f"  receipt: {'verified' if check['verified'] else check['problem']}")
    return "\n".join(lines)
