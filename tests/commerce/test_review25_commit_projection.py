"""The commit process projects each block from what the block records
(``node/projections.block_op_rows``); the executor skips projecting in such a node. The rows
must be exactly the executor's, for every kind of call, or the query tables would differ
between a node with worker processes and one without (the audit compares both with a
rebuild: tests/commerce/test_experiment_bench.py, tests/core/test_node.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from supplyledger.bench.orders import run_orders_bench
from supplyledger.contracts.executor import BlockResult
from supplyledger.contracts.projection import EventMeta
from supplyledger.ledger.encoding import canonical
from supplyledger.node.projections import block_op_rows, prepared_methods
from supplyledger.store.readonly import open_file_readonly
from supplyledger.store.sqlite import DB_NAME, op_row

from .conftest import CONTRACTS, Cast

PREPARED = prepared_methods(CONTRACTS)


def _raw(call: Any) -> bytes:
    """Stored transaction bytes carrying the call's arguments (the signature is not read);
    for a prepared call, arguments other than its value: projecting must not read them."""
    prepared = (call.contract, call.method) in PREPARED
    env = {"args": {"not": "the prepared value"} if prepared else call.value,
           "chain": call.chain, "contract": call.contract, "method": call.method,
           "nonce": call.tx_id, "signer": call.signer, "time": call.time}
    return canonical({"env": env, "sig": "AA=="})


def _check_every_block(cast: Cast) -> list[int]:
    """Make the world's executor compare, block by block, its own projection rows with the
    commit process's; returns the number of rows compared per block."""
    ex, counts = cast.w.exec, []
    real = ex.execute

    def execute(txs: Any, *, height: int, key_ok: Any = None) -> BlockResult:
        res = real(txs, height=height, key_ok=key_ok)
        rows = [(height << 20 | i, t.tx_id, height, i, _raw(t), t.signer, t.contract,
                 t.method, int(ok), r)
                for i, (t, r, ok) in enumerate(zip(res.included, res.receipts, res.oks,
                                                   strict=True))]
        times = [t.time for t in res.included]
        prepared = {i: t.value for i, t in enumerate(res.included)
                    if (t.contract, t.method) in PREPARED}
        expected = [op_row(op) for op in res.ops]
        assert block_op_rows(CONTRACTS, rows, times, prepared) == expected
        counts.append(len(expected))
        return res

    ex.execute = execute  # type: ignore[method-assign]
    return counts


def test_commit_side_rows_equal_the_executors_for_order_lifecycles(cast: Cast) -> None:
    counts = _check_every_block(cast)
    w = cast.w
    batch = w.batch(cast.seller, 7)
    cast.fund(cast.buyer, 10_000_000)
    for oid in ("a", "b", "c"):
        b = batch if oid == "a" else w.batch(cast.seller, 7, lot=f"L-{oid}")
        assert cast.place(oid, b)["ok"]
    # dispatch (prepared), hand-overs and delivery (not prepared), confirmation and release
    w.ok(cast.seller, "orders", "dispatch", {"order": "a", "transporter": cast.carrier,
                                             "transport_no": "T-1"})
    w.ok(cast.carrier, "orders", "pickup", {"order": "a"})
    w.ok(cast.carrier, "orders", "deliver", {"order": "a", "proof": "pod"})
    w.ok(cast.buyer, "orders", "confirm", {"order": "a"})
    w.ok(cast.buyer, "ratings", "rate", {"order": "a", "score": 5, "transporter_score": 4})
    w.ok(cast.buyer, "orders", "cancel", {"order": "b"})
    w.ok(cast.seller, "orders", "dispatch", {"order": "c", "transporter": cast.carrier,
                                             "transport_no": "T-3"})
    w.ok(cast.carrier, "orders", "pickup", {"order": "c"})
    w.ok(cast.carrier, "orders", "deliver", {"order": "c", "proof": "pod"})
    w.ok(cast.buyer, "orders", "dispute", {"order": "c", "reason": "dented"})
    w.ok(cast.arbiter, "orders", "resolve", {"order": "c", "refund": 5_000, "freight_paid": 500,
                                             "at_fault": "seller", "ownership": "seller"})
    w.fail("invalid_state", cast.buyer, "orders", "confirm", {"order": "a"})
    assert len(counts) > 20 and sum(counts) > 40  # setup, lifecycle and failures compared
    assert counts[-1] == 0  # the refused confirmation projects nothing


def test_a_meta_loads_the_arguments_only_when_a_projector_reads_them() -> None:
    loads: list[int] = []

    def load() -> dict[str, Any]:
        loads.append(1)
        return {"order": "x"}

    meta = EventMeta("t", 1, 0, "did:sl:a", 5, None, load)
    assert (meta.tx, meta.height, meta.index, meta.signer, meta.time) == (
        "t", 1, 0, "did:sl:a", 5)
    assert loads == []
    assert meta.args == {"order": "x"} and meta.args == {"order": "x"}
    assert loads == [1]  # once
    assert EventMeta("t", 1, 0, "s", 5, {"given": 1}).args == {"given": 1}


def test_a_node_with_a_commit_process_fills_the_query_tables(tmp_path: Path) -> None:
    res = run_orders_bench(lifecycles=12, window=6, buyers=2, sellers=2, carriers=2,
                           verify_workers=1, data_dir=tmp_path)
    assert res["failed"] == 0
    conn = open_file_readonly(tmp_path / "ledger" / DB_NAME)
    try:
        states = conn.execute("SELECT state, count(*) FROM orders GROUP BY state").fetchall()
        events = conn.execute("SELECT count(*) FROM order_events").fetchone()[0]
    finally:
        conn.close()
    assert states == [("completed", 12)] and events == 12 * 5
