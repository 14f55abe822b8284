"""Sealed requests per second through the path users get: two `sealgate serve` processes on one PostgreSQL
database, at the shipped default configuration, driven over HTTP.

The demo is loaded after ``sealgate ca init``. The servers have a ``var/`` directory each and share the
database, one blob directory and one SoftHSM2 token directory (standing in for a network HSM). A resident of
水南村 submits the winter-vegetable subsidy, each server taking every other request (the service renders its
document); the group leader, the village secretary and the seal administrator approve its three levels; the
servers' executors seal it (B-LTA with the visible seal and QR code, the DSS, the document timestamp, the log
entry, the outbox) until the request reads ``completed``; the outboxes deliver each result to the bureau's
hosted inbox on the first server, the demo's public URL, meanwhile. Each completion is timed by the
``finished_at`` the server committed, read from the database, on the same clock as the final approvals' answers.

The baseline, in the same run once the servers have stopped: pyHanko sealing the same rendered document in this
process at its best configuration, for the same output: PAdES B-LTA with a visible QR stamp, the signature
timestamp from the service's own TSA (in process, as the service calls it), the OCSP responses and CRLs the
service embeds given up front (no fetching), a document timestamp, and ``bytes_reserved`` set.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import Engine, create_engine, func, select

from api.deps import CertificateAuthority
from bench.approvals import _wait
from bench.ledger import _drop, _fresh_postgres
from bench.ports import free_port
from bench.report import Section, median_rates
from bench.shipped import as_shipped
from ca import tsa as tsa_
from ca.models import Seal
from ca.ocsp import Status
from ca.seals import current_certificate
from ca.tsa import TimeStampAuthority
from core.keystore.devtoken import find_softhsm_module
from core.runtime import Runtime
from core.settings import load_settings
from signer.ltv import RevocationData
from signer.sealing import Office
from workflow.models import BureauDelivery, SealRequest

ROOT = Path(__file__).resolve().parents[1]
GOAL_RATE, GOAL_SPEEDUP, GOAL_P99 = 200.0, 10.0, 1.0
POLL = 0.1  # seconds between looks at the completed requests in the database
DELIVERY_WAIT = 120.0  # seconds after the last completion the bench waits for every result to reach the inbox
CLIENTS = 8  # concurrent HTTP clients while submitting and approving
APPROVERS = ("sn.g1.leader", "sn.secretary", "sn.sealadmin")  # levels 1, 2 and 3
SUBSIDY = {
    "matter": "agri.winter-vegetable-subsidy",
    "organisation": "yazhou.shuinan",
    "seal": "village_official",
    "seal_form": "electronic",
    "copies": 1,
    "place": "",
    "purpose": "申请2026年冬季瓜菜种植补贴",
    "form": {"phone": "13876543210", "crop": "辣椒", "cycles": 2, "area": 3.5, "location": "水南村东洋"},
}


@dataclass(frozen=True)
class Flow:
    count: int
    submit_s: float
    approve_s: float  # levels 1 and 2
    sealing_s: float  # first final approval to last completion
    latencies: list[float]
    servers_cpu_s: float  # CPU time of both servers from the first final approval to the last completion
    postgres_cpu_s: float  # of every PostgreSQL process over the same span
    received: int  # results the bureau's hosted inbox had received by the last completion
    delivered_s: float | None  # first final approval to the inbox holding every result; None: not within the wait

    @property
    def rate(self) -> float:
        return self.count / self.sealing_s

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(quick: bool = False) -> Section:
    title = "Sealed requests end to end (`bench/flow.py`)"
    if find_softhsm_module() is None:
        return Section(title, "SoftHSM2 is not installed: not measured.\n")
    fresh = _fresh_postgres()
    if fresh is None:
        return Section(title, "No PostgreSQL reachable: not measured.\n")
    count = 60 if quick else 400
    seconds, rounds = (1.0, 3) if quick else (3.0, 3)
    admin_url, url = fresh
    load = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            ports = [free_port(), free_port()]
            env = _environments(base, url, f"http://127.0.0.1:{ports[0]}")
            _run_cli(env[0], "ca", "init")
            _run_cli(env[0], "demo")
            flow = _serve_and_drive(env, url, count, ports)
            print(f"bench: flow: {flow.rate:.1f} sealed/s, p99 {flow.percentile(0.99):.2f} s", flush=True)
            baseline, seal_level = _baseline(env[0], url, seconds, rounds)
    finally:
        _drop(admin_url, url)
    return Section(title, _body(flow, baseline, seal_level, load, quick))


def _environments(base: Path, url: str, public_url: str | None = None) -> list[dict[str, str]]:
    """Two servers' environments: their own var/, the shared database, blob directory and token, and the public
    URL if given (the bench gives the first server's, where the demo's bureau receives each result in its hosted
    inbox)."""
    module = find_softhsm_module()
    token = base / "var0" / "softhsm"
    common = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")},
        "SEALGATE_DATABASE__URL": url,
        "SEALGATE_BLOBS__PATH": str(base / "blobs"),
        **({"SEALGATE_PUBLIC_URL": public_url} if public_url else {}),
        "SEALGATE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    first = {**common, "SEALGATE_VAR_DIR": str(base / "var0")}
    # The second server opens the first one's development token as an operator names a network HSM: module,
    # token directory (SoftHSM2's configuration) and PIN file.
    second = {
        **common,
        "SEALGATE_VAR_DIR": str(base / "var1"),
        "SEALGATE_KEYSTORE__MODULE": str(module),
        "SEALGATE_KEYSTORE__PIN_FILE": str(token / "sealgate.pin"),
        "SOFTHSM2_CONF": str(token / "softhsm2.conf"),
    }
    return [first, second]


def _run_cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "sealgate", *args], env=env, check=True, capture_output=True)


def _serve_and_drive(env: list[dict[str, str]], url: str, count: int, ports: list[int]) -> Flow:
    servers: list[subprocess.Popen[bytes]] = []
    try:
        bases = []
        for environment, port in zip(env, ports, strict=True):
            command = [sys.executable, "-m", "sealgate", "serve", "--port", str(port)]
            servers.append(
                subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            bases.append(f"http://127.0.0.1:{port}")
        _wait(bases)
        return _drive(bases, url, count, [server.pid for server in servers])
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=60)


def _drive(bases: list[str], url: str, count: int, pids: list[int]) -> Flow:
    clients = [httpx.Client(base_url=base, timeout=60) for base in bases]
    try:
        tokens = {name: _token(clients[0], name) for name in ("sn.resident", *APPROVERS)}
        pool = ThreadPoolExecutor(CLIENTS)

        def call(n: int, who: str, path: str, body: dict[str, object]) -> float:
            answer = clients[n % 2].post(path, json=body, headers=tokens[who])
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"POST {path} as {who}: {answer.status_code} {answer.text[:300]}")
            return time.time()  # the servers' clock too: completions are read from the database

        def decide(level: int, who: str) -> list[float]:
            body: dict[str, object] = {"decision": "approve", "level": level}
            return list(pool.map(lambda n: call(n, who, f"/api/v1/requests/{ids[n]}/decisions", body), range(count)))

        started = time.time()
        ids = [
            int(answer.json()["id"])
            for answer in pool.map(
                lambda n: clients[n % 2].post("/api/v1/requests", json=SUBSIDY, headers=tokens["sn.resident"]),
                range(count),
            )
            if answer.status_code == 201 or _refused(answer)
        ]
        submitted = time.time()
        for level, who in enumerate(APPROVERS[:2], start=1):
            decide(level, who)
        approved = time.time()
        completed: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(url, set(ids), completed, stop))
        cpu_before = _cpu(pids), _cpu(_postgres_pids())
        watcher.start()
        final_at = dict(zip(ids, decide(3, APPROVERS[2]), strict=True))
        pool.shutdown()
        watcher.join(timeout=600)
        cpu_after = _cpu(pids), _cpu(_postgres_pids())
        received = _received(url)
        stop.set()
        all_received = _all_received(url, count)
        if len(completed) < count:
            raise RuntimeError(f"only {len(completed)} of {count} requests completed in 10 minutes")
        for client in clients:  # each server hands out a sealed document, whichever server sealed it
            sealed = client.get(f"/api/v1/requests/{ids[-1]}/document", headers=tokens["sn.resident"])
            sealed.raise_for_status()
            _check(sealed.content)
        first = min(final_at.values())
        return Flow(
            count=count,
            submit_s=submitted - started,
            approve_s=approved - submitted,
            sealing_s=max(completed.values()) - first,
            latencies=[max(0.0, completed[i] - final_at[i]) for i in ids],
            servers_cpu_s=cpu_after[0] - cpu_before[0],
            postgres_cpu_s=cpu_after[1] - cpu_before[1],
            received=received,
            delivered_s=None if all_received is None else all_received - first,
        )
    finally:
        for client in clients:
            client.close()


def _cpu(pids: list[int]) -> float:
    """User and system CPU seconds of these processes so far (Linux /proc), the ones gone meanwhile left out."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _postgres_pids() -> list[int]:
    """PostgreSQL's processes on this machine: its backends come and go, so they are listed at each reading."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _refused(answer: httpx.Response) -> bool:
    raise RuntimeError(f"a submission was refused: {answer.status_code} {answer.text[:300]}")


def _token(client: httpx.Client, username: str) -> dict[str, str]:
    login = {"username": username, "password": "demo-" + username.replace(".", "-")}
    answer = client.post("/api/v1/auth/token", data=login)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _received(url: str) -> int:
    engine = create_engine(url)
    try:
        return _count_received(engine)
    finally:
        engine.dispose()


def _count_received(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(BureauDelivery)).scalar_one())


def _all_received(url: str, count: int) -> float | None:
    """When the bureau's hosted inbox held every result, looking every ``POLL`` seconds on one connection (a new
    one each time would make PostgreSQL start a backend each time, beside the servers); None if it did not within
    ``DELIVERY_WAIT`` seconds."""
    engine = create_engine(url)
    try:
        deadline = time.time() + DELIVERY_WAIT
        while time.time() < deadline:
            if _count_received(engine) >= count:
                return time.time()
            time.sleep(POLL)
        return None
    finally:
        engine.dispose()


def _watch(url: str, ids: set[int], completed: dict[int, float], stop: threading.Event) -> None:
    """Note each request's completion time as the server committed it (``finished_at``), looking in the database
    every ``POLL`` seconds: asking the servers' list instead would load them with the watching."""
    engine = create_engine(url)
    try:
        while len(completed) < len(ids) and not stop.is_set():
            with engine.connect() as conn:
                rows = conn.execute(
                    select(SealRequest.id, SealRequest.finished_at).where(SealRequest.state == "completed")
                ).all()
            for request_id, finished_at in rows:
                if request_id in ids and finished_at is not None:
                    completed.setdefault(request_id, finished_at.timestamp())
            time.sleep(POLL)
    finally:
        engine.dispose()


class LocalTimestamper(TimeStamper):
    """pyHanko's timestamper interface, answered by the service's TSA in process."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pyHanko leaves it unannotated
        self.tsa = tsa

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsp.TimeStampResp.load(tsa_.respond(self.tsa, req.dump()))


def _baseline(env: dict[str, str], url: str, seconds: float, rounds: int) -> tuple[float, str]:
    """pyHanko's sealings per second of the first request's rendered document, at B-LTA as the service seals."""
    var = Path(env["SEALGATE_VAR_DIR"])
    settings = load_settings(var_dir=var, database={"url": url}, blobs={"path": env["SEALGATE_BLOBS__PATH"]})
    runtime = Runtime.open(settings, migrations=None)
    try:
        office = CertificateAuthority().office(runtime)
        with runtime.readers() as session:
            request = session.scalars(select(SealRequest).order_by(SealRequest.id)).first()
            assert request is not None
            source = runtime.blobs.path(request.document_sha256).read_bytes()
            seal = session.scalars(
                select(Seal).where(
                    Seal.organisation_id == request.organisation_id,
                    Seal.kind == request.seal_kind,
                    Seal.form == request.seal_form,
                )
            ).one()
            certificate = current_certificate(session, seal.id)
            assert certificate is not None, "the demo's electronic seal has a certificate after ca init"
            sealer = office.sealer(seal, certificate)
            good = Status(None, None, True)  # nothing is revoked in the demo
            revocation = office.revocation_data(session, sealer, good, good, runtime.clock.now())
        sign = as_shipped(_pyhanko(runtime, office, sealer.key_label, sealer.template.certificate, source, revocation))
        _check(sign())
        rate = median_rates({"pyhanko": (sign, 1)}, seconds, rounds)["pyhanko"]
        return rate, settings.signer.level
    finally:
        runtime.close()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


def _pyhanko(
    runtime: Runtime, office: Office, label: str, seal: x509.Certificate, source: bytes, revocation: RevocationData
) -> Callable[[], bytes]:
    """pyHanko's PdfSigner at B-LTA, as documented, with everything it would fetch given up front."""
    chain = office.authority.chain
    signer = PKCS11Signer(
        runtime.keystore.token.open(),
        key_label=label,
        use_raw_mechanism=True,  # SoftHSM2 has no CKM_ECDSA_SHA256 (see bench/sign.py)
        signing_cert=_asn1(seal),
        ca_chain=[_asn1(c) for c in chain],
    )
    context = ValidationContext(
        trust_roots=[_asn1(chain[-1])],
        other_certs=[_asn1(c) for c in revocation.certificates],
        ocsps=[asn1_ocsp.OCSPResponse.load(r) for r in revocation.ocsp_responses],
        crls=[asn1_crl.CertificateList.load(c) for c in revocation.crls],
        allow_fetching=False,
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Seal1",
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        embed_validation_info=True,
        use_pades_lta=True,
        validation_context=context,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer,
        timestamper=LocalTimestamper(office.tsa),
        stamp_style=TextStampStyle(stamp_text="Sealed %(ts)s\n%(url)s"),
        new_field_spec=fields.SigFieldSpec("Seal1", on_page=0, box=(380, 60, 540, 160)),
    )
    reserved = _reserve(pdf_signer, source)

    def sign() -> bytes:
        return _sign_once(pdf_signer, source, reserved)

    return sign


def _sign_once(pdf_signer: signers.PdfSigner, source: bytes, reserved: int | None) -> bytes:
    out = pdf_signer.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(source), strict=False),
        bytes_reserved=reserved,
        appearance_text_params={"url": "https://sealgate.example/r/0123456789abcdef"},
    )
    return bytes(out.getvalue())


def _reserve(pdf_signer: signers.PdfSigner, source: bytes) -> int:
    """``bytes_reserved`` from one signature: pyHanko otherwise signs twice to learn the size (its dry run)."""
    data = _sign_once(pdf_signer, source, None)
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    size = len(asn1_cms.ContentInfo.load(bytes(signature.pkcs7_content)).dump())  # without the zero padding
    return 2 * (size + 512)  # in hex digits; room for the timestamp token's serial number and time to grow


def _check(data: bytes) -> None:
    """A B-LTA file, as the service's and the baseline's must be: a signature with its timestamp, a DSS with
    OCSP responses and CRLs, and a document timestamp."""
    reader = PdfFileReader(io.BytesIO(data))
    signatures = reader.embedded_signatures
    dss = reader.root["/DSS"] if "/DSS" in reader.root else None  # noqa: SIM401 (get would not dereference)
    kinds = [s.sig_object.get("/Type") for s in signatures]
    if (
        len(signatures) != 2
        or kinds[-1] != "/DocTimeStamp"
        or "signature_time_stamp_token" not in [a["type"].native for a in signatures[0].signer_info["unsigned_attrs"]]
        or dss is None
        or "/OCSPs" not in dss
        or "/CRLs" not in dss
    ):
        raise RuntimeError(f"a sealed file is not B-LTA: {kinds}, DSS {dss}")


def _body(flow: Flow, baseline: float, level: str, load: float, quick: bool) -> str:
    p50, p99 = flow.percentile(0.50), flow.percentile(0.99)
    speedup = flow.rate / baseline
    delivered = (
        f"not within {DELIVERY_WAIT:.0f} s of the last completion"
        if flow.delivered_s is None
        else f"{flow.delivered_s:.1f} s ({flow.count / flow.delivered_s:,.1f} results/s)"
    )

    def goal(ok: bool, missed: str) -> str:
        return "met" if ok else f"**not met**: {missed}"

    lines = [
        "Times the path users get, end to end, at the shipped default: two `sealgate serve` processes (their own",
        "`var/` each; one PostgreSQL database, one blob directory and one SoftHSM2 token shared), the demo after",
        f"`sealgate ca init`. {flow.count} requests of the winter-vegetable subsidy are submitted over HTTP by",
        f"{CLIENTS} clients (the service renders each document), approved at levels 1 and 2, then all given their",
        "final approval (level 3), after which the servers' executors seal each at the configured level",
        f"({level}: visible seal with QR code, signature timestamp, DSS with OCSP responses and CRLs, document",
        "timestamp), log it and complete it, and their outboxes deliver each result to the bureau's hosted inbox on",
        "the first server (the demo's public URL), as in the demo. **Sealed requests per second** counts from the",
        "first final approval to the last request's completion; the **latency** is from each final approval's",
        "answer to the request's `finished_at`, the moment the executor completed it, read from the database (not",
        "through the servers, which would load them with the watching).",
        f"The final approvals come as fast as {CLIENTS} clients send them, faster than the servers seal, so the",
        "latency includes the time a request waits behind the others; at 200 sealed requests/s that wait is short.",
        "",
        "| measurement | value | goal |",
        "|---|---:|---|",
        f"| sealed requests/s, final approval to completion | **{flow.rate:,.1f}** | at least {GOAL_RATE:.0f}: "
        f"{goal(flow.rate >= GOAL_RATE, f'{GOAL_RATE / flow.rate:.1f}x short')} |",
        f"| baseline: pyHanko B-LTA in one process (documents/s) | {baseline:,.1f} | |",
        f"| service over baseline | **{speedup:.2f}x** | at least {GOAL_SPEEDUP:.0f}x: "
        f"{goal(speedup >= GOAL_SPEEDUP, f'{GOAL_SPEEDUP / speedup:.1f}x short')} |",
        f"| latency, final approval to completed, p50 | {p50:.2f} s | |",
        f"| latency, final approval to completed, p99 | **{p99:.2f} s** | under {GOAL_P99:.0f} s: "
        f"{goal(p99 < GOAL_P99, f'{p99 / GOAL_P99:.1f}x over')} |",
        f"| CPU per sealed request: both servers (the final approval's request included) | "
        f"{flow.servers_cpu_s / flow.count * 1e3:.1f} ms | |",
        f"| CPU per sealed request: PostgreSQL | {flow.postgres_cpu_s / flow.count * 1e3:.1f} ms | |",
        f"| submissions/s (HTTP, rendering included) | {flow.count / flow.submit_s:,.1f} | |",
        f"| decisions/s at levels 1 and 2 | {2 * flow.count / flow.approve_s:,.1f} | |",
        f"| results received in the bureau's hosted inbox by the last completion | {flow.received} of {flow.count} | |",
        f"| every result received in the bureau's hosted inbox, from the first final approval | {delivered} | |",
        "",
        "The baseline seals the same rendered document after the servers have stopped: pyHanko's `PdfSigner` with",
        "a `PKCS11Signer` on the same token and seal key, a visible `TextStampStyle` stamp with the record's link",
        "(pyHanko's QR stamp needs `qrcode`, which is not installed; the text stamp is the cheaper of the two), the",
        "signature timestamp from the service's TSA in process, `embed_validation_info` with the OCSP responses,",
        "CRLs and certificates the service embeds given to its validation context (no fetching), `use_pades_lta`",
        "for the document timestamp, and `bytes_reserved` set from a first signature (so it signs once per",
        "document, not twice), with pyHanko's and asn1crypto's own parsing and name comparison (`bench/shipped.py`).",
        "It does not store, log, or change a request's state, which the service's figure includes. One sealed",
        "document is downloaded from each server and checked for the same parts (signature with its timestamp,",
        "DSS with OCSP responses and CRLs, document timestamp) as the baseline's. Other work on this shared",
        f"machine moves these figures: the load average was {load:.1f} when this run began.",
    ]
    if quick:
        lines.append(f"Quick run: {flow.count} requests and short baseline rounds.")
    return "\n".join(lines) + "\n"
