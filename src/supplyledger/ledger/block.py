"""Block headers, receipts and the roots a header commits to.

Block hash = SHA-256 of the canonical header; the proposer signs those same bytes. The tx
root is the RFC 9162 tree over stored transaction bytes, the receipts root the tree over
canonical receipts, and the state root chains each block's sorted write set onto the
previous root, so two nodes that executed differently disagree at the first bad block.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from supplyledger.errors import InvalidSignature, ValidationError
from supplyledger.ledger import merkle
from supplyledger.ledger.crypto import PrivateKey, PublicKey
from supplyledger.ledger.encoding import MAX_INT, canonical, decode

__all__ = [
    "GENESIS_PREV",
    "HEADER_FIELDS",
    "VERSION",
    "Header",
    "SignedHeader",
    "receipt_bytes",
    "receipts_root",
    "state_root",
    "tx_root",
    "write_set_bytes",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")
VERSION = 1
GENESIS_PREV = "00" * 32
HEADER_FIELDS = (
    "version", "chain", "height", "prev", "time", "tx_root", "receipts_root", "state_root",
    "tx_count", "proposer",
)


@dataclass(frozen=True, slots=True)
class Header:
    chain: str
    height: int
    prev: str
    time: int
    tx_root: str
    receipts_root: str
    state_root: str
    tx_count: int
    proposer: str
    version: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in HEADER_FIELDS}

    def encode(self) -> bytes:
        return canonical(self.to_dict())

    @property
    def hash(self) -> str:
        return _header_hash(self)

    @classmethod
    def from_dict(cls, d: Any) -> Header:
        if type(d) is not dict or set(d) != set(HEADER_FIELDS):
            raise ValidationError(f"block header must have exactly the fields {HEADER_FIELDS}")
        for f in ("version", "height", "time", "tx_count"):
            if type(d[f]) is not int or not 0 <= d[f] <= MAX_INT:
                raise ValidationError(f"block header field {f} must be an integer from 0 to "
                                      "2**53-1")
        for f in ("prev", "tx_root", "receipts_root", "state_root"):
            if type(d[f]) is not str or not _HEX64.fullmatch(d[f]):
                raise ValidationError(f"block header field {f} must be 64 lowercase hex digits")
        for f in ("chain", "proposer"):
            if type(d[f]) is not str or not d[f]:
                raise ValidationError(f"block header field {f} must be a non-empty string")
        return cls(**d)

    @classmethod
    def decode(cls, data: bytes) -> Header:
        return _decode_header(bytes(data))


@lru_cache(maxsize=4096)
def _header_hash(header: Header) -> str:
    return hashlib.sha256(header.encode()).hexdigest()


@lru_cache(maxsize=4096)
def _decode_header(data: bytes) -> Header:
    # Keyed by the exact bytes, so an edited header is decoded (and checked) afresh; trace
    # queries and proofs decode the same recent headers over and over.
    return Header.from_dict(decode(data))


@dataclass(frozen=True, slots=True)
class SignedHeader:
    header: Header
    signature: bytes

    @classmethod
    def sign(cls, header: Header, key: PrivateKey) -> SignedHeader:
        return cls(header, key.sign(header.encode()))

    def verify(self, key: PublicKey) -> None:
        try:
            key.verify(self.signature, self.header.encode())
        except InvalidSignature:
            raise InvalidSignature(
                f"block {self.header.height}: proposer signature does not verify"
            ) from None


def tx_root(raws: Iterable[bytes]) -> str:
    return merkle.root([merkle.leaf_hash(r) for r in raws]).hex()


def receipt_bytes(receipt: dict[str, Any]) -> bytes:
    return canonical(receipt)


def receipts_root(receipt_blobs: Iterable[bytes]) -> str:
    return merkle.root([merkle.leaf_hash(r) for r in receipt_blobs]).hex()


def write_set_bytes(writes: Sequence[tuple[str, bytes | None]]) -> bytes:
    """Deterministic bytes of a sorted write set: key, then value bytes or a deletion mark."""
    h = hashlib.sha256()
    for key, value in writes:
        kb = key.encode()
        h.update(len(kb).to_bytes(4, "big") + kb)
        if value is None:
            h.update(b"\xff\xff\xff\xff")
        else:
            h.update(len(value).to_bytes(4, "big") + value)
    return h.digest()


def state_root(prev_root: str, writes: Sequence[tuple[str, bytes | None]]) -> str:
    """``writes`` must be sorted by key with one entry per key."""
    return hashlib.sha256(bytes.fromhex(prev_root) + write_set_bytes(writes)).hexdigest()
