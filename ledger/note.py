"""C2SP signed notes, checkpoints and Ed25519 cosignatures (signed-note, tlog-checkpoint, tlog-cosignature v1).

Written by hand from the specs because no maintained Python library implements C2SP signed notes. Parsing is
strict and canonical (one spelling per note), so whatever parses formats back byte for byte and a note cannot
be reworded without breaking its signatures. Signing goes through a callable, so private keys stay in the HSM.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from ledger.merkle import HASH_SIZE

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 1 << 20  # far above 100 post-quantum signatures; refuses only nonsense
MAX_SIGNATURES = 100  # the spec asks for at least 16
MAX_UINT64 = (1 << 64) - 1
MAX_TIMESTAMP = (1 << 63) - 1

_DASH = "\u2014 "
_COSIGNATURE_HEADER = b"cosignature/v1\n"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note, checkpoint or vkey that must not be trusted: malformed, or not signed as required."""


class SigningError(RuntimeError):
    """A signing callable returned a signature its own public key rejects: a wrong key label or a faulty token.

    Checked before the signature leaves the process, so a fault never reaches a published note.
    """


def decode_base64(text: str) -> bytes:
    """Standard padded base64, canonical only, so that formatting what was parsed gives back the same text."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        raise ValueError("not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise ValueError("not canonical base64")
    return raw


def parse_uint64(text: str) -> int:
    """ASCII decimal with no leading zeros, as the specs write tree sizes, indexes and timestamps."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0") or len(text) > 20:
        raise ValueError(f"{text[:30]!r} is not a decimal without leading zeros")
    value = int(text)
    if value > MAX_UINT64:
        raise ValueError(f"{text} does not fit in 64 bits")
    return value


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise NoteError(f"invalid key name {name[:100]!r}: empty, or with a space, '+' or control character")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("the note text does not end with a newline")
    if _CONTROL.search(text):
        raise NoteError("the note contains a control character other than newline")


@dataclass(frozen=True)
class Signature:
    """One signature line: the key is identified by name and key ID together, never by either alone."""

    name: str
    key_id: int
    raw: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not 0 <= self.key_id <= 0xFFFFFFFF:
            raise NoteError(f"key ID {self.key_id} is not a uint32")
        if not self.raw:
            raise NoteError(f"empty signature from {self.name}")

    @property
    def line(self) -> str:
        """The signature line, without its newline."""
        return _DASH + self.name + " " + base64.b64encode(self.key_id.to_bytes(4, "big") + self.raw).decode()


@dataclass(frozen=True)
class Note:
    """A note as written: its text (with the final newline) and every signature line, verified or not."""

    text: str
    signatures: tuple[Signature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not self.signatures:
            raise NoteError("a note has at least one signature")
        if len(self.signatures) > MAX_SIGNATURES:
            raise NoteError(f"more than {MAX_SIGNATURES} signatures")


@dataclass(frozen=True)
class VerifiedNote:
    """A note and the signatures on it that trusted keys verified; only those vouch for the text."""

    note: Note
    verified: tuple[Signature, ...]

    @property
    def signers(self) -> frozenset[tuple[str, int]]:
        """The distinct (name, key ID) pairs that verified: what a quorum is counted in."""
        return frozenset((s.name, s.key_id) for s in self.verified)


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(_DASH):
        raise NoteError(f"a signature line starts with an em dash and a space: {line[:60]!r}")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space:
        raise NoteError(f"a signature line is '— <name> <base64>': {line[:60]!r}")
    _check_name(name)
    try:
        blob = decode_base64(encoded)
    except ValueError as exc:
        raise NoteError(f"the signature from {name} is {exc}") from None
    if len(blob) < 5:
        raise NoteError(f"the signature from {name} is shorter than a key ID and one byte")
    return Signature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def parse_note(data: str | bytes) -> Note:
    """Split a signed note into text and signatures, without verifying anything: do not read the text yet."""
    if isinstance(data, str):
        try:
            encoded = data.encode("utf-8")
        except UnicodeEncodeError:
            raise NoteError("the note is not valid UTF-8") from None
    else:
        encoded = data
    if len(encoded) > MAX_NOTE_BYTES:
        raise NoteError(f"the note is larger than {MAX_NOTE_BYTES} bytes")
    try:
        message = encoded.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("the note is not valid UTF-8") from None
    if _CONTROL.search(message):
        raise NoteError("the note contains a control character other than newline")
    cut = message.rfind("\n\n")
    if cut < 0:
        raise NoteError("no blank line between the text and the signatures")
    block = message[cut + 2 :]
    if not block:
        raise NoteError("no signature lines after the last blank line")
    if not block.endswith("\n"):
        raise NoteError("the last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    return Note(message[: cut + 1], tuple(_parse_signature_line(line) for line in lines))


def format_note(note: Note) -> str:
    message = note.text + "\n" + "".join(s.line + "\n" for s in note.signatures)
    if len(message.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"the note would be larger than {MAX_NOTE_BYTES} bytes")
    return message


def key_id(name: str, sig_type: int, public: bytes) -> int:
    """The recommended key ID; the type byte lets one key serve two signature types under different IDs."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def format_vkey(name: str, sig_type: int, public: bytes) -> str:
    _check_name(name)
    encoded = base64.b64encode(bytes([sig_type]) + public).decode()
    return f"{name}+{key_id(name, sig_type, public):08x}+{encoded}"


class Verifier(Protocol):
    """Checks one key's signatures; notes find it by name and key ID together."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, sig: bytes) -> bool: ...


class NoteSigner(Protocol):
    """Signs as one key; the private half may live anywhere, typically in the HSM."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, text: bytes) -> bytes:
        """The signature bytes, without the key ID."""
        ...


class _Ed25519Key:
    """Name, public key and key ID, shared by the verifiers and the signers of both Ed25519 types."""

    sig_type: ClassVar[int]

    def __init__(self, name: str, public: bytes) -> None:
        _check_name(name)
        if len(public) != 32:
            raise NoteError(f"an Ed25519 public key is 32 bytes, not {len(public)}")
        self.name = name
        self.public = bytes(public)
        self.key_id = key_id(name, self.sig_type, self.public)
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(self.public)

    @property
    def vkey(self) -> str:
        return format_vkey(self.name, self.sig_type, self.public)

    def _valid(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _cosigned_message(timestamp: int, text: bytes) -> bytes:
    return _COSIGNATURE_HEADER + b"time %d\n" % timestamp + text


class Ed25519Verifier(_Ed25519Key):
    """Plain Ed25519 note signatures (type 0x01), as the log signs its checkpoints."""

    sig_type = ED25519

    def verify(self, text: bytes, sig: bytes) -> bool:
        return self._valid(text, sig)


class CosignatureVerifier(_Ed25519Key):
    """tlog-cosignature Ed25519 v1 (type 0x04): a witness's timestamped statement about a checkpoint."""

    sig_type = COSIGNATURE_V1

    def verify(self, text: bytes, sig: bytes) -> bool:
        if len(sig) != 72:
            return False
        timestamp = int.from_bytes(sig[:8], "big")
        return timestamp <= MAX_TIMESTAMP and self._valid(_cosigned_message(timestamp, text), sig[8:])

    @staticmethod
    def timestamp_of(sig: bytes) -> int:
        """The POSIX time a cosignature states; it means something only for a signature that verified."""
        if len(sig) != 72:
            raise NoteError(f"an Ed25519 cosignature is 72 bytes, not {len(sig)}")
        return int.from_bytes(sig[:8], "big")


class Ed25519Signer(_Ed25519Key):
    """Type 0x01 signatures made by ``sign`` (the raw Ed25519 operation, usually in the HSM)."""

    sig_type = ED25519

    def __init__(self, name: str, sign: Callable[[bytes], bytes], public: bytes) -> None:
        super().__init__(name, public)
        self._sign = sign

    def sign(self, text: bytes) -> bytes:
        signature = self._sign(text)
        if not self._valid(text, signature):
            raise SigningError(f"the key behind {self.name} did not make a valid signature for its public key")
        return signature


class CosignatureSigner(_Ed25519Key):
    """tlog-cosignature Ed25519 v1 signatures, stamped with ``clock()`` (POSIX seconds)."""

    sig_type = COSIGNATURE_V1

    def __init__(self, name: str, sign: Callable[[bytes], bytes], public: bytes, clock: Callable[[], int]) -> None:
        super().__init__(name, public)
        self._sign = sign
        self._clock = clock

    def sign(self, text: bytes) -> bytes:
        """8-byte big-endian timestamp || 64-byte Ed25519 signature."""
        timestamp = self._clock()
        if not 0 < timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"a cosignature timestamp is positive and below 2^63, not {timestamp}")
        message = _cosigned_message(timestamp, text)
        signature = self._sign(message)
        if not self._valid(message, signature):
            raise SigningError(f"the key behind {self.name} did not make a valid signature for its public key")
        return timestamp.to_bytes(8, "big") + signature


class SoftwareKey:
    """An Ed25519 key in memory: for tests, and for a witness that keeps its key in a file instead of the HSM."""

    def __init__(self, private: ed25519.Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> SoftwareKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SoftwareKey:
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        """The 32-byte RFC 8032 private key, which is all a key file needs to hold."""
        return self._private.private_bytes_raw()

    @property
    def public(self) -> bytes:
        return self._private.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def parse_vkey(vkey: str) -> Verifier:
    """A verifier from ``<name>+<key id>+base64(type || public key)``, for type 0x01 or 0x04 keys."""
    parts = vkey.split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise NoteError("a vkey is <name>+<hex key ID>+<base64 key>")
    name, id_hex, encoded = parts
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise NoteError(f"the key ID of {name} is not 8 lower-case hex digits")
    try:
        blob = decode_base64(encoded)
    except ValueError as exc:
        raise NoteError(f"the key of {name} is {exc}") from None
    if not blob:
        raise NoteError(f"the key of {name} is empty")
    verifier: Ed25519Verifier | CosignatureVerifier
    if blob[0] == ED25519:
        verifier = Ed25519Verifier(name, blob[1:])
    elif blob[0] == COSIGNATURE_V1:
        verifier = CosignatureVerifier(name, blob[1:])
    else:
        raise NoteError(f"the key of {name} has unsupported signature type 0x{blob[0]:02x}")
    if verifier.key_id != int(id_hex, 16):
        raise NoteError(f"the key ID {id_hex} of {name} does not match its key ({verifier.key_id:08x})")
    return verifier


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The complete signed note: text, blank line, one signature line per signer."""
    if not signers:
        raise ValueError("a note needs at least one signer")
    if len({(s.name, s.key_id) for s in signers}) != len(signers):
        raise ValueError("two signers share a name and key ID")
    _check_text(text)
    message = text.encode("utf-8")
    return format_note(Note(text, tuple(Signature(s.name, s.key_id, s.sign(message)) for s in signers)))


def verify_signatures(note: Note, verifiers: Sequence[Verifier]) -> tuple[Signature, ...]:
    """The signatures from known keys, all verified; unknown keys are skipped, and one bad known signature
    rejects the note. May be empty: ``verify_note`` is the call that insists on at least one."""
    known: dict[tuple[str, int], Verifier] = {}
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_id)
        if ident in known:
            raise ValueError(f"two verifiers for {verifier.name} with key ID {verifier.key_id:08x}")
        known[ident] = verifier
    message = note.text.encode("utf-8")
    verified = []
    for sig in note.signatures:
        found = known.get((sig.name, sig.key_id))
        if found is None:
            continue
        if not found.verify(message, sig.raw):
            raise NoteError(f"the signature from {sig.name} (key ID {sig.key_id:08x}) does not verify")
        verified.append(sig)
    return tuple(verified)


def verify_note(data: str | bytes, verifiers: Sequence[Verifier]) -> VerifiedNote:
    note = parse_note(data)
    verified = verify_signatures(note, verifiers)
    if not verified:
        raise NoteError("no signature from a trusted key")
    return VerifiedNote(note, verified)


def add_signatures(note_text_with_sigs: str, lines: str, *, verifiers: Sequence[Verifier] | None = None) -> str:
    """The note with further signature lines (such as a witness's add-checkpoint reply) appended.

    A line from a key (name and key ID) that already signed is dropped, so the first signature from each key
    stays and the note never carries two from one key. With ``verifiers``, the new lines are checked as
    tlog-witness suggests: unknown keys are dropped, and a bad signature or no good one raises NoteError, so
    one faulty reply can never leave a bad signature from a known key in the note (which would reject it).
    """
    note = parse_note(note_text_with_sigs)
    if not lines.endswith("\n"):
        raise NoteError("signature lines end with a newline")
    new = tuple(_parse_signature_line(line) for line in lines[:-1].split("\n"))
    if verifiers is not None:
        new = verify_signatures(Note(note.text, new), verifiers)
        if not new:
            raise NoteError("no signature from a trusted key among the new lines")
    signatures = list(note.signatures)
    present = {(s.name, s.key_id) for s in signatures}
    for sig in new:
        if (sig.name, sig.key_id) not in present:
            present.add((sig.name, sig.key_id))
            signatures.append(sig)
    return format_note(Note(note.text, tuple(signatures)))


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as C2SP tlog-checkpoint writes it."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise NoteError(f"a checkpoint origin is non-empty, with no control characters: {self.origin[:60]!r}")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise NoteError(f"a checkpoint extension line is non-empty, with no control characters: {line[:60]!r}")
        if not 0 <= self.size <= MAX_UINT64:
            raise NoteError(f"a tree size is a uint64, not {self.size}")
        if len(self.root) != HASH_SIZE:
            raise NoteError(f"a root hash is {HASH_SIZE} bytes, not {len(self.root)}")


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note text. Parsing is not trusting: the fields mean nothing until the note's
    signature has verified, which ``open_checkpoint`` does first."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a size and a root hash line")
    origin, size_line, root_line, *extensions = lines
    try:
        size = parse_uint64(size_line)
    except ValueError as exc:
        raise NoteError(f"checkpoint size: {exc}") from None
    try:
        root = decode_base64(root_line)
    except ValueError as exc:
        raise NoteError(f"checkpoint root hash: {exc}") from None
    return Checkpoint(origin, size, root, tuple(extensions))


def format_checkpoint(cp: Checkpoint) -> str:
    """The note text of ``cp``, ending in a newline, ready for ``sign_note``."""
    return "\n".join([cp.origin, str(cp.size), base64.b64encode(cp.root).decode(), *cp.extensions]) + "\n"


def open_checkpoint(data: str | bytes, origin: str, verifiers: Sequence[Verifier]) -> tuple[Checkpoint, VerifiedNote]:
    """Verify a signed checkpoint from the log called ``origin``; the body is read only after the signature."""
    verified = verify_note(data, verifiers)
    checkpoint = parse_checkpoint(verified.note.text)
    if checkpoint.origin != origin:
        raise NoteError(f"the checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint, verified
