"""RFC 9162 / RFC 6962 Merkle trees: published CT vectors and a recursive reference.

The reference below is written straight from the RFC's recursive definitions (MTH in
2.1.1, PATH in 2.1.3.1); the module under test builds trees bottom-up instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from supplyledger.errors import ProofError
from supplyledger.ledger import merkle

# Certificate Transparency's test tree (RFC 6962 test data, as published in CT's
# merkle_tree_test and transparency-dev/merkle testonly): leaves and roots of sizes 1..8.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# Published inclusion proofs in the same tree of size 8.
CT_PROOFS = {
    0: ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
    5: ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"],
}


# -- reference implementation (RFC 9162 2.1) ---------------------------------------------------

def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(data: Sequence[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + data[0])
    k = _split(n)
    return _h(b"\x01" + ref_mth(data[:k]) + ref_mth(data[k:]))


def ref_path(m: int, data: Sequence[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, data[:k]), ref_mth(data[k:])]
    return [*ref_path(m - k, data[k:]), ref_mth(data[:k])]


def ref_root_from_path(leaf: bytes, m: int, n: int, path: Sequence[bytes]) -> bytes | None:
    """Rebuild the root of a size-n tree from leaf m's hash and a path; None if the path has
    the wrong length for that position."""
    if not 0 <= m < n:
        return None
    if n == 1:
        return leaf if not path else None
    if not path:
        return None
    k = _split(n)
    if m < k:
        sub = ref_root_from_path(leaf, m, k, path[:-1])
        return None if sub is None else _h(b"\x01" + sub + path[-1])
    sub = ref_root_from_path(leaf, m - k, n - k, path[:-1])
    return None if sub is None else _h(b"\x01" + path[-1] + sub)


def _data(n: int) -> list[bytes]:
    return [bytes([i % 256]) * (i % 7) + i.to_bytes(2, "big") for i in range(n)]


def _flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _accepts(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    try:
        merkle.verify_inclusion(leaf, index, size, path, root)
    except ProofError:
        return False
    return True


# -- tree heads -------------------------------------------------------------------------------

def test_reference_reproduces_the_published_ct_roots() -> None:
    # The reference and the published data agree, so both can be trusted below.
    for n in range(1, 9):
        assert ref_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n - 1]
    for m, proof in CT_PROOFS.items():
        assert [p.hex() for p in ref_path(m, CT_LEAVES)] == proof


@pytest.mark.parametrize("n", range(1, 9))
def test_ct_roots(n: int) -> None:
    leaves = [merkle.leaf_hash(d) for d in CT_LEAVES[:n]]
    assert merkle.root(leaves).hex() == CT_ROOTS[n - 1]


def test_empty_root_is_sha256_of_nothing() -> None:
    want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.EMPTY_ROOT.hex() == want
    assert merkle.root([]).hex() == want


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert merkle.leaf_hash(b"").hex() == CT_ROOTS[0]
    a, b = merkle.leaf_hash(b""), merkle.leaf_hash(b"\x00")
    assert merkle.node_hash(a, b).hex() == CT_ROOTS[1]
    # A leaf whose data looks like two child hashes must not hash like the interior node.
    assert merkle.leaf_hash(a + b) != merkle.node_hash(a, b)


@pytest.mark.parametrize("m", sorted(CT_PROOFS))
def test_ct_inclusion_proofs(m: int) -> None:
    leaves = [merkle.leaf_hash(d) for d in CT_LEAVES]
    proof = merkle.inclusion_proof(leaves, m)
    assert [p.hex() for p in proof] == CT_PROOFS[m]
    merkle.verify_inclusion(leaves[m], m, 8, proof, bytes.fromhex(CT_ROOTS[7]))


def test_roots_and_paths_match_the_reference_for_sizes_1_to_40() -> None:
    for n in range(1, 41):
        data = _data(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        assert merkle.root(leaves) == ref_mth(data), n
        for m in range(n):
            assert merkle.inclusion_proof(leaves, m) == ref_path(m, data), (n, m)


# -- inclusion proofs -------------------------------------------------------------------------

def test_every_inclusion_proof_of_sizes_1_to_40_verifies_and_every_tamper_fails() -> None:
    checked = size_tampers_rejected = 0
    for n in range(1, 41):
        data = _data(n)
        leaves = [merkle.leaf_hash(d) for d in data]
        root = ref_mth(data)
        for m in range(n):
            path = ref_path(m, data)
            leaf = leaves[m]
            merkle.verify_inclusion(leaf, m, n, path, root)
            # One flipped bit in the leaf, in each path element, in the root.
            bit = (7 * n + 13 * m) % 256
            assert not _accepts(_flip(leaf, bit), m, n, path, root)
            assert not _accepts(leaf, m, n, path, _flip(root, bit))
            for j in range(len(path)):
                bad = list(path)
                bad[j] = _flip(path[j], (bit + 31 * j) % 256)
                assert not _accepts(leaf, m, n, bad, root), (n, m, j)
            # Every single-bit change of the index (up to bit 7) is rejected.
            for b in range(8):
                assert not _accepts(leaf, m ^ (1 << b), n, path, root), (n, m, b)
            # A changed size is rejected unless the path has exactly the same shape in a
            # tree of that size (then the RFC's algorithm must accept it too): follow the
            # reference rather than guess.
            for b in range(8):
                n2 = n ^ (1 << b)
                expected = ref_root_from_path(leaf, m, n2, path) == root
                assert _accepts(leaf, m, n2, path, root) == expected, (n, m, n2)
                size_tampers_rejected += not expected
            # A path one element too short or too long.
            if path:
                assert not _accepts(leaf, m, n, path[:-1], root)
            assert not _accepts(leaf, m, n, [*path, root], root)
            checked += 1
    assert checked == sum(range(1, 41))
    # Most size changes really are caught (the rest keep the path's shape, as above).
    assert size_tampers_rejected > checked * 8 // 2


def test_every_bit_of_one_proof_is_load_bearing() -> None:
    leaves = [merkle.leaf_hash(d) for d in CT_LEAVES]
    m, root = 5, bytes.fromhex(CT_ROOTS[7])
    path = merkle.inclusion_proof(leaves, m)
    for bit in range(256):
        assert not _accepts(_flip(leaves[m], bit), m, 8, path, root)
        assert not _accepts(leaves[m], m, 8, path, _flip(root, bit))
        for j in range(len(path)):
            bad = list(path)
            bad[j] = _flip(path[j], bit)
            assert not _accepts(leaves[m], m, 8, bad, root)


def test_a_path_from_another_leaf_or_tree_does_not_verify() -> None:
    data = _data(11)
    leaves = [merkle.leaf_hash(d) for d in data]
    root = merkle.root(leaves)
    assert not _accepts(leaves[3], 3, 11, merkle.inclusion_proof(leaves, 4), root)
    assert not _accepts(leaves[3], 3, 11, merkle.inclusion_proof(leaves[:10], 3), root)
    assert not _accepts(leaves[3], 4, 11, merkle.inclusion_proof(leaves, 3), root)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 1), (-1, 5), (5, 5), (9, 3)])
def test_out_of_range_positions_are_proof_errors(index: int, size: int) -> None:
    leaves = [merkle.leaf_hash(d) for d in _data(max(size, 0))]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(b"\x00" * 32, index, size, [], merkle.root(leaves))
    with pytest.raises(ProofError):
        merkle.inclusion_proof(leaves, index)
