"""OCSP responses per second beside the raw signing rate of the responder's key, in the same run.

Each response is what ``POST /ca/ocsp`` makes, without HTTP: a fresh request with its own nonce is parsed, the
serial's status looked up (the responder's StatusBook, which reads the database, SQLite here, once a second),
and the response built and signed in the token. The baseline signs a message of the same size with the same key
through the keystore, and nothing else.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from bench import MIGRATIONS
from bench.report import Section, median_rates
from ca import hierarchy, profiles
from ca.hierarchy import record
from ca.ocsp import Responder, StatusBook
from ca.profiles import Role
from ca.signing import token_key
from core import db, migrate
from core.keystore import KeyKind, open_keystore
from core.settings import Settings

GOAL = 0.5
REQUESTS = 512
TBS_BYTES = 220  # about the size of a signed tbsResponseData with one response and a nonce


def run(quick: bool = False) -> Section:
    seconds = 0.3 if quick else 1.0
    rounds = 3 if quick else 7
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(var_dir=Path(tmp))
        keystore = open_keystore(settings)
        engine = db.create_db_engine(settings.database_url)
        try:
            migrate.upgrade(engine, MIGRATIONS)
            with db.session_factory(engine)() as session:
                hierarchy.initialise(session, keystore, settings, now, "bench")
                authority = hierarchy.load(session, keystore)
                label = "bench-seal"
                keystore.generate(label, KeyKind.EC_P256)
                cert = profiles.seal(
                    token_key(keystore, label),
                    "水南村村民委员会",
                    "54460205C50121019D",
                    "水南村村民委员会公章",
                    authority.issuing,
                    hierarchy.urls(settings),
                    now,
                    30,
                    policy=settings.ca.policy_oid,
                )
                record(session, cert, Role.SEAL, now, "bench", key_label=label, issuer_id=authority.issuing_id)
                session.commit()
            requests = itertools.cycle([_request(cert, authority.issuing.certificate) for _ in range(REQUESTS)])
            responder = Responder(authority, StatusBook(engine, authority.issuing_id, 1.0), dt.timedelta(hours=1))
            responder_label = authority.ocsp.key.label
            message = os.urandom(TBS_BYTES)

            def respond() -> bytes:
                return responder.respond(next(requests), now)

            status = ocsp.load_der_ocsp_response(respond())
            assert status.certificate_status is ocsp.OCSPCertStatus.GOOD
            rates = median_rates(
                {"sign": (lambda: keystore.sign(responder_label, message), 1), "ocsp": (respond, 1)}, seconds, rounds
            )
        finally:
            engine.dispose()
            keystore.close()
    ratio = rates["ocsp"] / rates["sign"]
    verdict = "met" if ratio >= GOAL else "NOT met"
    body = "\n".join(
        [
            "One thread, the development SoftHSM2 token, SQLite. Baseline: the responder key's raw signing rate",
            f"through the keystore. Goal: OCSP responses at least {GOAL:.0%} of it: {verdict} ({ratio:.0%}).\n",
            "| raw signatures/s (P-256) | OCSP responses/s (fresh, signed, nonce) | ratio |",
            "|---:|---:|---:|",
            f"| {rates['sign']:,.0f} | {rates['ocsp']:,.0f} | {ratio:.0%} |",
            "",
        ]
    )
    return Section("OCSP responder (`bench/ca.py`)", body)


def _request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303  (OpenSSL's default)
    builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
    return builder.build().public_bytes(Encoding.DER)
