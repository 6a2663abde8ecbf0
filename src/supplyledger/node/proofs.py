"""Assemble an inclusion proof for a committed transaction from the store."""

from __future__ import annotations

import re
from typing import Any

from supplyledger.errors import NotFound, ValidationError
from supplyledger.ledger.block import Header
from supplyledger.ledger.crypto import PublicKey, b64d
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.proofs import make_proof
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["proof_for"]

_TX_ID = re.compile(r"[0-9a-fA-F]{64}")


def _key_of(store: SQLiteStore, did: str) -> PublicKey | None:
    raw = store.get_state(f"identity/p/{did}")
    return None if raw is None else PublicKey.from_b64(decode(raw)["key"])


def proof_for(store: SQLiteStore, tx_id: str) -> dict[str, Any]:
    """The proof of committed transaction ``tx_id``: ValidationError when the text cannot be
    a transaction id, NotFound when no block holds it."""
    if not _TX_ID.fullmatch(tx_id):
        shown = tx_id if len(tx_id) <= 80 else tx_id[:64] + f"… ({len(tx_id)} characters)"
        raise ValidationError(f"{shown!r} is not a transaction id (64 hexadecimal digits)")
    tx_id = tx_id.lower()  # ids are stored in lower case; one copied in upper case is the same
    loc = store.tx_location(tx_id)
    if loc is None:
        raise NotFound(f"no committed transaction {tx_id}")
    height, index = loc
    if height == 0:
        raise NotFound("block 0 holds the genesis document, not a signed transaction")
    blk = store.block(height)
    if blk is None:
        raise NotFound(f"block {height} is missing")
    _, header_bytes, signature = blk
    header = Header.decode(header_bytes)
    txs = store.block_txs(height)
    proposer = _key_of(store, header.proposer)
    if proposer is None:
        raise NotFound(f"proposer {header.proposer} is not registered")
    raws = [t[2] for t in txs]
    env_bytes, sig_b64 = envelope_bytes_of(raws[index])
    # The signer's current key; omitted if it has rotated since (the proof then still shows
    # inclusion, just not who signed).
    signer_key = _key_of(store, decode(env_bytes)["signer"])
    if signer_key is not None and not signer_key.is_valid(b64d(sig_b64), env_bytes):
        signer_key = None
    return make_proof(header=header_bytes, signature=signature, proposer_key=proposer,
                      index=index, tx_raws=raws, receipts=[t[3] for t in txs],
                      signer_key=signer_key)
