"""Why a seal did not pass, or a file could not be verified at all, in the viewer's language.

A report names why by the sub-indication of ETSI EN 319 102-1 (5.1.3), a closed list that every AdES validator
shares; the verifier's own findings (which page looks different, which field was filled) are English, as the API
gives them. The verification page says the sub-indication in words, and keeps the findings beneath it for whoever
checks further. A sub-indication not in the list is shown as its code alone.
"""

from __future__ import annotations

from api.pages.base import N_
from api.pages.refusal_words import DOCUMENT

SUB_INDICATIONS = {
    # TOTAL-FAILED
    "FORMAT_FAILURE": N_(
        "The file is not as it was sealed: it was changed after sealing, or it breaks the rules a sealed PDF keeps."
    ),
    "HASH_FAILURE": N_("The sealed content was altered: it no longer matches the seal."),
    "SIG_CRYPTO_FAILURE": N_("The seal's signature does not verify: it was not made with the key of its certificate."),
    "REVOKED": N_("The certificate was revoked before the seal was made."),
    "NOT_YET_VALID": N_("The certificate was not yet valid when the seal was made."),
    # INDETERMINATE
    "SIG_CONSTRAINTS_FAILURE": N_("The seal does not meet the constraints set for it."),
    "CHAIN_CONSTRAINTS_FAILURE": N_("The certificate chain does not meet the constraints set for it."),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": N_("The certificate chain could not be checked."),
    "CRYPTO_CONSTRAINTS_FAILURE": N_("The seal uses an algorithm or key size that is no longer considered safe."),
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": N_(
        "The seal uses an algorithm that is no longer safe, and nothing proves it was made while it still was."
    ),
    "EXPIRED": N_("The certificate had expired when the seal was made."),
    "POLICY_PROCESSING_ERROR": N_("The signature policy could not be processed."),
    "SIGNATURE_POLICY_NOT_AVAILABLE": N_("The signature policy is not available."),
    "TIMESTAMP_ORDER_FAILURE": N_("The timestamps are not in the order they must be."),
    "NO_SIGNING_CERTIFICATE_FOUND": N_("The seal's certificate is not in the file."),
    "NO_CERTIFICATE_CHAIN_FOUND": N_("The certificate does not lead to an authority this service trusts."),
    "REVOKED_NO_POE": N_(
        "The certificate has been revoked, and nothing proves the seal was made before: a timestamp would."
    ),
    "REVOKED_CA_NO_POE": N_(
        "A certificate of the issuing authority has been revoked, and nothing proves the seal was made before."
    ),
    "OUT_OF_BOUNDS_NO_POE": N_(
        "The seal was checked outside the certificate's validity, and nothing proves it was made within it."
    ),
    "REVOCATION_OUT_OF_BOUNDS_NO_POE": N_(
        "The revocation data fall outside the certificate's validity, and nothing proves when the seal was made."
    ),
    "OUT_OF_BOUNDS_NOT_REVOKED": N_(
        "The certificate has expired and is not revoked, but nothing proves the seal was made while it was valid."
    ),
    "NO_POE": N_("Nothing proves the seal existed at the time it needs to have."),
    "TRY_LATER": N_("The revocation status cannot be checked now: try again later."),
    "SIGNED_DATA_NOT_FOUND": N_("The data the seal covers cannot be found."),
    "GENERIC": N_("The seal could not be fully checked."),
}

# A file that cannot be verified at all, by the kind its refusal names (``signer.verification.KINDS``); an empty or
# too large one as an upload to be sealed is said.
UNVERIFIABLE = {
    "not-signed": N_("The PDF carries no electronic seal."),
    "unreadable": N_("The PDF is damaged, encrypted or too costly to read."),
    "empty": DOCUMENT["empty"],
    "too-large": DOCUMENT["too-large"],
    "no-file": N_("Choose a PDF file to verify."),
}
