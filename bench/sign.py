"""Sealing and verifying PDFs, each beside its baseline in the same run, on one SoftHSM2 development token.

- One-page PDF, EC P-256 seal key, PAdES B-B: ``Sealer.seal`` (prepared once per seal) beside pyHanko's plain
  ``signers.sign_pdf`` with a ``PKCS11Signer`` on the same PDF, key and token (goal: 10x).
- RSA-3072 seal key: documents per second as a share of the keystore's raw signing rate (goal: 70%).
- A 200 MB PDF sealed to a file, beside hashing it with SHA-256 through the same library (Python's ``hashlib``,
  OpenSSL, which uses the CPU's SHA instructions) in a fresh process (goal: at most 3x), and the sealing's peak resident
  memory in a fresh process (goal: at most 200 MB).
- Verifications per second of the sealed one-page PDF: ``signer.validation.validate``, in process and
  isolated in a child with time and memory limits by ``signer.isolation`` (as the service and CLI run it), beside
  pyHanko's ``validate_pdf_signature``.
- The same for the default sealed document, sealed by the seal office as the service seals by default: PAdES
  B-LTA, the visible round seal with its QR code, the signature timestamp, the DSS update with the OCSP responses,
  CRLs and certificates, and the document timestamp (goal: 25 verifications per second on one core, isolated).

Every output is checked before it is timed (pyHanko finds each seal intact, valid and covering the whole file),
so that a fast path that made a broken file would fail the benchmark rather than win it.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pikepdf
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from api.deps import CertificateAuthority
from bench import MIGRATIONS, documents
from bench.report import Section, median_rates
from bench.shipped import as_shipped
from ca import hierarchy, profiles, seals
from ca.profiles import Issuer, Urls
from ca.signing import TokenKey, token_key
from core import db
from core.keystore import KeyKind, Keystore, open_keystore
from core.runtime import Runtime, open_blobs, open_database
from core.settings import CaSettings, Settings, load_settings
from identity.models import Organisation
from signer import isolation, validation
from signer.cms import SealTemplate
from signer.pades import Options, Sealer
from signer.sealing import Request

GOAL_SPEEDUP, GOAL_RSA_SHARE, GOAL_HASH_RATIO, GOAL_RSS_MB = 10.0, 0.70, 3.0, 200
USCC = "54460205C50121019D"  # the village committee's unified social credit code, in the demo's form
GOAL_VERIFY = 25.0  # verifications per second of the default sealed document, isolated, on one core
PRIMING_S = 3.0  # seconds the fork server is given to verify its sample and fork a spare from it
BIG_MB = 200
MESSAGE = b"a signed-attributes block of about the size sealing signs" * 2
URLS = Urls.under("http://127.0.0.1:8000")
POLICY = CaSettings().policy_oid


def run(quick: bool = False) -> Section:
    seconds, rounds = (0.3, 3) if quick else (1.0, 5)
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        keystore = open_keystore(Settings(var_dir=directory))
        try:
            return _run(keystore, directory, now, seconds, rounds, quick)
        finally:
            keystore.close()


def _run(keystore: Keystore, directory: Path, now: dt.datetime, seconds: float, rounds: int, quick: bool) -> Section:
    root_key, issuing_key = _key(keystore, "root"), _key(keystore, "issuing")
    root = profiles.root(root_key, "bench", now, 3650)
    issuing = profiles.issuing(issuing_key, "bench", Issuer(root_key, root), URLS, now, 3650, policy=POLICY)
    ca = Issuer(issuing_key, issuing)
    seal_key = _key(keystore, "seal")
    seal = profiles.seal(seal_key, "水南村村民委员会", "91350100M000100Y43", "公章", ca, URLS, now, 365, policy=POLICY)
    chain = (issuing, root)
    one_page = directory / "one.pdf"
    one_page.write_bytes(documents.one_page())
    sealer = Sealer(keystore, seal_key.label, SealTemplate(seal, chain))

    ours = lambda: sealer.seal(one_page, io.BytesIO(), Options(), now)  # noqa: E731
    baseline = as_shipped(_pyhanko(keystore, seal_key.label, seal, chain, one_page))
    _check(_sealed(sealer, one_page, now), root)
    _check(baseline(), root)
    ec = median_rates({"sealgate": (ours, 1), "pyhanko": (baseline, 1)}, seconds, rounds)

    rsa_label, rsa_seal = _rsa_seal(keystore, ca, now)
    rsa_sealer = Sealer(keystore, rsa_label, SealTemplate(rsa_seal, chain))
    _check(_sealed(rsa_sealer, one_page, now), root)
    rsa = median_rates(
        {
            "sealgate": (lambda: rsa_sealer.seal(one_page, io.BytesIO(), Options(), now), 1),
            "raw": (lambda: keystore.sign(rsa_label, MESSAGE), 1),
        },
        seconds,
        rounds,
    )

    data = _sealed(sealer, one_page, now)
    report = validation.validate(data, trust=[root])
    isolated = isolation.verify(data, trust=[root])
    if [(s.intact, s.valid) for s in report.signatures] != [(True, True)] or isolated.indication != report.indication:
        raise RuntimeError(f"the verifier does not find the seal intact and valid: {report}, isolated {isolated}")
    verifying = median_rates(
        {
            "sealgate": (lambda: validation.validate(data, trust=[root]), 1),
            "sealgate isolated": (lambda: isolation.verify(data, trust=[root]), 1),
            "pyhanko": (as_shipped(lambda: _pyhanko_validate(data, root)), 1),
        },
        seconds,
        rounds,
    )
    verdict = report.indication + (f"/{report.sub_indication}" if report.sub_indication else "")
    default = _verifying_the_default_seal(keystore, directory, seconds, rounds)
    big = _big(directory, sealer, root, 20 if quick else BIG_MB, 1 if quick else 2)
    return Section(
        "Sealing and verifying PDFs (`bench/sign.py`)", _body(ec, rsa, verifying, default, verdict, big, quick)
    )


def _verifying_the_default_seal(keystore: Keystore, directory: Path, seconds: float, rounds: int) -> dict[str, float]:
    """Verifications per second of the default sealed document, each as a whole: in process, isolated, and
    pyHanko's ``validate_pdf_signature`` of the seal with the DSS's revocation data (its own, lighter, check)."""
    sample, data, root = _default_sealed(keystore, directory / "service")
    # As the service's verifier is primed with the newest document it sealed: another one, not the one timed.
    isolation.prime(sample, trust=[root])
    isolation.verify(sample, trust=[root])
    time.sleep(PRIMING_S)
    report = validation.validate(data, trust=[root])
    isolated = isolation.verify(data, trust=[root])
    kinds = [(s.kind, s.pades_level) for s in report.signatures]
    if report.indication != validation.PASSED or kinds != [("signature", "B-LTA"), ("document_timestamp", None)]:
        raise RuntimeError(f"the default seal does not verify as B-LTA: {report.to_json()}")
    if isolated.to_json() | {"signatures": None} != report.to_json() | {"signatures": None}:
        raise RuntimeError(f"isolated, the default seal is judged otherwise: {isolated.to_json()}")
    anchor = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))

    def pyhanko() -> PdfSignatureStatus:
        reader = PdfFileReader(io.BytesIO(data))
        context = DocumentSecurityStore.read_dss(reader).as_validation_context(
            {"trust_roots": [anchor], "allow_fetching": False}
        )
        return validate_pdf_signature(reader.embedded_signatures[0], context)

    if not (status := pyhanko()).bottom_line:
        raise RuntimeError(f"pyHanko does not find the default seal valid: {status.summary()}")
    rates = median_rates(
        {
            "sealgate": (lambda: validation.validate(data, trust=[root]), 1),
            "sealgate isolated": (lambda: isolation.verify(data, trust=[root]), 1),
            "pyhanko": (as_shipped(pyhanko), 1),
        },
        seconds,
        rounds,
    )
    return {**rates, "kb": len(data) / 1024}


def _default_sealed(keystore: Keystore, var: Path) -> tuple[bytes, bytes, x509.Certificate]:
    """The one-page document sealed twice by the seal office at the service's defaults (B-LTA, the visible seal
    with its QR code at the bottom right of the page), on a CA initialised in a SQLite database of its own, now,
    as two requests. The keys are the bench's token's: a PKCS#11 module is initialised once per process."""
    settings = load_settings(var_dir=var)
    var.mkdir(parents=True, exist_ok=True)
    engine = open_database(settings, migrations=MIGRATIONS)
    blobs = open_blobs(settings, engine)
    runtime = Runtime(settings, engine, db.session_factory(engine), keystore, blobs)
    try:
        now = runtime.clock.now()
        with runtime.sessions() as session:
            hierarchy.initialise(session, runtime.keystore, settings, now, "bench")
            org = Organisation(
                code="sn", name="水南村民委员会", kind="village", uscc="54460205C50121019D", created_at=now
            )
            session.add(org)
            session.flush()
            seal = seals.add(session, "sn", "village_official", seals.SealForm.ELECTRONIC, org.name, now, "bench")
            authority = hierarchy.load(session, runtime.keystore)
            seals.issue(session, runtime.keystore, authority, settings, seal, now, "bench")
            session.commit()
            office = CertificateAuthority().office(runtime)
            document = runtime.blobs.put(documents.one_page()).sha256
            sealed = []
            for n in (1, 2):
                url = f"{settings.public_url}/r/{n}"
                order = Request(document_sha256=document, subject=f"request:{n}", actor="bench", qr_url=url)
                done = office.seal(session, seal, order, runtime.clock.now())
                session.commit()
                sealed.append(runtime.blobs.get(done.sealed_sha256))
            return sealed[0], sealed[1], office.authority.root
    finally:
        blobs.close()
        engine.dispose()


def _sealed(sealer: Sealer, pdf: Path, now: dt.datetime) -> bytes:
    out = io.BytesIO()
    sealer.seal(pdf, out, Options(), now)
    return out.getvalue()


def _check(data: bytes | Path, root: x509.Certificate) -> None:
    """A benchmark of a signer that made broken files would be worthless: each kind of output is validated once."""
    with data.open("rb") if isinstance(data, Path) else io.BytesIO(data) as f:
        status = _pyhanko_validate(f, root)
    whole = status.coverage is SignatureCoverageLevel.ENTIRE_FILE
    if not (status.intact and status.valid and status.trusted and whole):
        raise RuntimeError(f"a signed output does not validate: {status.summary()}, coverage {status.coverage}")


def _key(keystore: Keystore, name: str, kind: KeyKind = KeyKind.EC_P256) -> TokenKey:
    label = f"bench-{name}"
    keystore.generate(label, kind)
    return token_key(keystore, label)


def _rsa_seal(keystore: Keystore, ca: Issuer, now: dt.datetime) -> tuple[str, x509.Certificate]:
    """An RSA-3072 key in the token and a seal certificate for it (the CA makes EC seal keys itself)."""
    label = "bench-seal-rsa"
    keystore.generate(label, KeyKind.RSA_3072)
    public = keystore.info(label).public_key
    assert isinstance(public, rsa.RSAPublicKey)
    return label, profiles.seal(
        public, "水南村村民委员会", "91350100M000100Y43", "公章", ca, URLS, now, 365, policy=POLICY
    )


def _pyhanko(
    keystore: Keystore, label: str, seal: x509.Certificate, chain: tuple[x509.Certificate, ...], pdf: Path
) -> Callable[[], bytes]:
    """pyHanko's documented way: sign_pdf with a PKCS11Signer on a session of the same token.

    The session is opened on the keystore's token object, which is logged in already, not by pyHanko's
    open_pkcs11_session: a PKCS#11 module takes one C_Initialize per process, the keystore has made it, and a
    second one from python-pkcs11 fails (CKR_CRYPTOKI_ALREADY_INITIALIZED). Only the opening differs: in a
    process of its own, a session from open_pkcs11_session signs at the same rate.
    """
    session = keystore.token.open()
    signer = PKCS11Signer(
        session,
        key_label=label,
        use_raw_mechanism=True,  # SoftHSM2 has no CKM_ECDSA_SHA256: pyHanko hashes, the token signs the digest
        signing_cert=asn1_x509.Certificate.load(seal.public_bytes(Encoding.DER)),
        ca_chain=[asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain],
    )
    meta = signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES)
    source = pdf.read_bytes()

    def sign() -> bytes:
        out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(source)), meta, signer=signer)
        return bytes(out.getvalue())

    return sign


def _pyhanko_validate(data: bytes | BinaryIO, root: x509.Certificate) -> PdfSignatureStatus:
    anchor = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
    signature = PdfFileReader(io.BytesIO(data) if isinstance(data, bytes) else data).embedded_signatures[0]
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[anchor], allow_fetching=False))


_BIG_CHILD = """
import datetime as dt, sys, time
from pathlib import Path
from core.keystore import open_keystore
from core.settings import Settings
from signer.cms import SealTemplate
from signer.pades import Options, Sealer
from cryptography import x509
var, label, source, target = sys.argv[1:5]
seal, *chain = x509.load_pem_x509_certificates(Path(sys.argv[5]).read_bytes())
keystore = open_keystore(Settings(var_dir=Path(var)))
sealer = Sealer(keystore, label, SealTemplate(seal, tuple(chain)))
start = time.perf_counter()
with open(target, "wb") as out:
    sealer.seal(Path(source), out, Options(), dt.datetime.now(dt.UTC))
hwm = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(time.perf_counter() - start, hwm)
"""


# The baseline of the large file: its SHA-256 with the library the sealing hashes with, timed around the hashing
# alone, as the sealing is timed around ``Sealer.seal``.
_HASH_CHILD = """
import hashlib, sys, time
with open(sys.argv[1], "rb") as f:
    start = time.perf_counter()
    hashlib.file_digest(f, "sha256")
    print(time.perf_counter() - start)
"""


def _big(directory: Path, sealer: Sealer, root: x509.Certificate, megabytes: int, rounds: int) -> dict[str, float]:
    """Seal a large PDF in a fresh process, right after hashing the same file with SHA-256 in another, ``rounds`` times.

    The sealing's time is taken inside the child around ``Sealer.seal`` alone (not the interpreter's start);
    its peak is the child's VmHWM: getrusage's ru_maxrss would carry over the parent's peak, which Linux keeps
    across fork and exec."""
    source, target = directory / "big.pdf", directory / "big-sealed.pdf"
    _write_big(source, megabytes)
    pem = directory / "chain.pem"
    pem.write_bytes(
        b"".join(c.public_bytes(Encoding.PEM) for c in (sealer.template.certificate, *sealer.template.chain))
    )
    child = [sys.executable, "-c", _BIG_CHILD, str(directory), sealer.key_label, str(source), str(target), str(pem)]
    hasher = [sys.executable, "-c", _HASH_CHILD, str(source)]
    subprocess.run(hasher, check=True, capture_output=True)  # the file in the page cache
    hashing, sealing, peaks = [], [], []
    for _ in range(rounds):
        hashing.append(float(subprocess.run(hasher, check=True, capture_output=True, text=True).stdout))
        seconds, rss_kb = subprocess.run(child, check=True, capture_output=True, text=True).stdout.split()
        sealing.append(float(seconds))
        peaks.append(int(rss_kb) / 1024)
    _check(target, root)
    return {
        "size_mb": source.stat().st_size / 2**20,
        "hash_s": statistics.median(hashing),
        "seal_s": statistics.median(sealing),
        "rss_mb": max(peaks),
    }


def _write_big(path: Path, megabytes: int) -> None:
    """One page with ``megabytes`` unused 1 MB image XObjects (1024 x 1024 grey) in its resources, uncompressed,
    so the file is as large as its data; qpdf holds each stream once and writes them out in turn."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=documents.A4)
    pixels = bytes(range(256)) * 4096
    images = pikepdf.Dictionary()
    for i in range(megabytes):
        image = pdf.make_stream(pixels)
        image.Type, image.Subtype, image.ColorSpace = pikepdf.Name.XObject, pikepdf.Name.Image, pikepdf.Name.DeviceGray
        image.Width, image.Height, image.BitsPerComponent = 1024, 1024, 8
        images[f"/Im{i}"] = image
    pdf.pages[0].obj.Resources = pikepdf.Dictionary(XObject=images)
    pdf.save(path, compress_streams=False)
    pdf.close()


def _body(
    ec: dict[str, float],
    rsa: dict[str, float],
    verifying: dict[str, float],
    default: dict[str, float],
    verdict: str,
    big: dict[str, float],
    quick: bool,
) -> str:
    speedup = ec["sealgate"] / ec["pyhanko"]
    share = rsa["sealgate"] / rsa["raw"]
    ratio = big["seal_s"] / big["hash_s"]
    pyhanko = verifying["pyhanko"]
    missing = 1 - default["sealgate isolated"] / GOAL_VERIFY

    def met(ok: bool, short: str = "") -> str:
        return "met" if ok else f"**not met**{short}"

    lines = [
        "One thread each, the development SoftHSM2 token, medians of alternating rounds. The one-page rows seal at",
        "PAdES B-B with an invisible seal, the step alone (a micro-benchmark); the default seal's rows verify what",
        "the service seals by default and hands to a bureau.",
        "",
        "| case | sealgate | baseline | ratio | goal |",
        "|---|---:|---|---:|---|",
        f"| one-page PDF, P-256 (documents/s) | {ec['sealgate']:,.0f} | pyHanko sign_pdf + PKCS11Signer "
        f"{ec['pyhanko']:,.1f}/s | **{speedup:.1f}x** | at least {GOAL_SPEEDUP:.0f}x: {met(speedup >= GOAL_SPEEDUP)} |",
        f"| one-page PDF, RSA-3072 (documents/s) | {rsa['sealgate']:,.0f} | raw keystore signatures "
        f"{rsa['raw']:,.0f}/s | **{share:.0%}** | at least {GOAL_RSA_SHARE:.0%}: {met(share >= GOAL_RSA_SHARE)} |",
        f"| {big['size_mb']:.0f} MB PDF sealed to a file (s) | {big['seal_s']:.2f} | "
        f"SHA-256 of it {big['hash_s']:.2f} s "
        f"| **{ratio:.2f}x** | at most {GOAL_HASH_RATIO:.0f}x: {met(ratio <= GOAL_HASH_RATIO)} |",
        f"| peak resident memory of that sealing (MB) | {big['rss_mb']:.0f} | | | at most {GOAL_RSS_MB} MB: "
        f"{met(big['rss_mb'] <= GOAL_RSS_MB)} |",
        f"| verifications/s of the one-page seal, in process | {verifying['sealgate']:,.1f} | pyHanko "
        f"validate_pdf_signature {verifying['pyhanko']:,.1f}/s | {verifying['sealgate'] / pyhanko:.2f}x | |",
        f"| the same, isolated in a child (`signer.isolation`) | {verifying['sealgate isolated']:,.1f} | | "
        f"{verifying['sealgate isolated'] / pyhanko:.2f}x | |",
        f"| verifications/s of the default seal ({default['kb']:.0f} kB, B-LTA, visible seal with QR code, DSS, "
        f"document timestamp), in process | {default['sealgate']:,.1f} | pyHanko validate_pdf_signature with the DSS "
        f"{default['pyhanko']:,.1f}/s | {default['sealgate'] / default['pyhanko']:.2f}x | |",
        f"| the same, isolated in a child, primed as `POST /api/v1/verify` primes it | "
        f"{default['sealgate isolated']:,.1f} | | {default['sealgate isolated'] / default['pyhanko']:.2f}x | at least "
        f"{GOAL_VERIFY:.0f}/s: {met(default['sealgate isolated'] >= GOAL_VERIFY, f': {missing:.0%} short')} |",
        "",
        "pyHanko signs with `use_raw_mechanism=True` (SoftHSM2 2.6 offers CKM_ECDSA but not CKM_ECDSA_SHA256, so",
        "without it C_SignInit fails with CKR_MECHANISM_INVALID), on an open session, with the certificates given",
        "(no token search). The large file's sealing is timed inside a fresh process around `Sealer.seal`; its",
        "memory is that process's peak, imports included. sealgate's verifier does more than the pyHanko call: it",
        "judges the changes after each signed revision, renders each signed revision against the final file and",
        f"gives an ETSI indication, here {verdict}; isolated, each verification also forks a child with time",
        "and memory limits. For the default seal it verifies both the seal and the document timestamp, each",
        "signer's path with the DSS's revocation data (and the seal's path once more with revocation required),",
        "the difference analysis after the seal, qpdf's reading of the file against pyHanko's, and the signed",
        "revision against the final file (rendered only where the later revisions could draw); pyHanko's row",
        "validates the seal alone, with its timestamp and the same revocation data. pyHanko's rows run with",
        "pyHanko's and asn1crypto's own parsing, name comparison, extension parsing and signature checks, not the",
        "faster ones the verifier installs in this process (`bench/shipped.py`). The in-process rows verify the",
        "same file again and again in one process, which remembers between verifications the names, extensions",
        "and signature checks it has seen; an isolated child starts each time from the fork server's memory, which,",
        "as the service's verifier is, has been primed with another document the same office sealed",
        "(`signer.isolation.prime`; `sealgate verify`, one file per run, is not primed). The route, besides,",
        "hands the child the service's current CRLs and looks each signature up in the log; the row verifies with",
        "the root alone and the file's own DSS.",
    ]
    if quick:
        lines.append("Quick run: a 20 MB file, sealed once, instead of 200 MB twice.")
    return "\n".join(lines) + "\n"
