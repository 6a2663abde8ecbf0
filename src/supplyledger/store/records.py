"""Plain records passed between the node and the store."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockRecord", "TxRow"]


@dataclass(frozen=True, slots=True)
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
