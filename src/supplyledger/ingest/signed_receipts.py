"""Signed device receipts: what the MQTT bridge answers, and how a device tells it is genuine.

The broker is transport only and anyone who can reach it may publish on a device's receipts
topic, so an answer proves nothing by where it arrives. The bridge signs every answer with
the node's key (the key that signs its blocks, registered on the chain with the role
``node``); a device given that public key (``supplyledger keys show DIR/node.key``) checks
the signature and ignores anything else. Design decisions:

* The signature covers ``DOMAIN + canonical(answer without "sig")``: canonical encoding
  makes the check independent of how the JSON was laid out in transit, and the domain tag
  means no receipt signature can ever be taken for a block-header signature by the same key
  (and no header signature for a receipt).
* The answer names the device of the topic it was published on; a device accepts only
  answers naming itself, so a genuine answer cannot be replayed onto another device.
* Small: the receipt's ``tx``, ``height``, ``index``, ``ok`` and ``result`` or ``error``
  (the contract's events stay on the ledger), ``device`` and ``sig`` (88 characters with an
  Ed25519 node key, 344 with RSA-2048). A Merkle proof would add nothing for a device that
  trusts the node's key; an auditor who does not can ask ``supplyledger proof`` for one.
* An answer is *committed* when it has a block ``height``: the batch is on the ledger (its
  contract call succeeded or failed, either way for good), and the transaction id names
  it. A refusal is about the bytes that arrived, and the id hashes only the envelope: a
  copy of a batch with a broken signature has the batch's id. So a refusal also carries
  ``digest``, the SHA-256 of the refused bytes, and a device takes it for its batch only
  if that is the digest of what it sent (:func:`answers`). A refusal with a code in
  :data:`RETRY_CODES` says "not now" (node overloaded or stopping, the bridge failed, or
  the same batch is still in flight): the device sends the batch again later. Any other
  refusal is final for those signed bytes (bad signature, unknown device, stale time...).
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.errors import CryptoError, EncodingError
from supplyledger.ledger.crypto import PrivateKey, PublicKey, b64d, b64e
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.node.receipts import Receipt

__all__ = ["DOMAIN", "RETRY_CODES", "answers", "committed", "digest", "open_answer",
           "receipt_answer", "retryable", "sign_answer"]

DOMAIN = b"supplyledger/device-receipt/v1\n"
# Refusals that say nothing about the batch itself: the same bytes may be committed later.
# ``replayed_tx`` reaches a device only while the first copy's block is still being written
# (the bridge answers a duplicate of a committed batch with that batch's receipt).
RETRY_CODES = frozenset({"replayed_tx", "overloaded", "node_stopped", "node_error",
                         "ingest_error"})


def receipt_answer(receipt: Receipt) -> dict[str, Any]:
    """The device's view of a committed receipt: outcome and place, without the events."""
    data = receipt.data
    out: dict[str, Any] = {"tx": receipt.tx_id, "height": receipt.height,
                           "index": receipt.index, "ok": receipt.ok}
    if "result" in data:
        out["result"] = data["result"]
    if "error" in data:
        out["error"] = data["error"]
    return out


def sign_answer(key: PrivateKey, device: str, doc: dict[str, Any]) -> bytes:
    """Canonical bytes of ``doc`` for ``device``, signed with the node's ``key``. Raises
    :class:`EncodingError` if ``doc`` is outside the canonical subset."""
    body = {k: v for k, v in doc.items() if k != "sig"}
    body["device"] = device
    sig = key.sign(DOMAIN + canonical(body))
    return canonical({**body, "sig": b64e(sig)})


def open_answer(node: PublicKey, device: str, payload: bytes) -> dict[str, Any] | None:
    """The answer (without ``sig``) if ``payload`` is signed by ``node`` for ``device``;
    None for anything else (unsigned, signed by another key, altered, another device's)."""
    try:
        doc = decode(payload)
        if type(doc) is not dict or doc.get("device") != device:
            return None
        sig = doc.pop("sig", None)
        if type(sig) is not str:
            return None
        node.verify(b64d(sig), DOMAIN + canonical(doc))
    except (EncodingError, CryptoError):  # InvalidSignature is a CryptoError
        return None
    return doc


def committed(doc: dict[str, Any]) -> bool:
    return type(doc.get("height")) is int


def digest(payload: bytes) -> str:
    """What a refusal names the refused bytes by."""
    return hashlib.sha256(payload).hexdigest()


def answers(doc: dict[str, Any], sent_digest: str) -> bool:
    """Whether ``doc``, naming a transaction, answers the bytes of ``sent_digest``: a
    committed receipt answers every copy; a refusal only the copy it refused."""
    return committed(doc) or doc.get("digest") == sent_digest


def retryable(doc: dict[str, Any]) -> bool:
    err = doc.get("error")
    return (not committed(doc) and isinstance(err, dict)
            and err.get("code") in RETRY_CODES)
