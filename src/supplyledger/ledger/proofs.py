"""Inclusion proofs a client can check without the ledger: tx -> tx root -> signed header,
and the tx's receipt -> receipts root, so the proof also shows the outcome.

A proof names the proposer's public key; a client that knows the consortium's node keys
compares it with its own copy (``verify(..., trusted_keys=...)``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supplyledger.errors import CryptoError, ProofError, SupplyLedgerError
from supplyledger.ledger import merkle
from supplyledger.ledger.block import Header, SignedHeader
from supplyledger.ledger.crypto import PublicKey, b64d, b64e
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of

__all__ = ["FORMAT", "MAX_PATH", "ProofCheck", "make_proof", "verify_proof"]

FORMAT = "supplyledger-proof/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")
# A header's tx_count is at most 2**53-1, so an audit path has at most 53 hashes: a longer
# one is refused before its hashes are read.
MAX_PATH = 64
# The fields of each part of a proof ("": the document itself), as make_proof writes them.
_FIELDS = {"": frozenset({"format", "tx", "receipt", "block"}),
           "tx": frozenset({"id", "index", "raw", "path", "signer_key"}),
           "receipt": frozenset({"raw", "path"}),
           "block": frozenset({"header", "signature", "proposer_key"})}


def make_proof(*, header: bytes, signature: bytes, proposer_key: PublicKey, index: int,
               tx_raws: Sequence[bytes], receipts: Sequence[bytes],
               signer_key: PublicKey | None) -> dict[str, Any]:
    leaves = [merkle.leaf_hash(r) for r in tx_raws]
    rleaves = [merkle.leaf_hash(r) for r in receipts]
    raw = tx_raws[index]
    env_bytes, _ = envelope_bytes_of(raw)
    return {
        "format": FORMAT,
        "tx": {"id": hashlib.sha256(env_bytes).hexdigest(), "index": index,
               "raw": raw.decode("utf-8"),
               "path": [h.hex() for h in merkle.inclusion_proof(leaves, index)],
               "signer_key": signer_key.b64 if signer_key else None},
        "receipt": {"raw": receipts[index].decode("utf-8"),
                    "path": [h.hex() for h in merkle.inclusion_proof(rleaves, index)]},
        "block": {"header": decode(header), "signature": b64e(signature),
                  "proposer_key": proposer_key.b64},
    }


@dataclass(frozen=True)
class ProofCheck:
    tx_id: str
    height: int
    block_hash: str
    chain: str
    proposer: str
    ok: bool
    receipt: dict[str, Any]
    signer_verified: bool


def _hex64(value: Any, name: str) -> bytes:
    """A SHA-256 as the proof spells it: 64 lowercase hex digits, nothing else, so no
    edit of a proof file leaves it checking."""
    if type(value) is not str or not _HEX64.fullmatch(value):
        raise ProofError(f"malformed proof: {name} must hold 64 lowercase hex digits")
    return bytes.fromhex(value)


def _hashes(value: Any, name: str) -> list[bytes]:
    if type(value) is not list:
        raise ProofError(f"malformed proof: {name} must be a list")
    if len(value) > MAX_PATH:  # refused before any hash is read: a file may hold millions
        raise ProofError(f"malformed proof: {name} holds {len(value)} hashes; a path has at "
                         f"most {MAX_PATH}")
    return [_hex64(h, name) for h in value]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """``doc[name]``, an object with exactly the fields a proof gives it (the signer key
    may be absent): an unknown field would be carried along unchecked."""
    value = doc.get(name)
    if type(value) is not dict:
        raise ProofError(f"malformed proof: {name} must be an object")
    want = _FIELDS[name]
    missing = sorted(want - value.keys() - {"signer_key"})
    extra = sorted(value.keys() - want)
    if missing:
        raise ProofError(f"malformed proof: {name} lacks {', '.join(missing)}")
    if extra:
        raise ProofError(f"malformed proof: {name} has unknown fields "
                         + ", ".join(repr(k[:40]) for k in extra[:5]))
    return value


def _text(section: dict[str, Any], field: str, name: str) -> str:
    value = section[field]
    if type(value) is not str:
        raise ProofError(f"malformed proof: {name}.{field} must be a string")
    return value


def _utf8(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no bytes were hashed
        raise ProofError(f"malformed proof: {name} is not valid Unicode text") from None


def _key(text: str, name: str) -> PublicKey:
    try:
        return PublicKey.from_b64(text)
    except SupplyLedgerError as exc:
        raise ProofError(f"malformed proof: {name}: {exc.message}") from None


@dataclass(frozen=True)
class _Parsed:
    header: Header
    proposer_key: PublicKey
    signature: bytes
    index: int
    tx_id: bytes
    raw: bytes
    env_bytes: bytes
    sig_b64: str
    path: list[bytes]
    signer_key: PublicKey | None
    receipt_raw: bytes
    receipt: dict[str, Any]
    receipt_path: list[bytes]


def _parse(doc: Any) -> _Parsed:
    """Every field of ``doc`` read with its type checked, or a ProofError naming the first
    that is wrong: never another exception, whatever the file holds."""
    if type(doc) is not dict or doc.get("format") != FORMAT:
        raise ProofError(f"not a {FORMAT} document (a JSON object with \"format\": "
                         f"\"{FORMAT}\")")
    extra = sorted(doc.keys() - _FIELDS[""])
    if extra:
        raise ProofError("malformed proof: unknown fields "
                         + ", ".join(repr(k[:40]) for k in extra[:5]))
    block, tx, rc = _section(doc, "block"), _section(doc, "tx"), _section(doc, "receipt")
    try:
        header = Header.from_dict(block["header"])
    except SupplyLedgerError as exc:
        raise ProofError(f"malformed proof: {exc.message}") from None
    proposer_key = _key(_text(block, "proposer_key", "block"), "block.proposer_key")
    try:
        signature = b64d(_text(block, "signature", "block"))
    except CryptoError as exc:
        raise ProofError(f"malformed proof: block.signature: {exc.message}") from None
    index = tx["index"]
    if type(index) is not int:
        raise ProofError("malformed proof: tx.index must be an integer")
    if not 0 <= index < header.tx_count:
        shown = str(index) if abs(index) < 10**12 else f"of {len(str(abs(index)))} digits"
        raise ProofError(f"tx.index {shown} is outside the block's {header.tx_count} "
                         "transactions")
    tx_id = _hex64(tx["id"], "tx.id")
    raw = _utf8(_text(tx, "raw", "tx"), "tx.raw")
    path = _hashes(tx["path"], "tx.path")
    # Absent, null or "": the proof then claims nothing about who signed.
    skey = tx.get("signer_key")
    signer_key = None if skey is None or skey == "" else _key(
        _text(tx, "signer_key", "tx"), "tx.signer_key")
    receipt_raw = _utf8(_text(rc, "raw", "receipt"), "receipt.raw")
    receipt_path = _hashes(rc["path"], "receipt.path")
    try:
        env_bytes, sig_b64 = envelope_bytes_of(raw)
        receipt = decode(receipt_raw)
    except SupplyLedgerError as exc:
        raise ProofError(f"malformed proof: {exc.message}") from None
    if type(receipt) is not dict:
        raise ProofError("malformed proof: the receipt is not a JSON object")
    return _Parsed(header, proposer_key, signature, index, tx_id, raw, env_bytes, sig_b64,
                   path, signer_key, receipt_raw, receipt, receipt_path)


def verify_proof(doc: Any, *, trusted_keys: Sequence[str] | None = None) -> ProofCheck:
    """Check every link; raise :class:`ProofError` naming the first that fails."""
    p = _parse(doc)
    header, proposer_key, index, receipt = p.header, p.proposer_key, p.index, p.receipt
    if trusted_keys is not None and proposer_key.b64 not in trusted_keys:
        raise ProofError("the block's proposer key is not one of the trusted node keys")
    if proposer_key.did != header.proposer:
        raise ProofError("proposer key does not match the header's proposer id")
    try:
        SignedHeader(header, p.signature).verify(proposer_key)
    except SupplyLedgerError as exc:
        raise ProofError(f"header signature: {exc.message}") from None
    tx_id = hashlib.sha256(p.env_bytes).hexdigest()
    if tx_id != p.tx_id.hex():
        raise ProofError("transaction id is not the hash of its envelope")
    merkle.verify_inclusion(merkle.leaf_hash(p.raw), index, header.tx_count, p.path,
                            bytes.fromhex(header.tx_root))
    if receipt.get("tx") != tx_id:
        raise ProofError("receipt belongs to another transaction")
    try:
        merkle.verify_inclusion(merkle.leaf_hash(p.receipt_raw), index, header.tx_count,
                                p.receipt_path, bytes.fromhex(header.receipts_root))
    except ProofError as exc:
        raise ProofError(f"receipt: {exc.message}") from None
    signer_verified = False
    if p.signer_key is not None:
        try:
            p.signer_key.verify(b64d(p.sig_b64), p.env_bytes)
        except SupplyLedgerError as exc:
            raise ProofError(f"transaction signature: {exc.message}") from None
        signer_verified = True
    return ProofCheck(tx_id, header.height, header.hash, header.chain, header.proposer,
                      bool(receipt.get("ok")), receipt, signer_verified)
