"""The verifiable log: every seal event in one RFC 9162 Merkle tree, published as C2SP checkpoints and tiles."""
