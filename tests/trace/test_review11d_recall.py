"""Review 11d (trace rules v3, recall): the trace and recall queries work out each child's
history in a parent once, so a pallet or truck reused many times costs its history, not
its square; and a document mixing packings, an unpacking and re-packing in one
transaction and the parts of a transformation recalls what it should. Runs on a real
embedded node (the flour mill of paper 002)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supplyledger.bench.flourmill import FlourMill
from supplyledger.contracts.builtin._trace_xform import HUB
from supplyledger.node import queries as queries_module
from supplyledger.node.audit import run_audit

from .conftest import queries
from .test_review11_recall import CASE, PALLET, PALLET2, Run, mill_into
from .test_review11_scope import TID, part

TRUCK = "https://id.gs1.org/00/340063810000000049"


def at(minute: int, ev: dict[str, Any]) -> dict[str, Any]:
    return ev | {"eventTime": f"2019-12-20T{8 + minute // 60:02d}:{minute % 60:02d}:00.000+08:00"}


def agg(parent: str, action: str, *, lot: str | None = None, kg: int | None = None,
        unit: str | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "AggregationEvent", "eventTimeZoneOffset": "+08:00",
                          "parentID": parent, "action": action, "disposition": "in_progress",
                          "bizStep": "packing" if action == "ADD" else "unpacking"}
    if lot:
        ev["childQuantityList"] = [{"epcClass": lot} | (
            {"quantity": kg, "uom": "KGM"} if kg else {})]
    if unit:
        ev["childEPCs"] = [unit]
    return ev


def test_a_pallet_reused_many_times_is_worked_out_once_per_query(
        mill: FlourMill, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lot on a pallet k times, the pallet on a truck k times: the query reached the
    pallet with k windows and worked out the truck's whole history for each (k² steps:
    seconds per recall at a thousand trips)."""
    r, k = Run(mill), 25
    lot, other, made = r.lots("K1", "K2", "KO")
    tickets = []
    for i in range(k):  # (submitted together: one ledger position each, in order)
        for j, ev in enumerate((agg(PALLET, "ADD", lot=lot, kg=10),
                                agg(TRUCK, "ADD", unit=PALLET),
                                agg(TRUCK, "DELETE", unit=PALLET),
                                agg(PALLET, "DELETE", lot=lot))):
            tickets.append(r.c.node.submit(r.c.tx(r.miller.key, "trace", "record_events", {
                "events": json.dumps([at(4 * i + j, ev)])})))
    assert all(t.result(60).ok for t in tickets)
    r.record(at(200, agg(PALLET, "ADD", lot=other, kg=10)), at(201, mill_into(11, PALLET, made)))
    calls: list[int] = []
    inside = queries_module._inside

    def counted(links: list[int], unpacks: list[int]) -> list[tuple[int, int]]:
        calls.append(1)
        return inside(links, unpacks)

    monkeypatch.setattr(queries_module, "_inside", counted)
    assert r.recall(lot) == {lot, PALLET, TRUCK}  # not the flour of the later load
    assert len(calls) <= 4  # lot-pallet and pallet-truck, once each way
    assert r.upstream(made) == {PALLET, other}
    assert run_audit(r.c.dir).ok


def test_a_document_mixing_packings_unpackings_and_parts(mill: FlourMill) -> None:
    """One capture: a lot on a pallet that a part of a transformation consumes, another
    lot taken off a second pallet and put back in the same transaction, a case with a
    third lot partly unpacked and the case moved; then the transformation's output, and
    the second pallet milled."""
    r = Run(mill)
    a, b, c, f, g = r.lots("X1", "X2", "X3", "XF", "XG")
    r.record(at(0, agg(PALLET, "ADD", lot=a, kg=30)),
             at(1, agg(PALLET2, "ADD", lot=b, kg=30)),
             at(2, agg(PALLET2, "DELETE", lot=b)), at(3, agg(PALLET2, "ADD", lot=b, kg=20)),
             at(4, agg(CASE, "ADD", lot=c, kg=30)), at(5, agg(PALLET, "ADD", unit=CASE)),
             at(6, agg(CASE, "DELETE", lot=c, kg=10)),  # partly: 20 kg stay in the case
             at(7, agg(PALLET, "DELETE", unit=CASE)),
             at(8, part(tid=TID) | {"inputEPCList": [PALLET]}))
    r.record(at(60, part(outputs=[f])), at(61, mill_into(11, PALLET2, g)))
    assert r.recall(a) == {a, PALLET, f}
    assert r.recall(b) == {b, PALLET2, g}
    # the case left the pallet in the same capture as the milling: a doubt includes
    assert r.recall(c) == {c, CASE, PALLET, f}
    assert r.upstream(f) == {PALLET, a, CASE, c}
    assert r.upstream(g) == {PALLET2, b}
    shown = queries(r.c).trace(f)
    assert not [i for i in shown["upstream"] + shown["downstream"] if i.startswith(HUB)]
    assert run_audit(r.c.dir).ok
