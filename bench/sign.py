"""Sealing and verifying PDFs, each beside its baseline in the same run, on one SoftHSM2 development token.

- One-page PDF, EC P-256 seal key, PAdES B-B: ``Sealer.seal`` (prepared once per seal) beside pyHanko's plain
  ``signers.sign_pdf`` with a ``PKCS11Signer`` on the same PDF, key and token (goal: 10x).
- RSA-3072 seal key: documents per second as a share of the keystore's raw signing rate (goal: 70%).
- A 200 MB PDF sealed to a file, beside ``sha256sum`` of it (goal: at most 3x), and the sealing's peak resident
  memory in a fresh process (goal: at most 200 MB).
- Verifications per second of the sealed one-page PDF: sealgate's verifier (in process, and isolated in a child
  as the service and CLI run it) beside pyHanko's ``validate_pdf_signature``.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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
from pyhanko_certvalidator import ValidationContext

from bench.report import Section, median_rates
from ca import profiles
from ca.profiles import Issuer, Urls
from ca.signing import TokenKey, token_key
from sealgate.keystore import KeyKind, Keystore, open_keystore
from sealgate.settings import Settings
from signer import isolation, validation
from signer.cms import SealTemplate
from signer.pades import Options, Sealer

GOAL_SPEEDUP, GOAL_RSA_SHARE, GOAL_HASH_RATIO, GOAL_RSS_MB = 10.0, 0.70, 3.0, 200
BIG_MB = 200
MESSAGE = b"a signed-attributes block of about the size sealing signs" * 2
URLS = Urls.under("http://127.0.0.1:8000")


def run(quick: bool = False) -> Section:
    seconds, rounds = (0.3, 3) if quick else (1.0, 5)
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        settings = Settings(var_dir=directory)
        keystore = open_keystore(settings)
        try:
            return _run(keystore, settings, directory, now, seconds, rounds, quick)
        finally:
            keystore.close()


def _run(
    keystore: Keystore, settings: Settings, directory: Path, now: dt.datetime, seconds: float, rounds: int, quick: bool
) -> Section:
    root_key, issuing_key = _key(keystore, "root"), _key(keystore, "issuing")
    root = profiles.root(root_key, "bench", now, 3650)
    issuing = profiles.issuing(issuing_key, "bench", Issuer(root_key, root), now, 3650)
    ca = Issuer(issuing_key, issuing)
    seal_key = _key(keystore, "seal")
    seal = profiles.seal(seal_key, "水南村村民委员会", "91350100M000100Y43", "公章", ca, URLS, now, 365)
    chain = (issuing, root)
    one_page = _one_page(directory / "one.pdf")
    sealer = Sealer(keystore, seal_key.label, SealTemplate(seal, chain))

    ours = lambda: sealer.seal(one_page, io.BytesIO(), Options(), now)  # noqa: E731
    baseline = _pyhanko(keystore, seal_key.label, seal, chain, one_page)
    ec = median_rates({"sealgate": (ours, 1), "pyhanko": (baseline, 1)}, seconds, rounds)

    rsa_label, rsa_seal = _rsa_seal(keystore, ca, now)
    rsa_sealer = Sealer(keystore, rsa_label, SealTemplate(rsa_seal, chain))
    rsa = median_rates(
        {
            "sealgate": (lambda: rsa_sealer.seal(one_page, io.BytesIO(), Options(), now), 1),
            "raw": (lambda: keystore.sign(rsa_label, MESSAGE), 1),
        },
        seconds,
        rounds,
    )

    sealed = io.BytesIO()
    sealer.seal(one_page, sealed, Options(), now)
    data = sealed.getvalue()
    verify = median_rates(
        {
            "sealgate": (lambda: validation.validate(data, trust=[root]), 1),
            "sealgate isolated": (lambda: isolation.verify(data, trust=[root]), 1),
            "pyhanko": (lambda: _pyhanko_validate(data, root), 1),
        },
        seconds,
        rounds,
    )
    big = _big(directory, sealer, now, 20 if quick else BIG_MB)
    return Section("Sealing and verifying PDFs", _body(ec, rsa, verify, big, quick))


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
    return label, profiles.seal(public, "水南村村民委员会", "91350100M000100Y43", "公章", ca, URLS, now, 365)


def _one_page(path: Path) -> Path:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    page = pdf.pages[0]
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 14 Tf 72 760 Td (Certificate of residence) Tj ET")
    pdf.save(path)
    return path


def _pyhanko(
    keystore: Keystore, label: str, seal: x509.Certificate, chain: tuple[x509.Certificate, ...], pdf: Path
) -> Callable[[], bytes]:
    """pyHanko's documented way: sign_pdf with a PKCS11Signer on a session of the same token."""
    # python-pkcs11 loads a module once per process, so the session is opened on the keystore's token object
    # (already logged in) rather than by open_pkcs11_session, which would load the module a second time.
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


def _pyhanko_validate(data: bytes, root: x509.Certificate) -> object:
    anchor = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[anchor], allow_fetching=False))


_BIG_CHILD = """
import datetime as dt, sys, time
from pathlib import Path
from sealgate.keystore import open_keystore
from sealgate.settings import Settings
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


def _big(directory: Path, sealer: Sealer, now: dt.datetime, megabytes: int) -> dict[str, float]:
    """Seal a large PDF in a fresh process, beside sha256sum of the file. The peak is the child's VmHWM:
    getrusage's ru_maxrss would carry over the parent's peak, which Linux keeps across fork and exec."""
    source = directory / "big.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    chunk = bytes(range(256)) * 4096  # 1 MB of incompressible-looking filler per stream
    for i in range(megabytes):
        pdf.pages[0].obj[f"/Filler{i}"] = pdf.make_stream(chunk)
    pdf.save(source, compress_streams=False)
    del pdf
    pem = directory / "chain.pem"
    pem.write_bytes(
        b"".join(c.public_bytes(Encoding.PEM) for c in (sealer.template.certificate, *sealer.template.chain))
    )
    subprocess.run(["sha256sum", str(source)], check=True, capture_output=True)  # the file in the page cache
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(source)], check=True, capture_output=True)
    hashing = time.perf_counter() - start
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _BIG_CHILD,
            str(directory),
            sealer.key_label,
            str(source),
            str(directory / "big-sealed.pdf"),
            str(pem),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, rss_kb = done.stdout.split()
    return {
        "size_mb": source.stat().st_size / 2**20,
        "hash_s": hashing,
        "seal_s": float(seconds),
        "rss_mb": int(rss_kb) / 1024,
    }


def _body(
    ec: dict[str, float], rsa: dict[str, float], verify: dict[str, float], big: dict[str, float], quick: bool
) -> str:
    speedup = ec["sealgate"] / ec["pyhanko"]
    share = rsa["sealgate"] / rsa["raw"]
    ratio = big["seal_s"] / big["hash_s"]
    lines = [
        "| case | sealgate | baseline | ratio | goal |",
        "|---|---|---|---|---|",
        f"| one-page PDF, P-256, B-B (documents/s) | {ec['sealgate']:,.0f} | pyHanko sign_pdf + PKCS11Signer "
        f"{ec['pyhanko']:,.1f} | **{speedup:.1f}x** | 10x {'met' if speedup >= GOAL_SPEEDUP else 'not met'} |",
        f"| one-page PDF, RSA-3072, B-B (documents/s) | {rsa['sealgate']:,.0f} | raw keystore signatures "
        f"{rsa['raw']:,.0f}/s | **{share:.0%}** | 70% {'met' if share >= GOAL_RSA_SHARE else 'not met'} |",
        f"| {big['size_mb']:.0f} MB PDF sealed (s) | {big['seal_s']:.2f} | sha256sum {big['hash_s']:.2f} s | "
        f"**{ratio:.1f}x** | 3x {'met' if ratio <= GOAL_HASH_RATIO else 'not met'} |",
        f"| peak resident memory of that sealing (MB) | {big['rss_mb']:.0f} | | | 200 MB "
        f"{'met' if big['rss_mb'] <= GOAL_RSS_MB else 'not met'} |",
        f"| verifications/s, one-page seal | {verify['sealgate']:,.1f} in process, "
        f"{verify['sealgate isolated']:,.1f} isolated | pyHanko validate_pdf_signature {verify['pyhanko']:,.1f} | "
        f"{verify['sealgate'] / verify['pyhanko']:.2f}x, {verify['sealgate isolated'] / verify['pyhanko']:.2f}x | |",
    ]
    note = (
        "\n\nOne thread each, SoftHSM2 development token, medians of alternating rounds. The pyHanko side gets the "
        "certificates directly (no token search) and an open session. sealgate's verifier does more than pyHanko's "
        "call: it also renders each signed revision against the final file and checks annotations and "
        "attachments; isolated, it also forks a child with time and memory limits, as the service and "
        "`sealgate verify` run it."
    )
    if quick:
        note += " Quick run: a 20 MB file instead of 200 MB."
    return "\n".join(lines) + note
