"""Adversarial cases for trace and products: a party trying to write history it is
not entitled to, or a bounded list hiding part of an event. Each case failed before its fix.

Contract behaviour runs on the in-memory commerce world (the executor over a dict, each
participant alone in its own organisation); what the trace query concludes runs on a real
embedded node (the flour mill of paper 002).
"""

from __future__ import annotations

import json
from typing import Any

from commerce.conftest import World, gtin
from supplyledger.bench.flourmill import FlourMill, object_event

from .conftest import queries

WHEN = "2019-12-19T08:00:00.000+08:00"
SSCC = "https://id.gs1.org/00/340063810000000018"


def _agg(parent: str, *children: str) -> dict[str, Any]:
    return {"type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "parentID": parent, "action": "ADD", "bizStep": "packing",
            "disposition": "in_progress",
            "childQuantityList": [{"epcClass": c, "quantity": 1} for c in children]}


def _transform(inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": i, "quantity": 1} for i in inputs],
            "outputQuantityList": [{"epcClass": o, "quantity": 1} for o in outputs]}


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


def _lot(gtin_n: int, lot: str) -> str:
    return f"https://id.gs1.org/01/{gtin(gtin_n).zfill(14)}/10/{lot}"


class Chain:
    """A maker with two lots of its own product, a rival manufacturer with a lot of
    another, and a carrier holding nothing."""

    def __init__(self) -> None:
        self.w = w = World()
        self.maker = w.participant("manufacturer", "warehouse")
        self.rival = w.participant("manufacturer", "warehouse")
        self.carrier = w.participant("transporter")
        self.a = w.batch(self.maker, 1, "A", for_sale=False)
        self.b = w.batch(self.maker, 1, "B", for_sale=False)
        self.r = w.batch(self.rival, 2, "R", for_sale=False)

    def links(self) -> set[tuple[str, str, str]]:
        return {(r["src"], r["dst"], r["kind"]) for r in
                self.w.tables.get("trace_links", {}).values()}

    def chain_of(self, batch: str) -> int:
        st = self.w.get(f"trace/b/{batch}")
        return 0 if st is None else int(st["n"])


# -- trace: history written for things the recorder never held ---------------------------

def test_events_on_a_lot_not_yet_created_are_refused() -> None:
    """A stranger could pre-record a damaged event (or a genealogy edge) on a lot number of
    a registered product; once its maker created the lot, that event was its faulty link."""
    ch = Chain()
    w, future = ch.w, _lot(1, "NEXT")
    err = w.fail("epcis_invalid", ch.carrier, "trace", "record_events",
                 _doc(object_event(WHEN, "storing", "damaged", future)))
    assert err["details"]["errors"][0]["code"] == "not_found"
    assert "create" in err["details"]["errors"][0]["reason"]
    w.fail("epcis_invalid", ch.rival, "trace", "record_events",
           _doc(_transform([ch.r], [future])))
    w.fail("not_found", ch.rival, "trace", "record_event",
           {"batch": ch.r, "event": _transform([ch.r], [future])})
    # the maker creates it; only then are events recorded on it, by the entitled party
    assert w.ok(ch.maker, "products", "create_batch", {"gtin": gtin(1), "lot": "NEXT"})
    assert ch.chain_of(future) == 0
    w.ok(ch.maker, "trace", "record_events",
         _doc(object_event(WHEN, "storing", "active", future)))
    # lots of products nobody registered stay free object chains (imported documents)
    foreign = _lot(99, "X1")
    w.ok(ch.carrier, "trace", "record_events",
         _doc(object_event(WHEN, "storing", "active", foreign)))
    assert ch.chain_of(foreign) == 1


def test_nobody_packs_into_a_lot_held_by_another_organisation() -> None:
    """An AggregationEvent whose parent is someone else's lot made the packer's lot (and its
    faults) part of that lot's upstream genealogy."""
    ch = Chain()
    w = ch.w
    w.fail("forbidden", ch.rival, "trace", "record_event",
           {"batch": ch.r, "event": _agg(ch.a, ch.r)})
    w.fail("epcis_invalid", ch.rival, "trace", "record_events", _doc(_agg(ch.a, ch.r)))
    assert ch.links() == set()
    w.ok(ch.maker, "trace", "record_event", {"batch": ch.b, "event": _agg(ch.a, ch.b)})
    assert ch.links() == {(ch.b, ch.a, "aggregation")}


# -- trace: an event about several lots reaches every one ---------------------------------

def test_aggregation_links_every_lot_packed_and_checks_each() -> None:
    """Only the first registered lot of an event was recorded and linked: packing two lots
    onto a pallet left the second out of the pallet's recall, and a lot held by someone
    else could be named second without any check."""
    ch = Chain()
    w = ch.w
    w.ok(ch.maker, "trace", "record_events", _doc(_agg(SSCC, ch.a, ch.b)))
    assert ch.links() == {(ch.a, SSCC, "aggregation"), (ch.b, SSCC, "aggregation")}
    assert (ch.chain_of(ch.a), ch.chain_of(ch.b)) == (1, 1)
    # record_event records on the one batch named, whatever else the event lists (on a
    # pallet of the rival's own: the maker's is the maker's, see test_balance_and_units)
    own = "https://id.gs1.org/00/340063810000000025"
    w.ok(ch.rival, "trace", "record_event", {"batch": ch.r, "event": _agg(own, ch.a, ch.r)})
    assert (ch.chain_of(ch.a), ch.chain_of(ch.r)) == (1, 1)
    assert (ch.r, own, "aggregation") in ch.links()
    # a lot of the rival's named second: refused, nothing recorded
    err = w.fail("epcis_invalid", ch.maker, "trace", "record_events",
                 _doc(object_event(WHEN, "storing", "active", ch.a)
                      | {"quantityList": [{"epcClass": ch.a}, {"epcClass": ch.r}]}))
    assert err["details"]["errors"][0]["code"] == "forbidden"
    assert ch.r in err["details"]["errors"][0]["reason"]


def test_long_identifier_lists_are_checked_whole() -> None:
    """Identifier lists were cut at 64: a transformation with 64 filler inputs before a
    rival's lot consumed it without custody, and a pallet of 70 lots linked only 64."""
    ch = Chain()
    w = ch.w
    filler = [f"urn:example:thing:{i}" for i in range(64)]
    w.fail("epcis_invalid", ch.maker, "trace", "record_events",
           _doc(_transform([*filler, ch.r], [ch.a])))
    lots = [w.batch(ch.maker, 3, f"P{i}", for_sale=False) for i in range(70)]
    w.ok(ch.maker, "trace", "record_events", _doc(_agg(SSCC, *lots)))
    assert len([s for s, d, _ in ch.links() if d == SSCC]) == 70


# -- products ------------------------------------------------------------------------------

def test_a_batch_quantity_cannot_be_negative() -> None:
    w = World()
    maker = w.participant("manufacturer")
    w.ok(maker, "products", "create_product", {"gtin": gtin(7), "name": "salt"})
    err = w.fail("validation_error", maker, "products", "create_batch",
                 {"gtin": gtin(7), "lot": "N", "quantity": "-5", "uom": "KGM"})
    assert err["details"]["arg"] == "quantity"


# -- the trace query: a reading past the first 32 ------------------------------------------

def test_an_out_of_limit_reading_is_flagged_however_many_precede_it(mill: FlourMill) -> None:
    """Only the first 32 numeric readings of an event were kept, so a carrier could bury a
    breach of the product's limits (flour: 0-30 CEL) behind 32 good readings."""
    c, p, flour = mill.c, mill.parties, mill.flour
    good = [{"type": "Temperature", "value": 12, "uom": "CEL"}] * 32
    hot = {"type": "Temperature", "value": 45, "uom": "CEL"}
    cold = {"type": "Temperature", "minValue": -3, "maxValue": 20, "uom": "CEL"}
    c.ok(p["shop"], "trace", "record_event", {"batch": flour, "event": object_event(
        WHEN, "storing", "active", flour,
        sensorElementList=[{"sensorReport": [*good, hot, *good, cold]}])})
    reasons = {f["reason"] for f in queries(c).trace(flour)["faults"]}
    assert reasons == {"Temperature 45 CEL above the limit 30 CEL",
                       "Temperature -3 CEL below the limit 0 CEL"}


def test_readings_in_other_units_are_checked_against_the_limits(mill: FlourMill) -> None:
    """The limits are in CEL (flour: 0-30): 113 FAH is 45 CEL and 270 KEL is -3.15 CEL,
    so reporting in another unit must not slip a breach past them."""
    c, p, flour = mill.c, mill.parties, mill.flour
    report = [{"type": "Temperature", "value": 113, "uom": "FAH"},
              {"type": "Temperature", "value": 270, "uom": "KEL"},
              {"type": "Temperature", "value": 50, "uom": "FAH"},  # 10 CEL: fine
              {"type": "Temperature", "value": 12, "uom": "MTR"}]  # not a temperature
    c.ok(p["shop"], "trace", "record_event", {"batch": flour, "event": object_event(
        WHEN, "storing", "active", flour, sensorElementList=[{"sensorReport": report}])})
    reasons = {f["reason"] for f in queries(c).trace(flour)["faults"]}
    assert reasons == {"Temperature 113 FAH above the limit 30 CEL",
                       "Temperature 270 KEL below the limit 0 CEL",
                       "Temperature 12 MTR cannot be compared with the limits in CEL"}


def test_an_event_filed_under_its_parent_is_checked_like_any_other() -> None:
    """An event about no registered lot goes to the chain of the first identifier it names;
    when that was a registered lot (the parent of an unpacking), nobody checked who wrote."""
    ch = Chain()
    w = ch.w
    unpack = {**_agg(ch.a, "urn:example:case:1"), "action": "DELETE",
              "bizStep": "unpacking", "disposition": "damaged"}
    del unpack["childQuantityList"]
    unpack["childEPCs"] = ["urn:example:case:1"]
    err = w.fail("epcis_invalid", ch.rival, "trace", "record_events", _doc(unpack))
    assert err["details"]["errors"][0]["code"] == "forbidden"
    assert ch.chain_of(ch.a) == 0
    w.ok(ch.maker, "trace", "record_events", _doc(unpack))
    assert ch.chain_of(ch.a) == 1


def test_certificates_come_from_a_third_party_with_real_dates() -> None:
    """A producer whose organisation may also hold the inspector role certified its own lot
    ('organic'); and any dddd-dd-dd passed as a date, so a certificate could run until
    2026-13-45."""
    w = World()
    maker = w.participant("manufacturer", "inspector")
    lab = w.participant("inspector")
    lot = w.batch(maker, 8, "C", for_sale=False)
    cert = {"batch": lot, "certificate": "ORG-1", "scheme": "EU organic",
            "valid_from": "2026-01-01", "valid_until": "2027-01-01"}
    err = w.fail("forbidden", maker, "products", "certify", cert)
    assert "third party" in err["message"]
    for bad in ({"valid_until": "2026-13-45"}, {"valid_from": "2026-02-30"},
                {"valid_until": "2025-12-31"}):
        assert w.fail("validation_error", lab, "products", "certify", cert | bad)
    assert w.fail("validation_error", maker, "products", "create_batch",
                  {"gtin": gtin(8), "lot": "D", "expiry": "2026-04-31"})
    assert w.fail("validation_error", maker, "products", "create_batch",
                  {"gtin": gtin(8), "lot": "D", "produced": "2026-05-02",
                   "expiry": "2026-05-01"})
    w.ok(lab, "products", "certify", cert)
