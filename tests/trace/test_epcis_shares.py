"""A large capture is prepared in shares by both verifier processes: the recorded facts,
errors and audit must be exactly those of preparing it whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import build_flour_mill, object_event
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import prepare_call
from supplyledger.epcis.bench import typical_document
from supplyledger.errors import EPCISValidationError, NodeError
from supplyledger.node.audit import run_audit
from supplyledger.node.epcis_ingest import capture_args, capture_document, capture_tx
from supplyledger.node.verifier import OK, SKIPPED, UNKNOWN, merge_shares
from supplyledger.store.sqlite import SQLiteStore

from .conftest import sql

CONTRACTS = load_builtin()


def _whole_and_shares(doc_events: int, n: int) -> tuple[Any, list[Any]]:
    doc = typical_document(doc_events, seed=5)
    args = {"events": json.dumps(doc["epcisBody"]["eventList"]),
            "namespaces": doc["@context"][1]}
    whole = prepare_call(CONTRACTS, "trace", "record_events", args)
    return whole, [prepare_call(CONTRACTS, "trace", "record_events", args, (i, n))
                   for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 7])
def test_shares_merge_into_the_whole_prepared_value(n: int) -> None:
    (whole, err), shares = _whole_and_shares(5, n)  # 7 shares of 5 events: some empty
    assert err is None and all(e is None for _, e in shares)
    fields = ("did:sl:x", "trace", "record_events", 1, "c")
    answers = [[(OK, "t", b"k", None, None, (*fields, v, None))] for v, _ in shares]
    merged = merge_shares(CONTRACTS, answers)
    assert merged == [(OK, "t", b"k", None, None, (*fields, whole, None))]


def test_a_failed_share_or_a_stale_worker_leaves_the_node_to_settle() -> None:
    fields = ("did:sl:x", "trace", "record_events", 1, "c")
    ok = (OK, "t", b"k", None, None, (*fields, {"items": []}, None))
    failed = (OK, "t", b"k", None, None, (*fields, None, {"code": "epcis_invalid",
                                                         "message": "share 1"}))
    unknown = (UNKNOWN, "t", b"", None, None, None)
    for answers in ([[ok], [failed]], [[ok], [unknown]]):
        assert merge_shares(CONTRACTS, answers)[0][0] == UNKNOWN
    # a method that does not split: worker 0 prepared it whole, the others skipped
    assert merge_shares(CONTRACTS, [[ok], [(SKIPPED, "t", b"k", None, None, None)]]) == [ok]


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Consortium]:
    # Every transaction counts as large here, so every one goes to both workers: the
    # whole flour-mill chain runs through the shared path, splittable or not.
    c = Consortium(tmp_path / "ledger", verify_workers=2, split_tx_bytes=1,
                   max_tx_bytes=8 << 20, time_window_ms=24 * 3_600_000)
    yield c
    c.stop()


def test_captures_prepared_in_shares_audit_clean(shared: Consortium) -> None:
    mill = build_flour_mill(shared)
    c, shop = mill.c, mill.parties["shop"]
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
           "type": "EPCISDocument", "schemaVersion": "2.0",
           "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": [
               object_event(f"2020-01-01T00:00:{i:02d}Z", "storing", "active", mill.flour)
               for i in range(9)]}}
    cap = capture_document(c.node, doc, shop.key)
    assert cap.events == 9
    big = capture_document(c.node, typical_document(40, seed=3), shop.key)
    assert big.events == 40
    # A document with bad events gets the error the whole prepare step gives.
    bad = typical_document(6, seed=4)
    bad["epcisBody"]["eventList"][4]["bizStep"] = "urn:epcglobal:cbv:bizstep:no_such"
    captured = sql(c, "SELECT COUNT(*) FROM txs WHERE method='record_events'")
    with pytest.raises(EPCISValidationError) as info:
        capture_document(c.node, bad, shop.key)
    # Refused before a block (its events are stateless to check): nothing recorded.
    assert sql(c, "SELECT COUNT(*) FROM txs WHERE method='record_events'") == captured
    _, whole_err = prepare_call(CONTRACTS, "trace", "record_events", capture_args(bad))
    assert whole_err is not None and info.value.message == whole_err["message"]
    assert [e["event"] for e in info.value.errors] == [4]
    c.stop()
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]
    store = SQLiteStore(c.dir)
    try:
        n = store.reader().execute("SELECT COUNT(*) FROM trace_events WHERE tx=?",
                                   (big.tx,)).fetchone()[0]
    finally:
        store.close()
    assert n == 40


def test_a_worker_dying_mid_share_fails_the_capture_once(tmp_path: Path) -> None:
    c = Consortium(tmp_path / "ledger", verify_workers=2, max_tx_bytes=64 << 20,
                   split_tx_bytes=64 << 10, time_window_ms=24 * 3_600_000)
    try:
        c.org("mill", ["manufacturer"])
        who = c.member("mill", "mill", ["manufacturer"])
        raw = capture_tx(typical_document(3000, seed=8), who.key, chain=c.chain,
                         time_ms=c.clock())
        ticket = c.node.submit(raw)
        c.node._pool._procs[1].kill()  # the failure under test
        with pytest.raises(NodeError, match="verifier process died"):
            ticket.result(60)
        assert sql(c, "SELECT COUNT(*) FROM trace_events")[0][0] == 0
    finally:
        c.stop()
