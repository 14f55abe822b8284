"""transparency-dev/merkle's proof test vectors, so that our verifier agrees with the Go one used by witnesses."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.merkle import ProofError, verify_consistency, verify_inclusion

# The vectors as shared beside the project (tests/ledger/ -> tests/ -> project -> its parent), and the copy kept
# in the repository (Apache-2.0, LICENSE beside it) for checkouts that stand alone; the two must not differ.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "merkle"
KEPT = Path(__file__).resolve().parent / "vectors" / "merkle"
VECTORS = SHARED if SHARED.is_dir() else KEPT
FILES = sorted(VECTORS.rglob("*.json"))
IDS = [path.relative_to(VECTORS).as_posix() for path in FILES]

# The one vector that must fail here although it passes in Go: its roots are the 12-byte placeholder
# "don't care 2", and transparency-dev/merkle compares roots of equal sizes without checking their length.
# We refuse every hash that is not 32 bytes, so a short root is an error before the sizes are even compared.
SHORT_ROOTS = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


def _load(relative: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTORS / relative).read_text())
    return vector


def _decode(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _verify(vector: dict[str, Any]) -> None:
    proof = [_decode(item) for item in vector["proof"] or []]
    if "leafIdx" in vector:
        leaf, root = _decode(vector["leafHash"]), _decode(vector["root"])
        verify_inclusion(leaf, vector["leafIdx"], vector["treeSize"], proof, root)
    else:
        root1, root2 = _decode(vector["root1"]), _decode(vector["root2"])
        verify_consistency(vector["size1"], vector["size2"], proof, root1, root2)


def test_vectors_are_found() -> None:
    assert len(FILES) > 150, f"only {len(FILES)} vector files under {VECTORS}"
    kept = sorted(KEPT.rglob("*.json"))
    assert [p.relative_to(KEPT) for p in kept] == [p.relative_to(VECTORS) for p in FILES]
    assert all((VECTORS / p.relative_to(KEPT)).read_bytes() == p.read_bytes() for p in kept)
    assert {relative.split("/")[0] for relative in IDS} == {"inclusion", "consistency"}
    assert SHORT_ROOTS in IDS


@pytest.mark.parametrize("relative", IDS)
def test_vector(relative: str) -> None:
    vector = _load(relative)
    assert isinstance(vector["wantErr"], bool)
    if relative == SHORT_ROOTS:
        # Apart from the root length this is a valid equal-size check (same roots, empty proof), which Go accepts.
        assert vector["wantErr"] is False
        assert vector["size1"] == vector["size2"] == 1
        assert vector["root1"] == vector["root2"]
        assert vector["proof"] == []
        with pytest.raises(ProofError, match="root1 is 12 bytes long, a hash is 32"):
            _verify(vector)
    elif vector["wantErr"]:
        with pytest.raises(ProofError):
            _verify(vector)
    else:
        _verify(vector)
