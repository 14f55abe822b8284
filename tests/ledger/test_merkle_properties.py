"""Proofs from ledger.merkle against the recursive definitions of RFC 9162, and against tampering.

The oracles below are the RFC's recursive definitions written out with hashlib, so they share no code with the
bit-twiddling module under test. One tree of 10,000 random leaves serves every prefix size.
"""

from __future__ import annotations

import hashlib
import random
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MAX_SIZE,
    CompactRange,
    MemoryTree,
    ProofError,
    ProofPlan,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    rehash,
    root,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

N = 10_000
_RNG = random.Random(9162)
ENTRIES = [_RNG.randbytes(_RNG.randrange(0, 40)) for _ in range(N)]
TREE = MemoryTree(leaf_hash(entry) for entry in ENTRIES)
LEAVES = [TREE.node(0, i) for i in range(N)]
ROOTS = [root(size, TREE) for size in range(N + 1)]

PROPERTY = settings(max_examples=250, deadline=None)


# RFC 9162 section 2.1.1, 2.1.3.1 and 2.1.4.1, over the leaves [lo, hi) of ENTRIES.


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@cache
def mth(lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + ENTRIES[lo]).digest()
    k = _split(n)
    return _hash_children(mth(lo, lo + k), mth(lo + k, hi))


def path_ranges(m: int, lo: int, hi: int) -> list[tuple[int, int, str]]:
    """PATH(m, D[lo:hi]) as the leaf ranges of its hashes, each with the side the sibling sits on."""
    n = hi - lo
    if n <= 1:
        return []
    k = _split(n)
    if m < k:
        return [*path_ranges(m, lo, lo + k), (lo + k, hi, "right")]
    return [*path_ranges(m - k, lo + k, hi), (lo, lo + k, "left")]


def subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[tuple[int, int, str]]:
    """SUBPROOF(m, D[lo:hi], b) as leaf ranges: the old subtree ('seed') and right or left siblings."""
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi, "seed")]
    k = _split(n)
    if m <= k:
        return [*subproof_ranges(m, lo, lo + k, b), (lo + k, hi, "right")]
    return [*subproof_ranges(m - k, lo + k, hi, False), (lo, lo + k, "left")]


def inclusion_shape(index: int, size: int) -> tuple[str, ...] | None:
    """What the verifier does with each proof hash; None where no proof exists."""
    if not 0 <= index < size:
        return None
    return tuple(side for _, _, side in path_ranges(index, 0, size))


def consistency_shape(size1: int, size2: int) -> tuple[str, ...] | None:
    if not 0 <= size1 <= size2:
        return None
    if size1 == 0:
        return ("from-empty",)
    if size1 == size2:
        return ("equal",)
    return tuple(side for _, _, side in subproof_ranges(size1, 0, size2, True))


def range_hash(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) through TREE's perfect nodes, which test_memory_tree_nodes_are_subtree_hashes checks."""
    n = hi - lo
    if n & (n - 1) == 0 and lo % n == 0:
        return TREE.node(n.bit_length() - 1, lo // n)
    k = _split(n)
    return _hash_children(range_hash(lo, lo + k), range_hash(lo + k, hi))


# Helpers.


def flip(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def assert_plan_reads_perfect_nodes(plan: ProofPlan, size: int) -> None:
    for level, index in plan.nodes:
        assert level >= 0
        assert index >= 0
        assert (index + 1) << level <= size, f"node {level}/{index} is not inside a tree of {size}"
    if plan.ephem is None:
        assert plan.begin == plan.end
        return
    assert plan.begin < plan.end
    level, index = plan.ephem
    position = index << level
    for part_level, part_index in plan.nodes[plan.begin : plan.end]:
        assert part_index << part_level == position, "folded nodes must be adjacent, left to right"
        position += 1 << part_level
    assert position == size, "folded nodes must reach the right edge of the tree"
    assert size < (index + 1) << level, "the folded hash stands for an incomplete subtree"


def inclusion_fails(leaf: bytes, index: int, size: int, proof: list[bytes], root_hash: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root_hash)
    except ProofError:
        return True
    return False


def consistency_fails(size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> bool:
    try:
        verify_consistency(size1, size2, proof, root1, root2)
    except ProofError:
        return True
    return False


@st.composite
def leaf_positions(draw: st.DrawFn, min_size: int = 1) -> tuple[int, int]:
    size = draw(st.integers(min_size, N))
    return draw(st.integers(0, size - 1)), size


@st.composite
def size_pairs(draw: st.DrawFn, min_size1: int = 1) -> tuple[int, int]:
    size2 = draw(st.integers(min_size1, N))
    return draw(st.integers(min_size1, size2)), size2


# The reference tree and the oracles themselves.


def test_memory_tree_nodes_are_subtree_hashes() -> None:
    # By induction each stored node is the MTH of its 2**level leaves, which RFC 9162 splits in equal halves.
    for index, entry in enumerate(ENTRIES):
        assert TREE.node(0, index) == hashlib.sha256(b"\x00" + entry).digest()
    level = 1
    while (1 << level) <= N:
        for index in range(N >> level):
            expected = _hash_children(TREE.node(level - 1, 2 * index), TREE.node(level - 1, 2 * index + 1))
            assert TREE.node(level, index) == expected
        with pytest.raises(IndexError):
            TREE.node(level, N >> level)
        level += 1
    with pytest.raises(IndexError):
        TREE.node(level, 0)
    with pytest.raises(IndexError):
        TREE.node(0, -1)


def test_root_matches_recursive_mth_for_small_sizes() -> None:
    assert root(0, TREE) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    for size in range(300):
        assert root(size, TREE) == mth(0, size) == TREE.root(size), size


def test_proofs_match_recursive_definitions_for_small_sizes() -> None:
    for size in range(1, 70):
        for index in range(size):
            expected = [mth(lo, hi) for lo, hi, _ in path_ranges(index, 0, size)]
            assert inclusion_proof(index, size, TREE) == expected, (index, size)
        for size1 in range(size + 1):
            expected = [mth(lo, hi) for lo, hi, _ in subproof_ranges(size1, 0, size, True)] if size1 else []
            assert consistency_proof(size1, size, TREE) == expected, (size1, size)


# Inclusion proofs.


@PROPERTY
@given(leaf_positions())
def test_inclusion_proof_verifies(position: tuple[int, int]) -> None:
    index, size = position
    plan = inclusion_nodes(index, size)
    assert_plan_reads_perfect_nodes(plan, size)
    proof = inclusion_proof(index, size, TREE)
    assert proof == [range_hash(lo, hi) for lo, hi, _ in path_ranges(index, 0, size)]
    assert root_from_inclusion(LEAVES[index], index, size, proof) == ROOTS[size]
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@PROPERTY
@given(leaf_positions(min_size=2), st.data())
def test_inclusion_fails_with_a_flipped_bit(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    proof = inclusion_proof(index, size, TREE)
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1))
    element = data.draw(st.integers(0, len(proof) - 1))
    tampered = [*proof[:element], flip(proof[element], bit), *proof[element + 1 :]]
    assert inclusion_fails(LEAVES[index], index, size, tampered, ROOTS[size])
    assert inclusion_fails(flip(LEAVES[index], bit), index, size, proof, ROOTS[size])
    assert inclusion_fails(LEAVES[index], index, size, proof, flip(ROOTS[size], bit))


@PROPERTY
@given(leaf_positions(min_size=3), st.data())
def test_inclusion_fails_with_swapped_elements(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    proof = inclusion_proof(index, size, TREE)
    first = data.draw(st.integers(0, len(proof) - 1))
    second = data.draw(st.integers(0, len(proof) - 1).filter(lambda i: proof[i] != proof[first]))
    swapped = list(proof)
    swapped[first], swapped[second] = proof[second], proof[first]
    assert inclusion_fails(LEAVES[index], index, size, swapped, ROOTS[size])


@PROPERTY
@given(leaf_positions(), st.sampled_from([-1, 1]))
def test_inclusion_with_a_wrong_size(position: tuple[int, int], delta: int) -> None:
    # The hashes do not bind the tree size: a size whose path has the same shape (say 5 and 6 for leaf 0) gives
    # the same computation, and then the proof verifies. The signed checkpoint binds size and root; every other
    # size must fail.
    index, size = position
    proof = inclusion_proof(index, size, TREE)
    wrong = size + delta
    same_shape = inclusion_shape(index, wrong) == inclusion_shape(index, size)
    assert inclusion_fails(LEAVES[index], index, wrong, proof, ROOTS[size]) is not same_shape


def test_inclusion_with_a_wrong_size_in_small_trees() -> None:
    # Exhaustive where the property test above rarely lands: only about one wrong size in twenty changes the shape.
    assert inclusion_shape(0, 5) == inclusion_shape(0, 6)
    outcomes = {True: 0, False: 0}
    for size in range(1, 128):
        for index in range(size):
            proof = inclusion_proof(index, size, TREE)
            for wrong in (size - 1, size + 1):
                same_shape = inclusion_shape(index, wrong) == inclusion_shape(index, size)
                assert inclusion_fails(LEAVES[index], index, wrong, proof, ROOTS[size]) is not same_shape
                outcomes[same_shape] += 1
    assert outcomes[False] > 500
    assert outcomes[True] > 5_000


@PROPERTY
@given(leaf_positions(min_size=2), st.data())
def test_inclusion_fails_with_a_wrong_index(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    proof = inclusion_proof(index, size, TREE)
    wrong = data.draw(
        st.one_of(st.sampled_from([index - 1, index + 1, size]), st.integers(0, size - 1)).filter(lambda i: i != index)
    )
    assert inclusion_fails(LEAVES[index], wrong, size, proof, ROOTS[size])


@PROPERTY
@given(leaf_positions(), st.data())
def test_inclusion_fails_with_a_wrong_length(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    proof = inclusion_proof(index, size, TREE)
    at = data.draw(st.integers(0, len(proof)))
    extra = data.draw(st.sampled_from([*proof, LEAVES[index], ROOTS[size], bytes(HASH_SIZE)]))
    extended = [*proof[:at], extra, *proof[at:]]
    with pytest.raises(ProofError, match=f"proof has {len(proof) + 1} hashes, .* needs {len(proof)}$"):
        verify_inclusion(LEAVES[index], index, size, extended, ROOTS[size])
    if proof:
        cut = data.draw(st.integers(0, len(proof) - 1))
        truncated = [*proof[:cut], *proof[cut + 1 :]]
        with pytest.raises(ProofError, match=f"proof has {len(proof) - 1} hashes, .* needs {len(proof)}$"):
            verify_inclusion(LEAVES[index], index, size, truncated, ROOTS[size])


# Consistency proofs.


@PROPERTY
@given(size_pairs(min_size1=0))
def test_consistency_proof_verifies(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    plan = consistency_nodes(size1, size2)
    assert_plan_reads_perfect_nodes(plan, size2)
    proof = consistency_proof(size1, size2, TREE)
    if 0 < size1 < size2:
        assert proof == [range_hash(lo, hi) for lo, hi, _ in subproof_ranges(size1, 0, size2, True)]
    else:
        assert proof == []
    verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])


@PROPERTY
@given(size_pairs(), st.data())
def test_consistency_fails_with_a_flipped_bit(sizes: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = sizes
    proof = consistency_proof(size1, size2, TREE)
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1))
    assert consistency_fails(size1, size2, proof, flip(ROOTS[size1], bit), ROOTS[size2])
    assert consistency_fails(size1, size2, proof, ROOTS[size1], flip(ROOTS[size2], bit))
    if proof:
        element = data.draw(st.integers(0, len(proof) - 1))
        tampered = [*proof[:element], flip(proof[element], bit), *proof[element + 1 :]]
        assert consistency_fails(size1, size2, tampered, ROOTS[size1], ROOTS[size2])


@PROPERTY
@given(size_pairs(), st.data())
def test_consistency_fails_with_swapped_elements(sizes: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = sizes
    proof = consistency_proof(size1, size2, TREE)
    if len(proof) < 2:
        return
    first = data.draw(st.integers(0, len(proof) - 1))
    second = data.draw(st.integers(0, len(proof) - 1).filter(lambda i: proof[i] != proof[first]))
    swapped = list(proof)
    swapped[first], swapped[second] = proof[second], proof[first]
    assert consistency_fails(size1, size2, swapped, ROOTS[size1], ROOTS[size2])


@PROPERTY
@given(size_pairs(), st.sampled_from([(-1, 0), (1, 0), (0, -1), (0, 1)]))
def test_consistency_with_a_wrong_size(sizes: tuple[int, int], deltas: tuple[int, int]) -> None:
    # As with inclusion, sizes with the same proof shape (2 to 3 and 2 to 4, say) verify; all others fail. In
    # practice a wrong size1 always changes the shape, a wrong size2 only about once in twenty.
    size1, size2 = sizes
    proof = consistency_proof(size1, size2, TREE)
    wrong1, wrong2 = size1 + deltas[0], size2 + deltas[1]
    same_shape = consistency_shape(wrong1, wrong2) == consistency_shape(size1, size2)
    assert consistency_fails(wrong1, wrong2, proof, ROOTS[size1], ROOTS[size2]) is not same_shape


def test_consistency_with_a_wrong_size_in_small_trees() -> None:
    assert consistency_shape(2, 3) == consistency_shape(2, 4)
    outcomes = {True: 0, False: 0}
    for size2 in range(1, 128):
        for size1 in range(1, size2 + 1):
            proof = consistency_proof(size1, size2, TREE)
            for wrong1, wrong2 in ((size1 - 1, size2), (size1 + 1, size2), (size1, size2 - 1), (size1, size2 + 1)):
                same_shape = consistency_shape(wrong1, wrong2) == consistency_shape(size1, size2)
                assert consistency_fails(wrong1, wrong2, proof, ROOTS[size1], ROOTS[size2]) is not same_shape
                outcomes[same_shape] += 1
    assert outcomes[False] > 8_000
    assert outcomes[True] > 5_000


@PROPERTY
@given(size_pairs(), st.data())
def test_consistency_fails_with_a_wrong_length(sizes: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = sizes
    proof = consistency_proof(size1, size2, TREE)
    at = data.draw(st.integers(0, len(proof)))
    extra = data.draw(st.sampled_from([*proof, ROOTS[size1], ROOTS[size2], bytes(HASH_SIZE)]))
    assert consistency_fails(size1, size2, [*proof[:at], extra, *proof[at:]], ROOTS[size1], ROOTS[size2])
    if proof:
        cut = data.draw(st.integers(0, len(proof) - 1))
        truncated = [*proof[:cut], *proof[cut + 1 :]]
        assert consistency_fails(size1, size2, truncated, ROOTS[size1], ROOTS[size2])


@PROPERTY
@given(st.integers(0, N), st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE))
def test_empty_tree_is_consistent_with_any_tree(size2: int, root2: bytes) -> None:
    verify_consistency(0, size2, [], EMPTY_ROOT, root2 if size2 else EMPTY_ROOT)
    assert consistency_fails(0, size2, [], LEAVES[0], ROOTS[size2])
    assert consistency_fails(0, size2, [EMPTY_ROOT], EMPTY_ROOT, ROOTS[size2])


def test_equal_sizes() -> None:
    verify_consistency(7, 7, [], ROOTS[7], ROOTS[7])
    with pytest.raises(ProofError, match="roots differ"):
        verify_consistency(7, 7, [], ROOTS[7], ROOTS[8])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(7, 7, [LEAVES[0]], ROOTS[7], ROOTS[7])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, [], ROOTS[1], ROOTS[1])


# Compact ranges.


def _perfect_nodes(size: int) -> list[bytes]:
    return [
        TREE.node(level, (size >> level) - 1) for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1
    ]


def _completed_by_leaf(position: int) -> list[tuple[int, int, bytes]]:
    """Perfect nodes of level >= 1 whose last leaf is `position`, lowest first."""
    completed = []
    level = 1
    while (position + 1) % (1 << level) == 0:
        completed.append((level, position >> level, TREE.node(level, position >> level)))
        level += 1
    return completed


def test_compact_range_at_every_size() -> None:
    compact = CompactRange()
    for size in range(N):
        assert compact.size == size
        assert compact.root() == ROOTS[size] == TREE.root(size)
        assert compact.hashes == _perfect_nodes(size)
        assert compact.append(LEAVES[size]) == _completed_by_leaf(size)
    assert compact.root() == ROOTS[N] == mth(0, N)


@PROPERTY
@given(st.integers(0, N - 1), st.data())
def test_compact_range_resumes_from_stored_state(size: int, data: st.DataObject) -> None:
    stored = b"".join(CompactRange(size, _perfect_nodes(size)).hashes)
    compact = CompactRange(size, [stored[i : i + HASH_SIZE] for i in range(0, len(stored), HASH_SIZE)])
    assert compact.root() == ROOTS[size]
    for position in range(size, size + data.draw(st.integers(1, min(300, N - size)))):
        assert compact.append(LEAVES[position]) == _completed_by_leaf(position)
        assert compact.root() == ROOTS[position + 1]
        assert compact.size == position + 1


def test_compact_range_refuses_bad_state() -> None:
    with pytest.raises(ValueError, match="has 2 perfect subtrees"):
        CompactRange(3, [LEAVES[0]])
    with pytest.raises(ValueError, match="31 bytes"):
        CompactRange(1, [LEAVES[0][:31]])
    with pytest.raises(ValueError, match="outside"):
        CompactRange(-1)
    with pytest.raises(ValueError, match="33 bytes"):
        CompactRange().append(LEAVES[0] + b"\x00")
    full = CompactRange(MAX_SIZE, [EMPTY_ROOT] * MAX_SIZE.bit_count())
    with pytest.raises(ValueError, match="full"):
        full.append(LEAVES[0])


# Arguments out of range.


@pytest.mark.parametrize(
    ("index", "size"), [(-1, 5), (0, 0), (5, 5), (6, 5), (0, MAX_SIZE + 1), (MAX_SIZE + 1, MAX_SIZE + 2), (0, -1)]
)
def test_no_inclusion_proof_for_impossible_positions(index: int, size: int) -> None:
    with pytest.raises(ValueError, match=r"outside|not below") as raised:
        inclusion_nodes(index, size)
    assert not isinstance(raised.value, ProofError)
    with pytest.raises(ProofError, match=r"outside|not below"):
        verify_inclusion(LEAVES[0], index, size, [], ROOTS[1])


@pytest.mark.parametrize(("size1", "size2"), [(3, 2), (-1, 2), (0, MAX_SIZE + 1), (1, 0)])
def test_no_consistency_proof_for_impossible_sizes(size1: int, size2: int) -> None:
    with pytest.raises(ValueError, match=r"outside|above"):
        consistency_nodes(size1, size2)
    with pytest.raises(ProofError, match=r"outside|above"):
        verify_consistency(size1, size2, [], ROOTS[1], ROOTS[1])


def test_largest_tree_plans_read_perfect_nodes() -> None:
    for index in (0, 1, MAX_SIZE // 2, MAX_SIZE - 2, MAX_SIZE - 1):
        assert_plan_reads_perfect_nodes(inclusion_nodes(index, MAX_SIZE), MAX_SIZE)
    for size1 in (1, 2, 2**62, MAX_SIZE - 1):
        assert_plan_reads_perfect_nodes(consistency_nodes(size1, MAX_SIZE), MAX_SIZE)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_hashes_of_the_wrong_length_are_refused(length: int) -> None:
    index, size = 3, 11
    proof = inclusion_proof(index, size, TREE)
    bad = bytes(length)
    with pytest.raises(ProofError, match=f"leaf is {length} bytes long"):
        verify_inclusion(bad, index, size, proof, ROOTS[size])
    with pytest.raises(ProofError, match=f"root is {length} bytes long"):
        verify_inclusion(LEAVES[index], index, size, proof, bad)
    with pytest.raises(ProofError, match=rf"proof\[2\] is {length} bytes long"):
        verify_inclusion(LEAVES[index], index, size, [*proof[:2], bad, *proof[3:]], ROOTS[size])
    consistency = consistency_proof(5, size, TREE)
    with pytest.raises(ProofError, match=f"root2 is {length} bytes long"):
        verify_consistency(5, size, consistency, ROOTS[5], bad)
    with pytest.raises(ProofError, match=rf"proof\[0\] is {length} bytes long"):
        verify_consistency(5, size, [bad, *consistency[1:]], ROOTS[5], ROOTS[size])


def test_rehash_needs_one_hash_per_node() -> None:
    plan = inclusion_nodes(0, 7)
    assert plan.end - plan.begin == 2
    with pytest.raises(ValueError, match="4 nodes, got 2 hashes"):
        rehash(plan, [LEAVES[1], LEAVES[2]])
