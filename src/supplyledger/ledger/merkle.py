"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashes and inclusion proofs.

MTH({})  = SHA-256()
MTH({d}) = SHA-256(0x00 || d)
MTH(D)   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n.

Building bottom-up and promoting an unpaired last node unchanged yields exactly that
left-balanced tree, without recursion.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from supplyledger.errors import ProofError

__all__ = ["EMPTY_ROOT", "inclusion_proof", "leaf_hash", "node_hash", "root", "verify_inclusion"]

_sha = hashlib.sha256
EMPTY_ROOT = _sha(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return _sha(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha(b"\x01" + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    out = [_sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        out.append(level[-1])
    return out


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Tree head over already-hashed leaves."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` (RFC 9162 §2.1.3.1), bottom first."""
    if not 0 <= index < len(leaf_hashes):
        raise ProofError(f"leaf index {index} outside tree of size {len(leaf_hashes)}")
    path: list[bytes] = []
    level = list(leaf_hashes)
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = _next_level(level)
        i //= 2
    return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes
) -> None:
    """RFC 9162 §2.1.3.2 verification; raises :class:`ProofError` on any mismatch."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != expected_root:
        raise ProofError("inclusion proof does not lead to the signed root")
