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

from supplyledger.errors import ProofError, SupplyLedgerError
from supplyledger.ledger import merkle
from supplyledger.ledger.block import Header, SignedHeader
from supplyledger.ledger.crypto import PublicKey, b64d, b64e
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of

__all__ = ["FORMAT", "ProofCheck", "make_proof", "verify_proof"]

FORMAT = "supplyledger-proof/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


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
    return [_hex64(h, name) for h in value]


def verify_proof(doc: Any, *, trusted_keys: Sequence[str] | None = None) -> ProofCheck:
    """Check every link; raise :class:`ProofError` naming the first that fails."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProofError(f"not a {FORMAT} document (a JSON object with \"format\": "
                         f"\"{FORMAT}\")")
    try:
        header = Header.from_dict(doc["block"]["header"])
        proposer_key = PublicKey.from_b64(doc["block"]["proposer_key"])
        sig = b64d(doc["block"]["signature"])
        tx, rc = doc["tx"], doc["receipt"]
        raw = tx["raw"].encode("utf-8")
        receipt_raw = rc["raw"].encode("utf-8")
        index = tx["index"]
        if type(index) is not int:
            raise ProofError("malformed proof: tx.index must be an integer")
        claimed_id = _hex64(tx["id"], "tx.id")
        path = _hashes(tx["path"], "tx.path")
        rpath = _hashes(rc["path"], "receipt.path")
        env_bytes, sig_b64 = envelope_bytes_of(raw)
        receipt = decode(receipt_raw)
        if not isinstance(receipt, dict):
            raise ProofError("malformed proof: the receipt is not a JSON object")
        skey = PublicKey.from_b64(tx["signer_key"]) if tx.get("signer_key") else None
    except ProofError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, SupplyLedgerError) as exc:
        raise ProofError(f"malformed proof: {getattr(exc, 'message', exc)}") from None
    if trusted_keys is not None and proposer_key.b64 not in trusted_keys:
        raise ProofError("the block's proposer key is not one of the trusted node keys")
    if proposer_key.did != header.proposer:
        raise ProofError("proposer key does not match the header's proposer id")
    try:
        SignedHeader(header, sig).verify(proposer_key)
    except SupplyLedgerError as exc:
        raise ProofError(f"header signature: {exc.message}") from None
    tx_id = hashlib.sha256(env_bytes).hexdigest()
    if tx_id != claimed_id.hex():
        raise ProofError("transaction id is not the hash of its envelope")
    merkle.verify_inclusion(merkle.leaf_hash(raw), index, header.tx_count, path,
                            bytes.fromhex(header.tx_root))
    if receipt.get("tx") != tx_id:
        raise ProofError("receipt belongs to another transaction")
    try:
        merkle.verify_inclusion(merkle.leaf_hash(receipt_raw), index, header.tx_count, rpath,
                                bytes.fromhex(header.receipts_root))
    except ProofError as exc:
        raise ProofError(f"receipt: {exc.message}") from None
    signer_verified = False
    if skey is not None:
        try:
            skey.verify(b64d(sig_b64), env_bytes)
        except SupplyLedgerError as exc:
            raise ProofError(f"transaction signature: {exc.message}") from None
        signer_verified = True
    return ProofCheck(tx_id, header.height, header.hash, header.chain, header.proposer,
                      bool(receipt.get("ok")), receipt, signer_verified)
