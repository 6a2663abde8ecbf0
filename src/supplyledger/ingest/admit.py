"""The check every ingest entry point (MQTT bridge, HTTP endpoint) makes before the node.

Entry points for devices take only ``sensors.record`` transactions: anything else has its
own endpoint (``POST /api/tx``), and refusing it here keeps a device channel from becoming a
general submission path. The signature, signer and contract rules are the node's to check.
"""

from __future__ import annotations

from supplyledger.errors import ValidationError
from supplyledger.ledger.tx import SignedTx, parse_tx

__all__ = ["CONTRACT", "METHOD", "check_reading", "reading_tx"]

CONTRACT, METHOD = "sensors", "record"


def check_reading(tx: SignedTx, device: str | None = None) -> SignedTx:
    """Refuse (:class:`ValidationError`) a parsed transaction that is not a
    ``sensors.record`` batch, or (when the channel names a device) not signed by it."""
    if (tx.contract, tx.method) != (CONTRACT, METHOD):
        raise ValidationError(f"devices submit {CONTRACT}.{METHOD} transactions here, not "
                              f"{tx.contract}.{tx.method}")
    if device is not None and tx.signer != device:
        raise ValidationError(f"the transaction is signed by {tx.signer}, not by the device "
                              f"{device} the channel names")
    return tx


def reading_tx(raw: bytes, *, max_bytes: int, device: str | None = None) -> SignedTx:
    """Parse ``raw`` and :func:`check_reading` it (parse errors propagate as they are)."""
    return check_reading(parse_tx(raw, max_bytes=max_bytes), device)
