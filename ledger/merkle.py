"""RFC 9162 Merkle tree hashing, proof generation over stored perfect subtrees, and proof verification.

Written by hand because no maintained Python library implements RFC 9162 proofs against a storage interface
that only holds perfect subtrees (C2SP tiles); the algorithms follow RFC 9162 sections 2.1.1 to 2.1.4.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_SIZE = 2**63 - 1

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof, or what it is checked against, does not hold; the message says what is wrong."""


def leaf_hash(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


class NodeReader(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """Hash of the PERFECT subtree of height `level` whose leaves are [index*2**level, (index+1)*2**level)."""
        ...


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """Which stored nodes a proof needs, so that a storage layer can fetch them all before hashing anything.

    A proof hash right of the path's fork is usually not a perfect subtree: ``nodes[begin:end]`` are the perfect
    subtrees that make it up, largest first, and `rehash` folds them into the one hash that stands at ``ephem``
    (its position in the complete binary tree). ``begin == end`` and ``ephem is None`` when there is none.
    """

    nodes: tuple[tuple[int, int], ...]
    begin: int
    end: int
    ephem: tuple[int, int] | None


_EMPTY_PLAN = ProofPlan((), 0, 0, None)


def _check_number(name: str, value: int, error: type[ValueError]) -> None:
    if not 0 <= value <= MAX_SIZE:
        raise error(f"{name} {value} is outside [0, 2**63)")


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes long, a hash is {HASH_SIZE}")


def _path(index: int, level: int, size: int, nodes: list[tuple[int, int]]) -> ProofPlan:
    """Plan the path from perfect node (level, index) to the root of a tree of `size` leaves, after `nodes`."""
    # The fork is the largest perfect subtree above the node that the tree holds whole; below it every sibling is
    # perfect, right of it lie the leaves [fork end, size), and above it every sibling is a perfect left one.
    height = (index ^ (size >> level)).bit_length() - 1
    for i in range(height):
        nodes.append((level + i, (index >> i) ^ 1))
    fork_level = level + height
    fork = index >> height
    begin = len(nodes)
    rest = size & ((1 << fork_level) - 1)
    while rest:
        bit = rest.bit_length() - 1
        nodes.append((bit, (size >> bit) - 1))
        rest ^= 1 << bit
    end = len(nodes)
    above = fork >> 1
    above_level = fork_level + 1
    while above:
        if above & 1:
            nodes.append((above_level, above ^ 1))
        above >>= 1
        above_level += 1
    return ProofPlan(tuple(nodes), begin, end, (fork_level, fork | 1) if end > begin else None)


def inclusion_nodes(index: int, size: int) -> ProofPlan:
    _check_number("index", index, ValueError)
    _check_number("size", size, ValueError)
    if index >= size:
        raise ValueError(f"index {index} is not below tree size {size}")
    return _path(index, 0, size, [])


def consistency_nodes(size1: int, size2: int) -> ProofPlan:
    _check_number("size1", size1, ValueError)
    _check_number("size2", size2, ValueError)
    if size1 > size2:
        raise ValueError(f"size1 {size1} is above size2 {size2}")
    if size1 == 0 or size1 == size2:
        return _EMPTY_PLAN
    # RFC 9162 2.1.4.1 reduced to one path: from the last perfect subtree of the old tree to the new root, that
    # subtree itself first unless it is the whole old tree, whose root the verifier already has.
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    return _path(index, level, size2, [(level, index)] if index else [])


def rehash(plan: ProofPlan, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) != len(plan.nodes):
        raise ValueError(f"plan has {len(plan.nodes)} nodes, got {len(hashes)} hashes")
    begin, end = plan.begin, plan.end
    if end - begin < 2:
        return list(hashes)
    folded = hashes[end - 1]
    for i in range(end - 2, begin - 1, -1):
        folded = _sha256(b"\x01" + hashes[i] + folded).digest()
    return [*hashes[:begin], folded, *hashes[end:]]


def _read(plan: ProofPlan, reader: NodeReader) -> list[bytes]:
    node = reader.node
    return rehash(plan, [node(level, index) for level, index in plan.nodes])


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    return _read(inclusion_nodes(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    return _read(consistency_nodes(size1, size2), reader)


def root(size: int, reader: NodeReader) -> bytes:
    """MTH of the first `size` leaves, folded from the perfect subtrees a storage layer keeps."""
    _check_number("size", size, ValueError)
    if size == 0:
        return EMPTY_ROOT
    bit = size & -size
    folded = reader.node(bit.bit_length() - 1, size // bit - 1)
    rest = size ^ bit
    while rest:
        bit = rest & -rest
        folded = _sha256(b"\x01" + reader.node(bit.bit_length() - 1, size // bit - 1) + folded).digest()
        rest ^= bit
    return folded


def _inclusion_length(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _inclusion_length_error(proof: Sequence[bytes], index: int, size: int) -> ProofError:
    needed = _inclusion_length(index, size)
    return ProofError(f"proof has {len(proof)} hashes, index {index} in a tree of size {size} needs {needed}")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` makes of `leaf`; it proves inclusion only once compared with a trusted root."""
    _check_number("index", index, ProofError)
    _check_number("size", size, ProofError)
    _check_hash("leaf", leaf)
    for i, hash_ in enumerate(proof):
        _check_hash(f"proof[{i}]", hash_)
    if index >= size:
        raise ProofError(f"index {index} is not below tree size {size}")
    # RFC 9162 2.1.3.2.
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise _inclusion_length_error(proof, index, size)
        if fn & 1 or fn == sn:
            r = _sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn:
        raise _inclusion_length_error(proof, index, size)
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    _check_hash("root", root)
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError(f"proof does not lead from the leaf at index {index} to the root of size {size}")


def _consistency_length_error(proof: Sequence[bytes], size1: int, size2: int) -> ProofError:
    level = (size1 & -size1).bit_length() - 1
    index = (size1 >> level) - 1
    needed = _inclusion_length(index, ((size2 - 1) >> level) + 1) + (index != 0)
    return ProofError(f"proof has {len(proof)} hashes, size {size1} to {size2} needs {needed}")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    _check_number("size1", size1, ProofError)
    _check_number("size2", size2, ProofError)
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    for i, hash_ in enumerate(proof):
        _check_hash(f"proof[{i}]", hash_)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is above size2 {size2}")
    if size1 == 0 or size1 == size2:
        # Outside RFC 9162, which only covers 0 < size1 < size2: nothing to prove, so anything sent is suspect.
        if proof:
            raise ProofError(f"proof from size {size1} to {size2} must be empty, it has {len(proof)} hashes")
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise ProofError("root1 is not the root of the empty tree")
        if size1 == size2 and root1 != root2:
            raise ProofError(f"sizes are equal ({size1}) but the roots differ")
        return
    # RFC 9162 2.1.4.2.
    if not proof:
        raise ProofError(f"proof from size {size1} to {size2} is empty")
    seeded = size1 & (size1 - 1) == 0
    fr = sr = root1 if seeded else proof[0]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    for c in proof[0 if seeded else 1 :]:
        if sn == 0:
            raise _consistency_length_error(proof, size1, size2)
        if fn & 1 or fn == sn:
            fr = _sha256(b"\x01" + c + fr).digest()
            sr = _sha256(b"\x01" + c + sr).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = _sha256(b"\x01" + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn:
        raise _consistency_length_error(proof, size1, size2)
    if fr != root1:
        raise ProofError(f"proof does not lead to root1 of size {size1}")
    if sr != root2:
        raise ProofError(f"proof does not lead from root1 of size {size1} to root2 of size {size2}")


class CompactRange:
    """O(log n) state of a tree of leaves [0, size): the roots of its perfect subtrees, largest first.

    The integrator keeps only this between batches; `append` hands back each perfect node it completes so that
    storage can be filled without recomputing anything.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_number("size", size, ValueError)
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} perfect subtrees, got {len(hashes)} hashes")
        for hash_ in hashes:
            if len(hash_) != HASH_SIZE:
                raise ValueError(f"compact range hash is {len(hash_)} bytes long, a hash is {HASH_SIZE}")
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns (level, index, hash) of the perfect nodes it completes, lowest first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf)} bytes long, a hash is {HASH_SIZE}")
        size = self.size
        if size == MAX_SIZE:
            raise ValueError("the tree is full")
        hashes = self.hashes
        created: list[tuple[int, int, bytes]] = []
        node = leaf
        level = 0
        index = size
        while index & 1:
            node = _sha256(b"\x01" + hashes.pop() + node).digest()
            level += 1
            index >>= 1
            created.append((level, index, node))
        hashes.append(node)
        self.size = size + 1
        return created

    def root(self) -> bytes:
        hashes = self.hashes
        if not hashes:
            return EMPTY_ROOT
        folded = hashes[-1]
        for i in range(len(hashes) - 2, -1, -1):
            folded = _sha256(b"\x01" + hashes[i] + folded).digest()
        return folded


class MemoryTree:
    """Reference tree held whole in memory, every perfect node stored level by level, for tests and tools."""

    __slots__ = ("_levels",)

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf)} bytes long, a hash is {HASH_SIZE}")
        levels = self._levels
        levels[0].append(leaf)
        level = 0
        while not len(levels[level]) & 1:
            row = levels[level]
            level += 1
            if level == len(levels):
                levels.append([])
            levels[level].append(node_hash(row[-2], row[-1]))

    def node(self, level: int, index: int) -> bytes:
        levels = self._levels
        if not (0 <= level < len(levels) and 0 <= index < len(levels[level])):
            raise IndexError(f"no perfect node {level}/{index} in a tree of {self.size} leaves")
        return levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all of them by default)."""
        return root(self.size if size is None else size, self)
