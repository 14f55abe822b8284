"""C2SP signed notes, checkpoints and Ed25519 cosignatures, against the spec examples and strict parsing."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    MAX_SIGNATURES,
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    NoteError,
    Signature,
    SigningError,
    SoftwareKey,
    add_signatures,
    format_checkpoint,
    format_note,
    format_vkey,
    key_id,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign_note,
    verify_note,
)

SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_TEXT = "This is an example message.\n"
SPEC_LINE = (
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
)
SPEC_NOTE = SPEC_TEXT + "\n" + SPEC_LINE + "\n"
CHECKPOINT_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ROOT = bytes(range(32))
T = 1679315147


def signer(name: str, key: SoftwareKey | None = None) -> Ed25519Signer:
    key = key or SoftwareKey.generate()
    return Ed25519Signer(name, key.sign, key.public)


def cosigner(name: str, key: SoftwareKey | None = None, when: int = T) -> CosignatureSigner:
    key = key or SoftwareKey.generate()
    return CosignatureSigner(name, key.sign, key.public, lambda: when)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# The signed-note spec example


def test_spec_example_verifies() -> None:
    verifier = parse_vkey(SPEC_VKEY)
    assert isinstance(verifier, Ed25519Verifier)
    assert (verifier.name, verifier.key_id) == ("example.com/foo", 0x530D903A)
    verified = verify_note(SPEC_NOTE, [verifier])
    assert verified.note.text == SPEC_TEXT
    assert verified.verified == verified.note.signatures
    assert verified.signers == {("example.com/foo", 0x530D903A)}
    assert verify_note(SPEC_NOTE.encode(), [verifier]).note == verified.note
    assert format_note(verified.note) == SPEC_NOTE
    assert verifier.vkey == SPEC_VKEY


def test_spec_example_with_changed_text_fails() -> None:
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(SPEC_NOTE.replace("example", "exemplary", 1), [parse_vkey(SPEC_VKEY)])


def test_unknown_signers_are_ignored() -> None:
    other = signer("example.com/bar")
    note = add_signatures(SPEC_NOTE, sign_note(SPEC_TEXT, [other]).removeprefix(SPEC_TEXT + "\n"))
    assert len(parse_note(note).signatures) == 2
    verified = verify_note(note, [parse_vkey(SPEC_VKEY)])
    assert [s.name for s in verified.verified] == ["example.com/foo"]
    assert [s.name for s in verify_note(note, [parse_vkey(other.vkey)]).verified] == ["example.com/bar"]


def test_note_signed_only_by_unknown_keys_is_rejected() -> None:
    note = sign_note(SPEC_TEXT, [signer("example.com/bar")])
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(note, [parse_vkey(SPEC_VKEY)])
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(SPEC_NOTE, [])


def test_bad_signature_from_known_key_rejects_the_note_even_with_another_good_one() -> None:
    a, b = signer("a.example"), signer("b.example")
    note = parse_note(sign_note(SPEC_TEXT, [a, b]))
    broken = note.signatures[1].raw[:-1] + bytes([note.signatures[1].raw[-1] ^ 1])
    tampered = format_note(Note(note.text, (note.signatures[0], Signature("b.example", b.key_id, broken))))
    verifiers = [parse_vkey(a.vkey), parse_vkey(b.vkey)]
    with pytest.raises(NoteError, match=r"b\.example"):
        verify_note(tampered, verifiers)
    assert verify_note(tampered, verifiers[:1]).signers == {("a.example", a.key_id)}


def test_same_name_with_another_key_id_or_same_id_with_another_name_is_unknown() -> None:
    spec = parse_note(SPEC_NOTE).signatures[0]
    garbage = bytes(64)
    impostors = (
        Signature(spec.name, spec.key_id ^ 1, garbage),
        Signature("example.com/fo", spec.key_id, garbage),
    )
    note = format_note(Note(SPEC_TEXT, (*impostors, spec)))
    assert verify_note(note, [parse_vkey(SPEC_VKEY)]).verified == (spec,)
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(format_note(Note(SPEC_TEXT, impostors)), [parse_vkey(SPEC_VKEY)])


def test_two_verifiers_with_one_name_and_key_id_are_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="two verifiers"):
        verify_note(SPEC_NOTE, [parse_vkey(SPEC_VKEY), parse_vkey(SPEC_VKEY)])


# Strict parsing

SIG = SPEC_LINE.split(" ")[2]


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        (SPEC_TEXT + SPEC_LINE + "\n", "no blank line"),
        (SPEC_TEXT + "\n", "no signature lines"),
        (SPEC_TEXT + "\n" + SPEC_LINE, "does not end with a newline"),
        (SPEC_TEXT + "\n" + SPEC_LINE + "\n\n", "no signature lines"),
        ("This is an\texample.\n\n" + SPEC_LINE + "\n", "control character"),
        (SPEC_TEXT + "\n" + SPEC_LINE + "\r\n", "control character"),
        ("\x00" + SPEC_NOTE, "control character"),
        (SPEC_TEXT + "\n- example.com/foo " + SIG + "\n", "em dash"),
        (SPEC_TEXT + "\n—example.com/foo " + SIG + "\n", "em dash"),
        (SPEC_TEXT + "\n— example.com/foo\n", "<name> <base64>"),
        (SPEC_TEXT + "\n— example.com/foo " + SIG[:-1] + "\n", "not base64"),
        (SPEC_TEXT + "\n— example.com/foo " + SIG + " \n", "not base64"),
        (SPEC_TEXT + "\n— example.com/foo " + SIG.rstrip("=") + "\n", "not base64"),
        (SPEC_TEXT + "\n— example.com/foo " + SIG[:-2] + "R=\n", "not canonical"),
        (SPEC_TEXT + "\n— example.com/foo " + b64(bytes(4)) + "\n", "shorter than a key ID"),
        (SPEC_TEXT + "\n—  " + SIG + "\n", "invalid key name"),
        (SPEC_TEXT + "\n— example.com+foo " + SIG + "\n", "invalid key name"),
        (SPEC_TEXT + "\n— example.com\u00a0foo " + SIG + "\n", "invalid key name"),
        (SPEC_TEXT + "\n— example.com\u3000foo " + SIG + "\n", "invalid key name"),
        (SPEC_TEXT + "\n" + (SPEC_LINE + "\n") * (MAX_SIGNATURES + 1), f"more than {MAX_SIGNATURES}"),
        ("x" * (1 << 20) + "\n\n" + SPEC_LINE + "\n", "larger than"),
    ],
)
def test_malformed_notes_are_rejected(note: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        parse_note(note)
    with pytest.raises(NoteError):
        verify_note(note, [parse_vkey(SPEC_VKEY)])


@pytest.mark.parametrize("data", [SPEC_NOTE.encode()[:-3] + b"\xff\n", b"\xed\xa0\x80" + SPEC_NOTE.encode()])
def test_invalid_utf8_is_rejected(data: bytes) -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note(data)


def test_lone_surrogate_in_a_str_is_rejected() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        parse_note("\ud800" + SPEC_NOTE)


def test_text_is_split_at_the_last_blank_line_and_may_hold_blank_lines() -> None:
    key = signer("poems.example")
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n"
    note = sign_note(text, [key])
    assert note.startswith(text + "\n— poems.example ")
    assert verify_note(note, [parse_vkey(key.vkey)]).note.text == text


def test_many_signatures_are_accepted_up_to_the_limit() -> None:
    signers = [signer(f"w{i}.example") for i in range(MAX_SIGNATURES)]
    note = sign_note(SPEC_TEXT, signers)
    assert len(parse_note(note).signatures) == MAX_SIGNATURES
    assert verify_note(note, [parse_vkey(s.vkey) for s in signers[:16]]).signers == {
        (s.name, s.key_id) for s in signers[:16]
    }


# Signing


def test_sign_and_verify_round_trip_with_a_software_key() -> None:
    key = SoftwareKey.generate()
    log = signer("log.example/a", key)
    note = sign_note(CHECKPOINT_TEXT, [log])
    assert note.startswith(CHECKPOINT_TEXT + "\n— log.example/a ")
    assert format_note(parse_note(note)) == note
    verifier = parse_vkey(log.vkey)
    assert verify_note(note, [verifier]).note.text == CHECKPOINT_TEXT
    assert log.key_id == key_id("log.example/a", ED25519, key.public)
    assert len(parse_note(note).signatures[0].raw) == 64
    with pytest.raises(NoteError):
        verify_note(note.replace("20852163", "20852164"), [verifier])


def test_a_key_restored_from_its_seed_signs_the_same() -> None:
    key = SoftwareKey.generate()
    again = SoftwareKey.from_seed(key.seed)
    assert again.public == key.public
    assert sign_note(SPEC_TEXT, [signer("a.example", again)]) == sign_note(SPEC_TEXT, [signer("a.example", key)])


def test_a_signer_refuses_a_signature_from_the_wrong_key() -> None:
    right, wrong = SoftwareKey.generate(), SoftwareKey.generate()
    with pytest.raises(SigningError):
        sign_note(SPEC_TEXT, [Ed25519Signer("a.example", wrong.sign, right.public)])
    with pytest.raises(SigningError):
        sign_note(SPEC_TEXT, [CosignatureSigner("w.example", wrong.sign, right.public, lambda: T)])


def test_sign_note_refuses_bad_input() -> None:
    a = signer("a.example")
    with pytest.raises(ValueError, match="at least one signer"):
        sign_note(SPEC_TEXT, [])
    with pytest.raises(ValueError, match="share a name and key ID"):
        sign_note(SPEC_TEXT, [a, a])
    with pytest.raises(NoteError, match="newline"):
        sign_note("no newline", [a])
    with pytest.raises(NoteError, match="control"):
        sign_note("tab\there\n", [a])
    with pytest.raises(NoteError, match="key name"):
        signer("a b.example")


PROPERTY_SIGNER = signer("property.example")
PROPERTY_VERIFIER = parse_vkey(PROPERTY_SIGNER.vkey)


@given(st.text(st.characters(exclude_categories=["Cs"], min_codepoint=0x20) | st.just("\n"), max_size=200))
def test_any_text_without_control_characters_round_trips(body: str) -> None:
    note = sign_note(body + "\n", [PROPERTY_SIGNER])
    assert format_note(parse_note(note)) == note
    assert verify_note(note, [PROPERTY_VERIFIER]).note.text == body + "\n"


# Verifier keys


def test_vkey_round_trip_for_both_types() -> None:
    key = SoftwareKey.generate()
    plain = parse_vkey(format_vkey("k.example", ED25519, key.public))
    cosig = parse_vkey(format_vkey("k.example", COSIGNATURE_V1, key.public))
    assert isinstance(plain, Ed25519Verifier)
    assert isinstance(cosig, CosignatureVerifier)
    assert plain.key_id != cosig.key_id
    assert plain.key_id == signer("k.example", key).key_id
    assert cosig.key_id == cosigner("k.example", key).key_id


def test_vkey_whose_base64_holds_a_plus() -> None:
    vkey = "k.example+7e7a8007+AROY9ixtGkV8UbpqS189vS9p/KkyFiGNyJl+QWvRfZPK"
    assert SoftwareKey.from_seed(bytes([8]) * 32).public == base64.b64decode(vkey.split("+", 2)[2])[1:]
    assert parse_vkey(vkey).key_id == 0x7E7A8007


@pytest.mark.parametrize(
    ("vkey", "problem"),
    [
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "lower-case hex"),
        ("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "lower-case hex"),
        ("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AekyeRrn56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "base64"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k\n", "base64"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U0=", "32 bytes"),
        ("example.com/foo+530d903a+AskyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "type 0x02"),
        ("example.com/foo+530d903a+", "empty"),
        ("example.com/foo+530d903a", "<name>"),
        ("example.com/foo+x+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "lower-case hex"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
        ("example.com foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
    ],
)
def test_bad_vkeys_are_rejected(vkey: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        parse_vkey(vkey)


# Checkpoints


def test_spec_checkpoint_parses_and_formats_back() -> None:
    cp = parse_checkpoint(CHECKPOINT_TEXT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert format_checkpoint(cp) == CHECKPOINT_TEXT


def test_checkpoint_with_extensions_and_empty_tree_round_trips() -> None:
    cp = Checkpoint("log.example", 0, ROOT, ("ext one", "— two"))
    text = format_checkpoint(cp)
    assert text == f"log.example\n0\n{b64(ROOT)}\next one\n— two\n"
    assert parse_checkpoint(text) == cp


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"log.example\n020852163\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n00\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n+5\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n 5\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n\u0665\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n\n{b64(ROOT)}\n", "leading zeros"),
        (f"log.example\n{1 << 64}\n{b64(ROOT)}\n", "64 bits"),
        (f"log.example\n5\n{b64(ROOT[:31])}\n", "not 31"),
        (f"log.example\n5\n{b64(ROOT + b'x')}\n", "not 33"),
        (f"log.example\n5\n{b64(ROOT).rstrip('=')}\n", "base64"),
        (f"log.example\n5\n{b64(ROOT)[:-2]}9=\n", "canonical"),
        (f"\n5\n{b64(ROOT)}\n", "origin"),
        (f"log.example\n5\n{b64(ROOT)}\n\nafter\n", "extension"),
        (f"log.example\n5\n{b64(ROOT)}\n\n", "extension"),
        ("log.example\n5\n", "root hash line"),
        (f"log.example\n5\n{b64(ROOT)}", "newline"),
        (f"log.example\r\n5\n{b64(ROOT)}\n", "control"),
    ],
)
def test_malformed_checkpoints_are_rejected(text: str, problem: str) -> None:
    with pytest.raises(NoteError, match=problem):
        parse_checkpoint(text)


def test_checkpoint_fields_are_checked_on_construction() -> None:
    with pytest.raises(NoteError, match="origin"):
        Checkpoint("two\nlines", 1, ROOT)
    with pytest.raises(NoteError, match="uint64"):
        Checkpoint("log.example", -1, ROOT)
    with pytest.raises(NoteError, match="32 bytes"):
        Checkpoint("log.example", 1, ROOT[:16])
    with pytest.raises(NoteError, match="extension"):
        Checkpoint("log.example", 1, ROOT, ("",))


def test_open_checkpoint_checks_signature_then_origin() -> None:
    log = signer("log.example")
    note = sign_note(format_checkpoint(Checkpoint("log.example", 9, ROOT)), [log])
    verifiers = [parse_vkey(log.vkey)]
    cp, verified = open_checkpoint(note, "log.example", verifiers)
    assert (cp.origin, cp.size, cp.root) == ("log.example", 9, ROOT)
    assert verified.signers == {("log.example", log.key_id)}
    with pytest.raises(NoteError, match=re.escape("not 'other.example'")):
        open_checkpoint(note, "other.example", verifiers)
    with pytest.raises(NoteError, match="trusted key"):
        open_checkpoint(note, "log.example", [parse_vkey(signer("log.example").vkey)])


# Cosignatures


def test_cosignature_round_trip_and_timestamp() -> None:
    key = SoftwareKey.generate()
    witness = cosigner("witness.example/w1", key)
    note = sign_note(CHECKPOINT_TEXT, [witness])
    verifier = parse_vkey(witness.vkey)
    assert isinstance(verifier, CosignatureVerifier)
    (sig,) = verify_note(note, [verifier]).verified
    assert len(sig.raw) == 72
    assert CosignatureVerifier.timestamp_of(sig.raw) == T
    # Checked against the spec's message layout directly, not through our own verifier.
    message = f"cosignature/v1\ntime {T}\n".encode() + CHECKPOINT_TEXT.encode()
    ed25519.Ed25519PublicKey.from_public_bytes(key.public).verify(sig.raw[8:], message)


def test_cosignature_key_id_uses_type_0x04() -> None:
    key = SoftwareKey.generate()
    witness = cosigner("w.example", key)
    assert witness.key_id == key_id("w.example", 0x04, key.public)
    assert witness.key_id != key_id("w.example", 0x01, key.public)
    assert witness.vkey.startswith(f"w.example+{witness.key_id:08x}+")
    assert base64.b64decode(witness.vkey.split("+", 2)[2]) == b"\x04" + key.public
    note = sign_note(CHECKPOINT_TEXT, [witness])
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        verify_note(note, [Ed25519Verifier("w.example", key.public)])


def test_cosignature_over_another_timestamp_fails() -> None:
    witness = cosigner("w.example")
    (sig,) = parse_note(sign_note(CHECKPOINT_TEXT, [witness])).signatures
    moved = (T + 1).to_bytes(8, "big") + sig.raw[8:]
    note = format_note(Note(CHECKPOINT_TEXT, (Signature(sig.name, sig.key_id, moved),)))
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(note, [parse_vkey(witness.vkey)])


@pytest.mark.parametrize("raw", [bytes(71), bytes(73), b"\x80" + bytes(71)])
def test_malformed_cosignatures_do_not_verify(raw: bytes) -> None:
    verifier = CosignatureVerifier("w.example", SoftwareKey.generate().public)
    assert not verifier.verify(CHECKPOINT_TEXT.encode(), raw)


def test_cosignature_with_a_timestamp_beyond_2_63_is_refused_even_if_signed() -> None:
    key = SoftwareKey.generate()
    when = 1 << 63
    signed = key.sign(f"cosignature/v1\ntime {when}\n".encode() + CHECKPOINT_TEXT.encode())
    verifier = CosignatureVerifier("w.example", key.public)
    assert not verifier.verify(CHECKPOINT_TEXT.encode(), when.to_bytes(8, "big") + signed)
    fine = key.sign(f"cosignature/v1\ntime {when - 1}\n".encode() + CHECKPOINT_TEXT.encode())
    assert verifier.verify(CHECKPOINT_TEXT.encode(), (when - 1).to_bytes(8, "big") + fine)


def test_timestamp_of_needs_a_cosignature() -> None:
    with pytest.raises(NoteError, match="72 bytes"):
        CosignatureVerifier.timestamp_of(bytes(64))


@pytest.mark.parametrize("when", [0, -1, 1 << 63])
def test_cosigner_refuses_a_broken_clock(when: int) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        cosigner("w.example", when=when).sign(CHECKPOINT_TEXT.encode())


# Adding witness signatures


def test_add_signatures_appends_witness_lines_once() -> None:
    w1_key = SoftwareKey.generate()
    log, w1, w2 = signer("log.example"), cosigner("w1.example", w1_key), cosigner("w2.example", when=T + 5)
    note = sign_note(CHECKPOINT_TEXT, [log])
    reply1 = sign_note(CHECKPOINT_TEXT, [w1]).removeprefix(CHECKPOINT_TEXT + "\n")
    reply2 = sign_note(CHECKPOINT_TEXT, [w2]).removeprefix(CHECKPOINT_TEXT + "\n")
    once = add_signatures(note, reply1)
    assert once == note + reply1
    assert add_signatures(once, reply1) == once
    later = sign_note(CHECKPOINT_TEXT, [cosigner("w1.example", w1_key, T + 60)]).removeprefix(CHECKPOINT_TEXT + "\n")
    assert later != reply1
    assert add_signatures(once, later) == once
    both = add_signatures(once, reply2 + reply1)
    assert both == note + reply1 + reply2
    verified = verify_note(both, [parse_vkey(w1.vkey), parse_vkey(w2.vkey), parse_vkey(log.vkey)])
    assert verified.signers == {("log.example", log.key_id), ("w1.example", w1.key_id), ("w2.example", w2.key_id)}


@pytest.mark.parametrize("lines", ["", "— w.example AAAAAAE=", "garbage\n", "— w.example AAAAAAE=\n\n", "\n"])
def test_add_signatures_refuses_malformed_lines(lines: str) -> None:
    with pytest.raises(NoteError):
        add_signatures(SPEC_NOTE, lines)


def test_add_signatures_with_verifiers_keeps_only_good_known_lines() -> None:
    log, w1, w2 = signer("log.example"), cosigner("w1.example"), cosigner("w2.example")
    note = sign_note(CHECKPOINT_TEXT, [log])
    reply = sign_note(CHECKPOINT_TEXT, [w1, w2]).removeprefix(CHECKPOINT_TEXT + "\n")
    line1, line2 = reply.splitlines(keepends=True)
    trusted = [parse_vkey(w1.vkey)]
    assert add_signatures(note, reply, verifiers=trusted) == note + line1
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        add_signatures(note, line2, verifiers=trusted)
    (bad,) = parse_note(CHECKPOINT_TEXT + "\n" + line1).signatures
    forged = Signature(bad.name, bad.key_id, bad.raw[:8] + bytes(64)).line + "\n"
    with pytest.raises(NoteError, match=r"w1\.example .* does not verify"):
        add_signatures(note, forged + line2, verifiers=[*trusted, parse_vkey(w2.vkey)])
