"""Review 12 (trace rules v4): withdrawing what an event declared wrong linked costs nothing
on the EPCIS import path. An event without an ``errorDeclaration`` reads the same state
keys, writes the same state and gives the same receipt under v4 as under v3; only a
declaration reads where the event it declares went. (Pure core: the contracts run by the
executor over an in-memory store, every state read of the call context counted.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from commerce.conftest import World, gtin
from supplyledger.contracts import runtime

SSCC = "https://id.gs1.org/00/340063810000000018"
WHEN = "2019-12-20T08:00:00.000+08:00"


def pack(lot: str, action: str = "ADD") -> dict[str, Any]:
    return {"type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "parentID": SSCC, "action": action, "bizStep": "packing",
            "disposition": "in_progress",
            "childQuantityList": [{"epcClass": lot, "quantity": 10, "uom": "KGM"}]}


def milling(src: str, out: str) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": src, "quantity": 20, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": out}], "bizStep": "commissioning",
            "disposition": "active"}


def observed(lot: str) -> dict[str, Any]:
    return {"type": "ObjectEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "action": "OBSERVE", "quantityList": [{"epcClass": lot}], "bizStep": "storing",
            "disposition": "active"}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every state key a contract call reads through its context, in order."""
    seen: list[str] = []
    raw = runtime.Ctx._raw

    def counted(self: runtime.Ctx, full_key: str) -> bytes | None:
        seen.append(full_key)
        return raw(self, full_key)

    monkeypatch.setattr(runtime.Ctx, "_raw", counted)
    yield seen


def world(version: int) -> tuple[World, str, list[str]]:
    w = World()
    maker = w.participant("manufacturer", "warehouse")
    w.ok(maker, "products", "create_product", {"gtin": gtin(7), "name": "flour"})
    lots = [w.ok(maker, "products", "create_batch", {"gtin": gtin(7), "lot": n,
                                                     "quantity": "100", "uom": "KGM"})["batch"]
            for n in ("A", "B")]
    for v in range(2, version + 1):
        w.ok(w.admin, "rules", "adopt", {"contract": "trace", "version": v})
    assert w.get("rules/v/trace") == version
    w.height = 100  # (transaction ids follow the height: the same from here on)
    return w, maker, lots


def test_events_without_a_declaration_cost_the_same_under_v4(reads: list[str]) -> None:
    runs: dict[int, list[tuple[list[str], dict[str, Any], dict[str, bytes]]]] = {}
    for version in (3, 4):
        w, maker, (a, b) = world(version)
        runs[version] = []
        for events in ([pack(a)], [observed(a), milling(a, b)], [pack(a, "DELETE")]):
            before = dict(w.store)
            reads.clear()
            receipt = w.call(maker, "trace", "record_events",
                             {"events": json.dumps(events)})
            assert receipt["ok"], receipt
            writes = {k: v for k, v in w.store.items() if before.get(k) != v}
            runs[version].append((list(reads), receipt, writes))
    for (r3, rc3, w3), (r4, rc4, w4) in zip(runs[3], runs[4], strict=True):
        assert r3 and r4 == r3
        assert rc4 == rc3
        assert {k: v for k, v in w4.items() if k != "rules/v/trace"} == w3


def test_only_a_declaration_reads_where_the_declared_event_went(reads: list[str]) -> None:
    w, maker, (a, _) = world(4)
    wrong = pack(a)
    w.ok(maker, "trace", "record_events", {"events": json.dumps([wrong])})
    packing_tx = hashlib.sha256(f"{w.height}".encode()).hexdigest()  # (as World makes ids)
    assert not [k for k in reads if k.startswith("trace/w")]
    reads.clear()
    declaration = wrong | {"errorDeclaration": {"declarationTime": WHEN,
                                                "reason": "incorrect_data"}}
    r = w.call(maker, "trace", "record_events", {"events": json.dumps([declaration])})
    assert r["ok"], r
    recorded = [d for t, d in r["events"] if t == "trace.recorded"]
    assert recorded[0]["withdrawn"] == [[packing_tx, 0]]
    assert f"trace/w/{packing_tx}" in reads
    assert w.get(f"trace/w/{packing_tx}") == [0] and w.get("trace/w") is True
