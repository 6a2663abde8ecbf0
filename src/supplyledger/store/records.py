"""Plain records passed between the node and the store."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockRecord", "TxRow"]


# Not frozen: one per transaction is made on the node's busiest threads, and a frozen
# dataclass's __init__ costs five times as much. Nothing mutates them.
@dataclass(slots=True)
class TxRow:
    id: str
    index: int
    raw: bytes
    signer: str
    contract: str
    method: str
    ok: bool
    receipt: bytes


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    hash: str
    header: bytes
    signature: bytes
    time: int
    txs: tuple[TxRow, ...]
