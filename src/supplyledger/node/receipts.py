"""What a submitter gets back once its transaction's block is durable."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from supplyledger.ledger.encoding import decode

__all__ = ["Receipt", "committed_receipt"]


@dataclass(frozen=True, init=False)
class Receipt:
    tx_id: str
    height: int
    index: int
    raw: bytes
    ok: bool  # as executed, so that checking it needs no decoding of ``raw``

    def __init__(self, tx_id: str, height: int, index: int, raw: bytes, ok: bool) -> None:
        # One update of the instance dict instead of the frozen dataclass's five
        # object.__setattr__ calls (the committer makes a receipt per transaction).
        self.__dict__.update(tx_id=tx_id, height=height, index=index, raw=raw, ok=ok)

    @cached_property
    def data(self) -> dict[str, Any]:
        d: dict[str, Any] = decode(self.raw)
        return d

    @property
    def result(self) -> Any:
        return self.data.get("result")

    @property
    def error(self) -> dict[str, Any] | None:
        e: dict[str, Any] | None = self.data.get("error")
        return e

    def to_dict(self) -> dict[str, Any]:
        return {"tx": self.tx_id, "height": self.height, "index": self.index, **self.data}


def committed_receipt(store: Any, tx_id: str) -> Receipt | None:
    """The committed receipt of ``tx_id`` in a node's ``store`` (a
    :class:`~supplyledger.store.sqlite.SQLiteStore`), or None: what a device that sent a
    batch again (it missed the answer) is given, over MQTT or HTTP."""
    row = store.txs_by_id([tx_id]).get(tx_id)
    if row is None:
        return None
    height, index, _raw, rec = row
    return Receipt(tx_id, height, index, rec, ok=decode(rec).get("ok") is True)
