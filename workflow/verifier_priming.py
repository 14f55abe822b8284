"""The verifier primed with a document this service rendered and sealed (``signer.isolation.prime``).

Every document the service seals carries the same certificates (root, issuing CA, seal, TSA, OCSP responder),
and for hours the same OCSP responses and CRLs. A verification child that starts having seen them skips
parsing their names and extensions and checking their signatures again: a bureau verifying what this service
sealed is served faster, and any other file is judged exactly as before. The sample is only ever a document
rendered from one of the service's own templates: the fork server verifies it without a child's limits, so an
uploaded file never qualifies, and neither does anything larger than ``MAX_BYTES``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.blobs import BlobStore
from core.runtime import Runtime
from signer import isolation
from signer.revocation import Sources
from workflow.models import SealRequest

log = logging.getLogger(__name__)

EVERY = dt.timedelta(hours=1)  # the newest sample carries the newest OCSP responses and CRLs
MAX_BYTES = 1 << 20


def newest_sample(session: Session, blobs: BlobStore) -> bytes | None:
    """The newest sealed document the service rendered from a template, or None."""
    sealed = session.scalar(
        select(SealRequest.sealed_sha256)
        .where(SealRequest.document_source == "template", SealRequest.sealed_sha256.is_not(None))
        .order_by(SealRequest.id.desc())
        .limit(1)
    )
    if sealed is None or blobs.size(sealed) > MAX_BYTES:
        return None
    return blobs.get(sealed)


class Priming:
    """Primes the verifier at most once every ``EVERY``, once a sample exists; one per service process."""

    def __init__(self, every: dt.timedelta = EVERY) -> None:
        self._every = every
        self._at: dt.datetime | None = None
        self._lock = threading.Lock()

    def refresh(self, runtime: Runtime, trust: Sequence[x509.Certificate], revocation: Sources) -> bool:
        """Prime the verifier if it is due; whether it was primed now. Priming only speeds verifications up, so
        a failure to find or read the sample is logged and tried again an hour later, never raised."""
        now = runtime.clock.now()
        with self._lock:
            if self._at is not None and now - self._at < self._every:
                return False
            try:
                with runtime.readers() as session:
                    sample = newest_sample(session, runtime.blobs)
            except Exception:
                log.exception("the verifier could not be primed: its sample could not be read")
                self._at = now
                return False
            if sample is None:
                return False
            self._at = now
        isolation.prime(sample, trust=trust, revocation=revocation)
        return True
