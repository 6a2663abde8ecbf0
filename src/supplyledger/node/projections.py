"""Projection rows from blocks: replay each receipt's events through the contracts'
projectors. Rebuilds use it when a table's declared schema changes (the node drops and
refills it on start), the audit mirrors it (rebuilding into memory and comparing), and the
commit process projects each new block this way (:func:`block_op_rows`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

from supplyledger.contracts.executor import project_events
from supplyledger.contracts.projection import EventMeta, Op
from supplyledger.contracts.runtime import Contract, call_from_env
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.tx import envelope_bytes_of
from supplyledger.node.genesis import GENESIS_SIGNER
from supplyledger.store.sqlite import OpRow, SQLiteStore, op_row

__all__ = ["block_op_rows", "prepared_methods", "projection_ops", "rebuild_projections"]


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


def block_op_rows(contracts: Mapping[str, Contract], txs: list[tuple[Any, ...]],
                  times: list[int], prepared: Mapping[int, Any]) -> list[OpRow]:
    """The projection rows of one block, from its transaction rows (:func:`~supplyledger.
    store.sqlite.block_rows`) and their signed times: each successful receipt's events
    with the call's value, which ``prepared`` holds by index for methods with a prepare
    step and is otherwise the arguments, decoded only if a projector reads them. The rows
    the executor makes while executing (tests/commerce/test_review25_commit_projection.py)."""
    out: list[OpRow] = []
    for _pos, tx_id, height, index, raw, signer, _c, _m, ok, receipt in txs:
        if not ok:
            continue
        events = decode(receipt).get("events")
        if not events:
            continue
        if index in prepared:
            meta = EventMeta(tx_id, height, index, signer, times[index], prepared[index])
        else:
            meta = EventMeta(tx_id, height, index, signer, times[index], None,
                             partial(_args_of, raw))
        out.extend(map(op_row, project_events(contracts, events, meta)))
    return out


def prepared_methods(contracts: Mapping[str, Contract]) -> frozenset[tuple[str, str]]:
    """(contract, method) of every method with a prepare step: :func:`block_op_rows` needs
    their calls' prepared values, which a block does not hold."""
    return frozenset((c.name, m.name) for c in contracts.values() for m in c.methods.values()
                     if m.prepare is not None or m.prepare_part is not None)


def _args_of(raw: bytes) -> Any:
    return decode(envelope_bytes_of(raw)[0])["args"]
