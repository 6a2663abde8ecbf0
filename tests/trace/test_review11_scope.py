"""Review 11 (trace rules v3): an event only touches the lots and objects it names, and the
parts of one transformation (a shared transformationID) are one genealogy. Each case failed
before its fix. Runs on a real embedded node (the flour mill of paper 002); the switch from
v2 to v3 on the in-memory commerce world, as the v2 tests do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from commerce.conftest import World, gtin
from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.bench.flourmill import gtin as gtin13
from supplyledger.contracts.builtin._trace_xform import HUB
from supplyledger.errors import EPCISValidationError, Forbidden, ValidationError
from supplyledger.node.audit import run_audit

from .conftest import error_of, queries, sql

WHEN = "2019-12-20T08:00:00.000+08:00"
LATER = "2019-12-21T08:00:00.000+08:00"
SSCC = "https://id.gs1.org/00/340063810000000018"
TID = "urn:example:transformation:mill-7"


def at(ev: dict[str, Any], when: str) -> dict[str, Any]:
    return ev | {"eventTime": when}


def pack(parent: str, *lots: str, kg: int = 30, action: str = "ADD") -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
        "parentID": parent, "action": action,
        "bizStep": "packing" if action == "ADD" else "unpacking", "disposition": "in_progress"}
    if lots:
        ev["childQuantityList"] = [{"epcClass": lot, "quantity": kg, "uom": "KGM"}
                                   for lot in lots]
    return ev


def part(inputs: Sequence[str] = (), outputs: Sequence[str] = (), *,
         tid: str | None = TID, kg: int = 10) -> dict[str, Any]:
    """A TransformationEvent naming some inputs (``kg`` each) or outputs."""
    ev: dict[str, Any] = {"type": "TransformationEvent", "eventTime": WHEN,
                          "eventTimeZoneOffset": "+08:00", "bizStep": "commissioning",
                          "disposition": "active"}
    if tid:
        ev["transformationID"] = tid
    if inputs:
        ev["inputQuantityList"] = [{"epcClass": i, "quantity": kg, "uom": "KGM"}
                                   for i in inputs]
    if outputs:
        ev["outputQuantityList"] = [{"epcClass": o} for o in outputs]
    return ev


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


def lots(m: FlourMill, *names: str) -> list[str]:
    flour_gtin = m.flour.split("/")[4]
    return [m.c.ok(m.parties["mill"], "products", "create_batch",
                   {"gtin": flour_gtin, "lot": n, "quantity": "100", "uom": "KGM"})["batch"]
            for n in names]


def links(m: FlourMill) -> set[tuple[str, str]]:
    """Genealogy pairs; those through a transformation's node as input -> output."""
    rows = {(r[0], r[1]) for r in sql(m.c, "SELECT src, dst FROM trace_links")}
    hubs = {d for _, d in rows if d.startswith(HUB)} | {s for s, _ in rows if s.startswith(HUB)}
    return ({(s, d) for s, d in rows if s not in hubs and d not in hubs}
            | {(s, d) for s, h in rows if h in hubs for h2, d in rows if h2 == h})


def balance(m: FlourMill, batch: str) -> tuple[str, str, str]:
    r = sql(m.c, "SELECT consumed, packed, remaining FROM batches WHERE id = ?", (batch,))[0]
    return r[0], r[1], r[2]


def chain(m: FlourMill, batch: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql(
        m.c, "SELECT type, disposition FROM trace_events WHERE batch = ? ORDER BY seq",
        (batch,))]


# -- record_event: only on a batch the event names ------------------------------------------
def test_record_event_refuses_an_event_that_does_not_name_its_batch(mill: FlourMill) -> None:
    """record_event appended any event to the batch its caller named: a packing of lot B
    recorded on A linked A (not B) to the pallet, a "destroyed" of B became A's faulty link,
    and a milling naming no output linked its input to A."""
    c, miller = mill.c, mill.parties["mill"]
    a, b, w = lots(mill, "SA", "SB", "SW")
    before = (links(mill), sql(mill.c, "SELECT COUNT(*) FROM trace_events"))
    for ev in (pack(SSCC, b), object_event(WHEN, "storing", "destroyed", b),
               part([w])):
        err = error_of(c, miller, "trace", "record_event", {"batch": a, "event": ev})
        assert isinstance(err, ValidationError), err
        assert err.details == {"arg": "batch", "batch": a}
        assert f"does not name batch {a}" in err.message
    assert (links(mill), sql(mill.c, "SELECT COUNT(*) FROM trace_events")) == before
    assert [balance(mill, x) for x in (a, b, w)] == [("0", "0", "100")] * 3
    assert queries(c).trace(a)["faults"] == []
    assert run_audit(c.dir).ok


def test_record_event_takes_a_lot_named_by_an_item_or_packed_in_the_parent(
        mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    a, b = lots(mill, "SC", "SD")
    flour_gtin = mill.flour.split("/")[4]
    c.ok(miller, "products", "commission_items", {"gtin": flour_gtin, "lot": "SC",
                                                  "serials": ["7"]})
    item = f"https://id.gs1.org/01/{flour_gtin}/21/7"
    got = c.ok(miller, "trace", "record_event", {"batch": a, "event": object_event(
        WHEN, "storing", "active", a) | {"quantityList": [], "epcList": [item]}})
    assert got["batch"] == a
    # a and b packed; unpacking the whole pallet is about both, recorded on either
    c.ok(miller, "trace", "record_event", {"batch": a, "event": pack(SSCC, a)})
    c.ok(miller, "trace", "record_event", {"batch": b, "event": at(pack(SSCC, b), LATER)})
    assert links(mill) >= {(a, SSCC), (b, SSCC)}
    assert balance(mill, a) == balance(mill, b) == ("0", "30", "70")
    whole = at(pack(SSCC, action="DELETE"), "2019-12-22T08:00:00.000+08:00")
    c.ok(miller, "trace", "record_event", {"batch": a, "event": whole})
    assert balance(mill, a) == balance(mill, b) == ("0", "0", "100")
    assert chain(mill, a)[-1] == ("AggregationEvent", "in_progress")
    # b is off the pallet now: an event about the pallet alone does not name it
    err = error_of(c, miller, "trace", "record_event", {"batch": b, "event": at(
        whole, "2019-12-23T08:00:00.000+08:00")})
    assert isinstance(err, ValidationError)
    assert run_audit(c.dir).ok


def test_rules_v2_ledgers_keep_recording_unnamed_batches_until_v3_is_adopted() -> None:
    w = World()
    maker = w.participant("manufacturer", "warehouse")
    w.ok(maker, "products", "create_product", {"gtin": gtin(8), "name": "thing"})
    a, b = (w.ok(maker, "products", "create_batch", {"gtin": gtin(8), "lot": lot})["batch"]
            for lot in ("A", "B"))
    # (the world starts as a ledger made before versions: v1, then v2 adopted)
    w.ok(w.admin, "rules", "adopt", {"contract": "trace", "version": 2})
    about_b = {"batch": a, "event": object_event(WHEN, "storing", "damaged", b)}
    assert w.ok(maker, "trace", "record_event", about_b)["batch"] == a  # as decided then
    w.ok(w.admin, "rules", "adopt", {"contract": "trace", "version": 3})
    err = w.fail("validation_error", maker, "trace", "record_event", {
        "batch": a, "event": object_event(LATER, "storing", "damaged", b)})
    assert err["details"]["batch"] == a


# -- transformations: no output named, and parts sharing a transformationID ----------------
def test_a_transformation_naming_no_output_links_nothing(mill: FlourMill) -> None:
    """An inputs-only transformation (valid with a transformationID) was linked to the chain
    it went to: its first input, so the second input became W1's upstream (W2 -> W1) and a
    recall of W2 reached everything made from W1."""
    c, miller = mill.c, mill.parties["mill"]
    w1, w2 = lots(mill, "T1", "T2")
    c.ok(miller, "trace", "record_events", doc(part([w1, w2])))
    assert (w2, w1) not in links(mill) and (w1, w2) not in links(mill)
    assert balance(mill, w1) == balance(mill, w2) == ("10", "0", "90")
    assert [e["id"] for e in queries(c).recall(w2)["affected"]] == [w2]
    assert run_audit(c.dir).ok


def test_parts_of_one_transformation_link_every_input_to_every_output(
        mill: FlourMill) -> None:
    """EPCIS lets a transformation be captured in parts sharing a transformationID (inputs
    now, outputs when made): the parts were never linked, so a recall of the wheat missed
    the flour made from it."""
    c, miller = mill.c, mill.parties["mill"]
    w1, w2, f1, f2 = lots(mill, "P1", "P2", "F1", "F2")
    c.ok(miller, "trace", "record_events", doc(part([w1])))
    c.ok(miller, "trace", "record_event", {"batch": f1, "event": at(part(outputs=[f1]),
                                                                    LATER)})
    assert (w1, f1) in links(mill)
    c.ok(miller, "trace", "record_events", doc(at(part([w2], [f2]),
                                                  "2019-12-22T08:00:00.000+08:00")))
    assert {(w1, f1), (w1, f2), (w2, f1), (w2, f2)} <= links(mill)
    recall = {e["id"] for e in queries(c).recall(w1)["affected"]}
    assert {f1, f2} <= recall
    assert set(queries(c).trace(f1)["upstream"]) >= {w1, w2}
    # each input consumed once, by the part naming it
    assert balance(mill, w1) == balance(mill, w2) == ("10", "0", "90")
    # another transformation id, another genealogy
    other = lots(mill, "P3")[0]
    c.ok(miller, "trace", "record_events", doc(at(part([other], tid="urn:example:t:other"),
                                                  "2019-12-23T08:00:00.000+08:00")))
    assert {e["id"] for e in queries(c).recall(other)["affected"]} == {other}
    assert run_audit(c.dir).ok


def test_another_organisations_part_with_the_same_id_joins_nothing_of_it(
        mill: FlourMill) -> None:
    """Anyone naming another organisation's transformationID would graft its own (faulty)
    lot upstream of that organisation's outputs. (An id is each organisation's own: the
    farm's part is the farm's transformation, see test_review11d_xform.)"""
    c, p = mill.c, mill.parties
    w, f = lots(mill, "G1", "G2")
    c.ok(p["mill"], "trace", "record_events", doc(part([w], [f])))
    farm_gtin = gtin13("690123400001")
    bad = c.ok(p["farm"], "products", "create_batch", {"gtin": farm_gtin, "lot": "BAD",
                                                       "quantity": "5", "uom": "KGM"})["batch"]
    c.ok(p["farm"], "trace", "record_events", doc(at(part([bad], kg=1), LATER)))
    assert (bad, f) not in links(mill) and bad not in queries(c).trace(f)["upstream"]
    assert {e["id"] for e in queries(c).recall(bad)["affected"]} == {bad}
    assert run_audit(c.dir).ok


# -- who may link a lot to a parent ----------------------------------------------------------
def test_an_inspector_cannot_link_another_organisations_lot_onto_a_pallet(
        mill: FlourMill) -> None:
    """An inspector may inspect any lot and touch any object to do so; an observed
    aggregation "inspecting" the shop's flour on the mill's pallet linked that flour (and
    its wheat, and their faults) upstream of what the mill then milled the pallet into."""
    c, p = mill.c, mill.parties
    mine, made = lots(mill, "I1", "I2")
    c.ok(p["mill"], "trace", "record_events", doc(pack(SSCC, mine, kg=10)))
    observe = pack(SSCC) | {"action": "OBSERVE", "bizStep": "inspecting",
                            "disposition": "non_conformant",
                            "childQuantityList": [{"epcClass": mill.flour}]}
    before = links(mill)
    err = error_of(c, p["inspector"], "trace", "record_events", doc(observe))
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == Forbidden.code
    assert f"custody of {mill.flour}, linked to {SSCC}, is not held" in err.errors[0]["reason"]
    assert links(mill) == before
    # the inspector still records its inspection on the lot itself
    assert c.ok(p["inspector"], "trace", "record_event", {"batch": mill.flour, "event":
                object_event(LATER, "inspecting", "non_conformant", mill.flour)})
    milled = part(outputs=[made], tid=None) | {"inputEPCList": [SSCC]}
    c.ok(p["mill"], "trace", "record_events",
         doc(at(milled, "2019-12-22T08:00:00.000+08:00")))
    assert set(queries(c).trace(made)["upstream"]) == {SSCC, mine}
    assert run_audit(c.dir).ok
