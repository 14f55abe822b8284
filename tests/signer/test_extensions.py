"""A certificate's extensions read as asn1crypto's own parse reads them, whichever object of the same bytes was
parsed first; a certificate whose extensions cannot be parsed fails each time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from signer import extensions

START = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
PROPERTIES = ["critical_extensions"] + [name.removeprefix("_") for name in extensions._SET if name.endswith("_value")]


def _certificate(ca: bool, serial: int = 1, *, bare: bool = False) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "水南村村民委员会"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, str(serial)),
        ]
    )
    builder = x509.CertificateBuilder(name, name, key.public_key(), serial, START, START + dt.timedelta(days=30))
    if not bare:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False), critical=True)
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier("http://ca.example/crl")], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("1.2.156.1.2.3"), None)]),
                critical=False,
            )
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def _read(certificate: asn1_x509.Certificate) -> dict[str, Any]:
    found = {}
    for name in PROPERTIES:
        value = getattr(certificate, name)
        found[name] = value if isinstance(value, set) or value is None else value.native
    return found


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "_parsed", {})
    extensions.install()


@pytest.mark.parametrize("kind", ["ca", "end entity", "no extensions"])
def test_each_object_of_the_same_bytes_reads_as_asn1crypto_reads_it(kind: str) -> None:
    der = _certificate(kind == "ca", bare=kind == "no extensions")
    with extensions.uninstalled():
        expected = _read(asn1_x509.Certificate.load(der))
    first, second = asn1_x509.Certificate.load(der), asn1_x509.Certificate.load(der)
    assert _read(first) == expected
    assert _read(second) == expected
    assert list(extensions._parsed) == [der]
    if kind != "no extensions":
        assert second.key_usage_value is first.key_usage_value  # the second object was not parsed again


def test_certificates_of_other_bytes_are_parsed_apart() -> None:
    ca, leaf = _certificate(True), _certificate(False)
    assert asn1_x509.Certificate.load(ca).ca is True
    assert asn1_x509.Certificate.load(leaf).ca is False
    assert asn1_x509.Certificate.load(ca).key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert asn1_x509.Certificate.load(leaf).key_usage_value.native == {"digital_signature"}


def test_extensions_that_cannot_be_parsed_fail_each_time_and_are_not_remembered() -> None:
    der = _certificate(True)
    usage = der.index(b"\x06\x03\x55\x1d\x0f")  # the key usage extension's OID
    value = der.index(b"\x04\x04\x03\x02", usage)  # its OCTET STRING, holding a BIT STRING of 2 bytes
    broken = der[: value + 3] + b"\x05" + der[value + 4 :]  # which now claims 5
    for _ in range(2):
        with pytest.raises(ValueError, match="Insufficient data"):
            _ = asn1_x509.Certificate.load(broken).key_usage_value
    assert broken not in extensions._parsed
    with extensions.uninstalled(), pytest.raises(ValueError, match="Insufficient data"):
        _ = asn1_x509.Certificate.load(broken).key_usage_value


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extensions, "_KEPT", 3)
    ders = [_certificate(False, serial) for serial in range(1, 6)]
    for der in ders:
        assert asn1_x509.Certificate.load(der).ca is False
        assert len(extensions._parsed) <= 3
    assert list(extensions._parsed) == ders[3:]  # emptied when full, at the fourth


def test_uninstalled_is_asn1crypto_own_parse() -> None:
    der = _certificate(True)
    with extensions.uninstalled():
        assert asn1_x509.Certificate._set_extensions is extensions._parse
        assert asn1_x509.Certificate.load(der).ca is True
    assert asn1_x509.Certificate._set_extensions is extensions._set_extensions
    assert extensions._parsed == {}
