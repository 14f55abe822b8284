"""Whether a seal's certificate path was revoked when the seal was made, judged as ETSI EN 319 102-1 does.

Revocation data comes from the document itself (the DSS, and Adobe-style revocation values signed into the CMS),
from the caller (the service hands in its current CRLs, since it is the issuer) and, when asked for, from the
network, following each certificate's own CRL distribution points and OCSP pointers. pyhanko-certvalidator checks
the path with revocation data required for every certificate that is not a trust anchor; what it finds is then
weighed against the signing time:

- revoked before the signing time (the signature timestamp's, else the time the signer claims): TOTAL-FAILED
  REVOKED; the claim is the signer's own word, and it says the key was used after it was revoked;
- revoked later, with nothing to prove the seal existed before (no signature timestamp): INDETERMINATE
  REVOKED_NO_POE, since the claimed time could be a lie;
- revoked later than a proven signing time for key compromise: INDETERMINATE REVOKED_NO_POE, since nobody knows
  when the key was first in other hands; for any other reason the seal stands;
- no usable revocation data now, nor at the proven signing time: INDETERMINATE TRY_LATER.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InsufficientRevinfoError, PathBuildingError, PathValidationError, RevokedError

FAILED, INDETERMINATE = "TOTAL-FAILED", "INDETERMINATE"
_REVINFO_ATTRIBUTE = "adobe_revocation_info_archival"


@dataclass(frozen=True)
class Sources:
    """Revocation data a verification may use besides what each signature carries."""

    crls: Sequence[bytes] = ()
    ocsps: Sequence[bytes] = ()
    online: bool = False


@dataclass(frozen=True)
class Revinfo:
    """What one signature's path may be checked with."""

    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)
    certificates: list[asn1_x509.Certificate] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """``indication`` None: the path is not revoked as far as the signature is concerned."""

    indication: str | None
    sub_indication: str | None
    problem: str | None
    revoked: bool


PASS = Verdict(None, None, None, False)
NO_SOURCES = Sources()


@dataclass(frozen=True)
class Stored:
    """What a document security store holds, parsed once for a verification: every validation context and the
    revocation check then share the same certificate objects, and what asn1crypto works out about them (names
    prepared for comparison, fingerprints) is worked out once."""

    certificates: list[asn1_x509.Certificate]
    ocsps: list[asn1_ocsp.OCSPResponse]
    crls: list[asn1_crl.CertificateList]

    @classmethod
    def read(cls, dss: DocumentSecurityStore) -> Stored:
        """As ``DocumentSecurityStore.as_validation_context`` reads them."""
        ocsps = [ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE) for ref in dss.ocsps]
        crls = [ref.get_object().read_data(DecodePurpose.CRL) for ref in dss.crls]
        return cls(
            certificates=list(dss.load_certs()),
            ocsps=[asn1_ocsp.OCSPResponse.load(der) for der in ocsps],
            crls=[asn1_crl.CertificateList.load(der) for der in crls],
        )


def gathered(stored: Stored | None, sig: EmbeddedPdfSignature, sources: Sources) -> Revinfo:
    """The document's DSS, the signature's own revocation values and the caller's, together."""
    found = Revinfo(
        crls=[asn1_crl.CertificateList.load(der) for der in sources.crls],
        ocsps=[asn1_ocsp.OCSPResponse.load(der) for der in sources.ocsps],
        certificates=[c.chosen for c in sig.signed_data["certificates"] or []],
    )
    if stored is not None:
        found.crls.extend(stored.crls)
        found.ocsps.extend(stored.ocsps)
        found.certificates.extend(stored.certificates)
    for attribute in sig.signer_info["signed_attrs"] or []:
        if attribute["type"].native != _REVINFO_ATTRIBUTE:
            continue
        for archival in attribute["values"]:
            found.crls.extend(archival["crl"] or [])
            found.ocsps.extend(archival["ocsp"] or [])
    return found


def judge(
    certificate: asn1_x509.Certificate,
    anchors: Sequence[asn1_x509.Certificate],
    revinfo: Revinfo,
    *,
    claimed: dt.datetime | None,
    proven: dt.datetime | None,
    moment: dt.datetime | None,
    online: bool,
) -> Verdict:
    """The verdict on ``certificate``'s path: checked now (or at ``moment``), and at the proven signing time if the
    data for now is missing."""
    now = moment or dt.datetime.now(dt.UTC)
    attempts = [(None if online else now, online)] + ([(proven, False)] if proven is not None else [])
    missing = ""
    for at, fetch in attempts:
        try:
            _check(certificate, anchors, revinfo, at, online=fetch)
            return PASS
        except RevokedError as exc:
            return _revoked(exc, claimed=claimed, proven=proven, now=now)
        except InsufficientRevinfoError as exc:
            missing = str(exc)  # try the proven signing time, with the data made for it
        except (PathValidationError, PathBuildingError):
            return PASS  # not a revocation matter: the path check of the signature itself reports it
    return Verdict(
        INDETERMINATE, "TRY_LATER", f"no revocation data to check the certificate path with: {missing}", False
    )


def _check(
    certificate: asn1_x509.Certificate,
    anchors: Sequence[asn1_x509.Certificate],
    revinfo: Revinfo,
    moment: dt.datetime | None,
    *,
    online: bool,
) -> None:
    context = ValidationContext(
        trust_roots=list(anchors),
        other_certs=revinfo.certificates,
        crls=revinfo.crls,
        ocsps=revinfo.ocsps,
        moment=moment,
        allow_fetching=online,
        revocation_mode="require",
        retroactive_revinfo=True,
    )
    validator = CertificateValidator(certificate, validation_context=context)
    asyncio.run(validator.async_validate_path())


def _revoked(
    error: RevokedError, *, claimed: dt.datetime | None, proven: dt.datetime | None, now: dt.datetime
) -> Verdict:
    revoked_at = error.revocation_dt
    reason = str(error.reason.native or "unspecified")
    signed_at = proven or claimed or now
    whose = "the seal's certificate" if error.is_ee_cert else "a CA certificate on the seal's path"
    what = f"{whose} was revoked on {revoked_at:%Y-%m-%d %H:%M:%S} UTC ({reason})"
    if signed_at >= revoked_at:
        said = "proven by its timestamp" if proven is not None else "as the signature claims"
        return Verdict(
            FAILED, "REVOKED", f"{what}, before the seal was made ({signed_at:%Y-%m-%d %H:%M:%S}, {said})", True
        )
    if proven is None:
        return Verdict(
            INDETERMINATE,
            "REVOKED_NO_POE",
            f"{what}; nothing proves the seal existed before that (it has no signature timestamp)",
            True,
        )
    if reason == "key_compromise":
        return Verdict(
            INDETERMINATE,
            "REVOKED_NO_POE",
            f"{what}, after the seal's proven time ({proven:%Y-%m-%d %H:%M:%S}); the key may have been in other hands "
            "before it was reported",
            True,
        )
    return Verdict(None, None, None, True)
