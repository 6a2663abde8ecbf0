"""Review 11: a recall reaches what a lot went into and no more. A pallet (or case) is reused:
what was on it before, and was taken off, is not in what the pallet later went into, and
what that became does not trace back to it. Failed before trace rules v3 recorded
unpackings and the queries followed a parent only while the child was in it. Runs on a real
embedded node (the flour mill of paper 002)."""

from __future__ import annotations

import json
from typing import Any

from supplyledger.bench.flourmill import FlourMill
from supplyledger.node.audit import run_audit

from .conftest import queries, sql

PALLET = "https://id.gs1.org/00/340063810000000018"
PALLET2 = "https://id.gs1.org/00/340063810000000025"
CASE = "https://id.gs1.org/00/340063810000000032"


def when(hour: int) -> str:
    return f"2019-12-20T{hour:02d}:00:00.000+08:00"


def agg(hour: int, parent: str, action: str, lot: str | None = None, kg: int | None = None,
        unit: str | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "AggregationEvent", "eventTime": when(hour),
                          "eventTimeZoneOffset": "+08:00", "parentID": parent,
                          "action": action, "disposition": "in_progress",
                          "bizStep": "packing" if action == "ADD" else "unpacking"}
    if lot:
        ev["childQuantityList"] = [{"epcClass": lot} | (
            {"quantity": kg, "uom": "KGM"} if kg else {})]
    if unit:
        ev["childEPCs"] = [unit]
    return ev


def mill_into(hour: int, unit: str, out: str) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": when(hour),
            "eventTimeZoneOffset": "+08:00", "inputEPCList": [unit],
            "outputQuantityList": [{"epcClass": out}], "bizStep": "commissioning",
            "disposition": "active"}


class Run:
    def __init__(self, m: FlourMill) -> None:
        self.m, self.c, self.miller = m, m.c, m.parties["mill"]

    def lots(self, *names: str) -> list[str]:
        g = self.m.flour.split("/")[4]
        return [self.c.ok(self.miller, "products", "create_batch",
                          {"gtin": g, "lot": n, "quantity": "100", "uom": "KGM"})["batch"]
                for n in names]

    def record(self, *events: dict[str, Any]) -> None:
        self.c.ok(self.miller, "trace", "record_events", {"events": json.dumps(list(events))})

    def recall(self, lot: str) -> set[str]:
        return {e["id"] for e in queries(self.c).recall(lot)["affected"]}

    def upstream(self, lot: str) -> set[str]:
        return set(queries(self.c).trace(lot)["upstream"])


def test_a_reused_pallet_carries_a_lot_only_while_it_was_on_it(mill: FlourMill) -> None:
    r = Run(mill)
    first, second, made = r.lots("R1", "R2", "RO")
    r.record(agg(8, PALLET, "ADD", first, 50))
    r.record(agg(9, PALLET, "DELETE", first))  # all of it back
    r.record(agg(10, PALLET, "ADD", second, 50))
    r.record(mill_into(11, PALLET, made))
    assert r.recall(first) == {first, PALLET}  # not the flour milled from the second lot
    assert r.recall(second) == {second, PALLET, made}
    up = r.upstream(made)
    assert PALLET in up and second in up and first not in up
    assert sql(r.c, "SELECT child, parent FROM trace_unpacked") == [(first, PALLET)]
    assert run_audit(r.c.dir).ok


def test_a_lot_partly_unpacked_is_still_on_the_pallet(mill: FlourMill) -> None:
    r = Run(mill)
    lot, made = r.lots("Q1", "QO")
    r.record(agg(8, PALLET, "ADD", lot, 30))
    r.record(agg(9, PALLET, "DELETE", lot, 10))  # 20 kg stay on
    r.record(mill_into(10, PALLET, made))
    assert made in r.recall(lot) and lot in r.upstream(made)
    assert sql(r.c, "SELECT COUNT(*) FROM trace_unpacked") == [(0,)]


def test_a_case_moved_between_pallets_reaches_only_the_later_ones_products(
        mill: FlourMill) -> None:
    r = Run(mill)
    lot, other, made1, made2 = r.lots("N1", "N2", "NO1", "NO2")
    r.record(agg(8, CASE, "ADD", lot, 20), agg(8, PALLET, "ADD", unit=CASE))
    r.record(agg(9, PALLET, "DELETE", unit=CASE), agg(9, PALLET2, "ADD", unit=CASE))
    r.record(agg(10, PALLET, "ADD", other, 20))
    r.record(mill_into(11, PALLET, made1), mill_into(11, PALLET2, made2))
    assert r.recall(lot) == {lot, CASE, PALLET, PALLET2, made2}
    assert r.recall(other) == {other, PALLET, made1}
    assert lot not in r.upstream(made1) and CASE not in r.upstream(made1)
    assert {CASE, lot} <= r.upstream(made2)
    assert run_audit(r.c.dir).ok


def test_within_one_capture_a_doubt_includes(mill: FlourMill) -> None:
    # the events of one transaction share its ledger position: on, off and milled in one
    # document, the lot is counted in the flour (a recall may say too much, not too little)
    r = Run(mill)
    lot, made = r.lots("D1", "DO")
    r.record(agg(8, PALLET, "ADD", lot, 50), agg(9, PALLET, "DELETE", lot),
             mill_into(10, PALLET, made))
    assert made in r.recall(lot)
