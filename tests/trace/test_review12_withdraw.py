"""Review 12 (trace rules v4): an error declaration withdraws what the event it declares
wrong linked. Under v3 a packing declared wrong kept the lot on the pallet (its recall
reached the pallet's shipment), and an unpacking declared wrong kept the lot off it (its
recall missed what the pallet became). Runs on a real embedded node (the flour mill of
paper 002) with its SQLite ledger; the v3 ledger is made by an older release's genesis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium
from supplyledger.bench.flourmill import FlourMill, build_flour_mill
from supplyledger.cli.main import app
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import EPCISValidationError, Forbidden
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger

from .conftest import T0, error_of, queries, sql
from .test_review11_recall import PALLET, Run, agg, mill_into, when
from .test_review11_scope import part

DECLARED = {"declarationTime": "2019-12-23T08:00:00.000+08:00", "reason": "incorrect_data"}


def declared(ev: dict[str, Any]) -> dict[str, Any]:
    return ev | {"errorDeclaration": DECLARED}


def ship(hour: int, unit: str, ref: str) -> dict[str, Any]:
    """The pallet leaves on a shipment (recorded on the pallet's own chain)."""
    return {"type": "ObjectEvent", "eventTime": when(hour), "eventTimeZoneOffset": "+08:00",
            "action": "OBSERVE", "epcList": [unit], "bizStep": "departing",
            "disposition": "in_transit",
            "bizTransactionList": [{"type": "bol", "bizTransaction": ref}]}


SHIPMENT = "urn:example:bol:P-1"


def packed_and_shipped(r: Run, lot: str) -> dict[str, Any]:
    """The lot packed onto the pallet, the pallet shipped; returns the packing."""
    pack = agg(8, PALLET, "ADD", lot, 30)
    r.record(pack)
    r.record(ship(9, PALLET, SHIPMENT))
    return pack


def recall_ids(r: Run, lot: str) -> set[str]:
    return {e["id"] for e in queries(r.c).recall(lot)["affected"]}


def test_a_packing_declared_wrong_no_longer_reaches_the_pallets_shipment(
        mill: FlourMill) -> None:
    r = Run(mill)
    lot, other = r.lots("W1", "W2")
    pack = packed_and_shipped(r, lot)
    assert recall_ids(r, lot) == {lot, PALLET, SHIPMENT}
    r.record(declared(pack))
    assert recall_ids(r, lot) == {lot}
    got = queries(r.c).recall(lot)
    assert [(w["what"], w["src"], w["dst"]) for w in got["withdrawn"]] == [
        ("link", lot, PALLET)]
    # what the pallet itself did stays: its shipment, and a lot really packed on it
    r.record(agg(10, PALLET, "ADD", other, 30))
    assert recall_ids(r, PALLET) == {PALLET, SHIPMENT}
    assert recall_ids(r, other) == {other, PALLET, SHIPMENT}
    # the mass balance stood under v4; rules v5 gives the packing back (review 14)
    assert sql(r.c, "SELECT packed FROM batches WHERE id = ?", (lot,)) == [("0",)]
    # the history keeps both: the packing, marked declared wrong, and its declaration
    shown = queries(r.c).trace(lot)
    marks = [(e["biz_step"], e["error_declaration"], e["declared_wrong"])
             for e in shown["events"]]
    assert marks == [("packing", False, True), ("packing", True, False)]
    assert PALLET not in shown["downstream"]
    assert sql(r.c, "SELECT src, dst FROM trace_links WHERE src = ?", (lot,)) == [
        (lot, PALLET)]  # (the table keeps it as history; the queries skip it)
    out = CliRunner().invoke(app, ["trace", lot, "--data", str(r.c.dir)],
                             env={"COLUMNS": "250"})
    assert out.exit_code == 0, out.output
    assert "(error declaration)" in out.output and "(declared wrong)" in out.output
    assert "withdrawn by an error declaration" in out.output
    js = CliRunner().invoke(app, ["trace", lot, "--data", str(r.c.dir), "--json"])
    assert [e["error_declaration"] for e in json.loads(js.output)["events"]] == [False, True]
    assert run_audit(r.c.dir).ok


def test_an_unpacking_declared_wrong_keeps_the_lot_on_the_pallet(mill: FlourMill) -> None:
    r = Run(mill)
    lot, other, made = r.lots("U1", "U2", "UO")
    r.record(agg(8, PALLET, "ADD", lot, 30))
    off = agg(9, PALLET, "DELETE", lot)
    r.record(off)
    r.record(agg(10, PALLET, "ADD", other, 30))
    r.record(mill_into(11, PALLET, made))
    assert recall_ids(r, lot) == {lot, PALLET}  # off the pallet before it was milled
    assert r.upstream(made) == {PALLET, other}
    r.record(declared(off))
    # conservative: the lot counts as on the pallet from its packing on again
    assert recall_ids(r, lot) == {lot, PALLET, made}
    assert r.upstream(made) == {PALLET, other, lot}
    assert [(w["what"], w["src"], w["dst"]) for w in queries(r.c).trace(lot)["withdrawn"]] \
        == [("unpacking", lot, PALLET)]
    assert run_audit(r.c.dir).ok


def test_a_link_another_event_of_the_capture_made_stays(mill: FlourMill) -> None:
    """Two packings of one lot onto one pallet in one document share a trace_links row:
    declaring one of them wrong must not take the other's link with it."""
    r = Run(mill)
    (lot,) = r.lots("S1")
    first, second = agg(8, PALLET, "ADD", lot, 30), agg(8, PALLET, "ADD", lot, 20)
    r.record(first, second)
    r.record(ship(9, PALLET, SHIPMENT))
    r.record(declared(first))
    assert recall_ids(r, lot) == {lot, PALLET, SHIPMENT}
    assert queries(r.c).recall(lot)["withdrawn"] == []
    r.record(declared(second))
    assert recall_ids(r, lot) == {lot}
    assert run_audit(r.c.dir).ok


def test_a_recording_is_withdrawn_once_declared_on_every_chain_it_went_to(
        mill: FlourMill) -> None:
    """One packing of two lots: declared on one lot only, the other's link stays, and so
    does the first's (the recording is one); declared on both, both are withdrawn."""
    r = Run(mill)
    a, b = r.lots("C1", "C2")
    both = agg(8, PALLET, "ADD") | {"childQuantityList": [
        {"epcClass": a, "quantity": 10, "uom": "KGM"},
        {"epcClass": b, "quantity": 10, "uom": "KGM"}]}
    r.record(both)
    c, miller = r.c, r.miller
    c.ok(miller, "trace", "record_event", {"batch": a, "event": declared(both)})
    assert recall_ids(r, a) == {a, PALLET} and recall_ids(r, b) == {b, PALLET}
    c.ok(miller, "trace", "record_event", {"batch": b, "event": declared(both)})
    assert recall_ids(r, a) == {a} and recall_ids(r, b) == {b}
    assert run_audit(r.c.dir).ok


def test_nobody_else_withdraws_a_lots_links(mill: FlourMill) -> None:
    r = Run(mill)
    (lot,) = r.lots("N1")
    pack = packed_and_shipped(r, lot)
    err = error_of(r.c, mill.parties["shop"], "trace", "record_events",
                   {"events": json.dumps([declared(pack)])})
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == Forbidden.code
    assert recall_ids(r, lot) == {lot, PALLET, SHIPMENT}
    assert sql(r.c, "SELECT COUNT(*) FROM state WHERE key LIKE 'trace/w%'") == [(0,)]


def test_a_transformation_part_declared_wrong_is_withdrawn_whole(mill: FlourMill) -> None:
    """(v3 kept what the part had joined before its declaration: the lot the mill said it
    never used stayed upstream of the flour named before.)"""
    r = Run(mill)
    w, ok, f1, f2 = r.lots("TW1", "TW2", "TF1", "TF2")
    wrong = part([w])
    r.record(wrong, part([ok]))
    r.record(part(outputs=[f1]) | {"eventTime": when(10)})
    r.record(declared(wrong))
    r.record(part(outputs=[f2]) | {"eventTime": when(12)})
    assert recall_ids(r, w) == {w}
    assert recall_ids(r, ok) == {ok, f1, f2}
    assert r.upstream(f1) == r.upstream(f2) == {ok}
    assert run_audit(r.c.dir).ok


@pytest.fixture
def v3_mill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlourMill]:
    """A flour mill on a ledger an older release made: trace rules v3."""
    v3 = {n: replace(k, versions=(1, 2, 3)) if n == "trace" else k
          for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=v3))
    c = Consortium(tmp_path / "ledger", clock=lambda: T0)
    yield build_flour_mill(c)
    c.stop()


def test_a_v3_ledger_keeps_following_what_was_declared_wrong_until_v4(
        v3_mill: FlourMill) -> None:
    r = Run(v3_mill)
    lot, later, w, ok, f1, f2 = r.lots("V1", "V2", "VW1", "VW2", "VF1", "VF2")
    pack = packed_and_shipped(r, lot)
    r.record(declared(pack))
    assert recall_ids(r, lot) == {lot, PALLET, SHIPMENT}  # as v3 decided
    assert queries(r.c).recall(lot)["withdrawn"] == []
    # v3 took a part declared wrong out of its transformation from then on only
    wrong = part([w])
    r.record(wrong, part([ok]))
    r.record(part(outputs=[f1]) | {"eventTime": when(10)})
    r.record(declared(wrong))
    r.record(part(outputs=[f2]) | {"eventTime": when(12)})
    assert recall_ids(r, w) == {w, f1}
    assert r.upstream(f1) == {w, ok} and r.upstream(f2) == {ok}
    r.c.ok(r.c.admin, "rules", "adopt", {"contract": "trace", "version": 4})
    assert recall_ids(r, lot) == {lot, PALLET, SHIPMENT}  # a v3 declaration withdrew nothing
    again = agg(10, PALLET, "ADD", later, 30)
    r.record(again)
    r.record(declared(again))
    assert recall_ids(r, later) == {later}
    report = run_audit(r.c.dir)
    assert report.ok, report.findings[:3]
