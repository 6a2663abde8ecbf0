"""Rebuild projection tables from blocks: replay each receipt's events through the
contracts' projectors. Used when a table's declared schema changes (the node drops and
refills it on start) and mirrored by the audit, which rebuilds into memory and compares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from supplyledger.contracts.executor import project_events
from supplyledger.contracts.projection import EventMeta, Op
from supplyledger.contracts.runtime import Contract, call_from_env
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.genesis import GENESIS_SIGNER
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["projection_ops", "rebuild_projections"]


def projection_ops(store: SQLiteStore, contracts: Mapping[str, Contract]) -> Iterator[Op]:
    """Every projection operation the committed blocks produce, in order."""
    for height, _hash, header, _sig, txs in store.iter_blocks():
        time = decode(header)["time"]
        for tx_id, index, raw, receipt_bytes in txs:
            receipt = decode(receipt_bytes)
            if not receipt.get("ok"):
                continue
            if height == 0:
                meta = EventMeta(tx_id, 0, index, GENESIS_SIGNER, time, {})
            else:
                env = decode(envelope_bytes_of(raw)[0])
                call = call_from_env(contracts, tx_id, env, raw)
                meta = EventMeta(tx_id, height, index, call.signer, call.time, call.value)
            yield from project_events(contracts, receipt.get("events", []), meta)


def rebuild_projections(store: SQLiteStore, contracts: Mapping[str, Contract],
                        names: list[str]) -> None:
    if names:
        store.replace_projections(names, projection_ops(store, contracts))
