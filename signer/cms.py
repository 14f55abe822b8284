"""The CMS of a PAdES seal: its template, prepared once per seal on the builder the TSA shares (``ca.cms``),
the size /Contents reserves for it, and the name the log gives a signature."""

from __future__ import annotations

import hashlib
from functools import cached_property

from ca.cms import SignerTemplate
from ca.der import sequence, tlv


def der_length(data: bytes | bytearray | memoryview) -> int:
    """The length of the DER value at the start of ``data``, header included: a /Contents string holds the CMS
    followed by zero padding, and the log names the CMS alone."""
    if len(data) < 2:
        raise ValueError("too short for a DER value")
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        raise ValueError("not a definite DER length")
    return 2 + count + int.from_bytes(bytes(data[2 : 2 + count]), "big")


def signature_sha256(contents: bytes) -> str:
    """The SHA-256 that names a signature in the log: of the CMS ContentInfo DER, without /Contents padding."""
    return hashlib.sha256(contents[: der_length(contents)]).hexdigest()


class SealTemplate(SignerTemplate):
    """A seal's signatures: detached CMS over the document's byte ranges, as PAdES has it (ETSI.CAdES.detached),
    and how large they can grow, so that /Contents is reserved once per seal with no dry run."""

    @cached_property
    def max_signature_size(self) -> int:
        """The longest signature value the key can give: DER ECDSA-Sig-Value at its longest, or the modulus."""
        if self.key_family == "rsa":
            return (self.key_size + 7) // 8
        integer = (self.key_size + 7) // 8 + 1  # a leading zero when the top bit is set
        return len(sequence(tlv(0x02, bytes(integer)), tlv(0x02, bytes(integer))))

    def max_size(self, timestamp_token_size: int = 0) -> int:
        """The largest ContentInfo this template can make, from the sizes of its parts."""
        attributes = self.signed_attributes(bytes(self.digest().digest_size))
        signature = bytes(self.max_signature_size)
        timestamp = bytes(timestamp_token_size) if timestamp_token_size else None
        return len(self.content_info(attributes, signature, timestamp))
