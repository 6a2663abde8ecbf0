"""Mass balance and logistic units: no lot yields more than it held, and an object that is
not a registered lot (an SSCC pallet, an imported identifier) belongs to whoever recorded on
it first. Each case failed before its fix.

Contract behaviour runs on the in-memory commerce world (each participant alone in its own
organisation); what the ledger, its query tables and the trace query show runs on a real
embedded node (the flour mill of paper 002).
"""

from __future__ import annotations

import json
from typing import Any

from commerce.conftest import World, gtin
from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.bench.flourmill import gtin as gtin13
from supplyledger.node.audit import run_audit

from .conftest import error_of, queries, sql

WHEN = "2019-12-19T08:00:00.000+08:00"
SSCC = "https://id.gs1.org/00/340063810000000018"
SSCC2 = "https://id.gs1.org/00/340063810000000025"
MASH = "urn:example:mash:1"


def q(ident: str, quantity: Any = None, uom: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"epcClass": ident}
    if quantity is not None:
        out["quantity"] = quantity
    if uom is not None:
        out["uom"] = uom
    return out


def transform(inputs: list[dict[str, Any]], outputs: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": inputs,
            "outputQuantityList": [{"epcClass": o} for o in outputs],
            "bizStep": "commissioning", "disposition": "active", **extra}


def agg(parent: str, children: list[dict[str, Any]], action: str = "ADD") -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
        "parentID": parent, "action": action,
        "bizStep": "packing" if action == "ADD" else "unpacking", "disposition": "in_progress"}
    if children:
        ev["childQuantityList"] = children
    return ev


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": json.dumps(list(events))}


class Mill:
    """A miller with a 10 t wheat lot and flour lots to make, a rival miller, a carrier and
    a laboratory (inspector)."""

    def __init__(self) -> None:
        self.w = w = World()
        self.maker = w.participant("manufacturer", "warehouse")
        self.rival = w.participant("manufacturer", "warehouse")
        self.carrier = w.participant("transporter")
        self.lab = w.participant("inspector")
        self.wheat = self.lot(1, "W1", "10", "TNE")

    def lot(self, n: int, lot: str, quantity: str | None = None, uom: str | None = None,
            maker: str | None = None) -> str:
        who = maker or self.maker
        g = gtin(n)
        if self.w.get(f"products/t/{g.zfill(14)}") is None:
            self.w.ok(who, "products", "create_product", {"gtin": g, "name": f"thing {n}"})
        args = {"gtin": g, "lot": lot}
        args |= {"quantity": quantity} if quantity is not None else {}
        args |= {"uom": uom} if uom is not None else {}
        bid: str = self.w.ok(who, "products", "create_batch", args)["batch"]
        return bid

    def flour(self, i: int) -> str:
        return self.lot(2, f"F{i}")

    def mill(self, inputs: list[dict[str, Any]], out: str, who: str | None = None) -> Any:
        return self.w.ok(who or self.maker, "trace", "record_events",
                         doc(transform(inputs, [out])))

    def refused(self, code: str, inputs: list[dict[str, Any]], out: str,
                who: str | None = None) -> dict[str, Any]:
        """The reason a one-event document is refused for (nothing is written)."""
        err = self.w.fail("epcis_invalid", who or self.maker, "trace", "record_events",
                          doc(transform(inputs, [out])))
        first: dict[str, Any] = err["details"]["errors"][0]
        assert first["code"] == code, first
        return first

    def row(self, batch: str) -> tuple[str, str, str]:
        """(consumed, packed, remaining) as the batches table shows them."""
        r = self.w.tables["batches"][(batch,)]
        return r["consumed"], r["packed"], r["remaining"]

    def links(self) -> set[tuple[str, str]]:
        return {(r["src"], r["dst"]) for r in self.w.tables.get("trace_links", {}).values()}

    def hand_over(self, batch: str, to: str, frm: str | None = None) -> None:
        pid = self.w.ok(frm or self.maker, "custody", "propose",
                        {"batch": batch, "to": to, "kind": "custody"})["proposal"]
        self.w.ok(to, "custody", "accept", {"proposal": pid})


# -- mass balance ------------------------------------------------------------------------------

def test_a_lot_yields_no_more_than_it_holds() -> None:
    """One 10 t wheat lot could be 'transformed' into any number of flour lots, laundering
    provenance for flour that never came from it."""
    m = Mill()
    f1, f2, f3 = m.flour(1), m.flour(2), m.flour(3)
    assert m.row(m.wheat) == ("0", "0", "10")
    m.w.ok(m.maker, "trace", "record_event",
           {"batch": f1, "event": transform([q(m.wheat, 4000, "KGM")], [f1])})
    assert m.row(m.wheat) == ("4", "0", "6")
    m.mill([q(m.wheat, 6, "TNE")], f2)  # exactly what is left
    reason = m.refused("invalid_state", [q(m.wheat, 1, "KGM")], f3)["reason"]
    assert reason == (f"batch {m.wheat} holds 10 TNE: 10 consumed and 0 packed before, "
                      "0 TNE left, this event asks 0.001 TNE")
    err = m.w.fail("invalid_state", m.maker, "trace", "record_event",
                   {"batch": f3, "event": transform([q(m.wheat, 1, "KGM")], [f3])})
    assert err["details"] == {
        "current": "insufficient_quantity", "batch": m.wheat, "quantity": "10", "uom": "TNE",
        "left": "0", "asked": "0.001"}
    assert m.links() == {(m.wheat, f1), (m.wheat, f2)}
    assert m.row(m.wheat) == ("10", "0", "0")


def test_quantities_convert_between_units_or_are_refused() -> None:
    m = Mill()
    f = m.flour(1)
    m.mill([q(m.wheat, 1000, "LBR")], f)  # 453.59237 kg
    assert m.row(m.wheat) == ("0.45359237", "0", "9.54640763")
    m.mill([q(m.wheat, 500, "GRM"), q(m.wheat, 0.5, "KGM")], f)  # several elements add up
    assert m.row(m.wheat)[0] == "0.45459237"
    for bad, words in ((q(m.wheat, 5, "LTR"), "LTR cannot be compared with TNE"),
                       (q(m.wheat, 5), "a count (no uom) cannot be compared with TNE"),
                       (q(m.wheat, 0, "KGM"), "must be more than 0"),
                       (q(m.wheat, -5, "KGM"), "must be more than 0")):
        reason = m.refused("validation_error", [bad], f)["reason"]
        assert words in reason and m.wheat in reason, reason
    # a lot counted in pieces takes counts: no uom, H87 and C62 are all pieces
    eggs = m.lot(3, "E1", "12", "H87")
    m.mill([q(eggs, 5), q(eggs, 4, "C62")], f)
    assert m.row(eggs) == ("9", "0", "3")
    assert "3 H87 left" in m.refused("invalid_state", [q(eggs, 4, "H87")], f)["reason"]


def test_a_lot_named_without_a_quantity_gives_all_that_is_left() -> None:
    m = Mill()
    f1, f2, f3 = m.flour(1), m.flour(2), m.flour(3)
    m.mill([q(m.wheat, 3, "TNE")], f1)
    m.w.ok(m.maker, "trace", "record_events", doc({
        "type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
        "inputEPCList": [m.wheat], "outputQuantityList": [{"epcClass": f2}]}))
    assert m.row(m.wheat) == ("10", "0", "0")
    reason = m.refused("invalid_state", [q(m.wheat)], f3)["reason"]
    assert "0 TNE left, this event asks all that is left" in reason


def test_a_lot_without_a_declared_quantity_is_consumed_whole_once() -> None:
    m = Mill()
    bulk = m.lot(3, "B1")  # no quantity declared
    f1, f2 = m.flour(1), m.flour(2)
    assert m.row(bulk) == ("0", "0", "all")
    m.mill([q(bulk, 100)], f1)
    assert m.row(bulk) == ("all", "0", "0")
    reason = m.refused("invalid_state", [q(bulk, 1)], f2)["reason"]
    assert "declares no quantity" in reason and "whole" in reason


def test_a_document_that_overdraws_a_lot_is_refused_whole() -> None:
    m = Mill()
    f1, f2 = m.flour(1), m.flour(2)
    err = m.w.fail("epcis_invalid", m.maker, "trace", "record_events",
                   doc(transform([q(m.wheat, 6, "TNE")], [f1]),
                       transform([q(m.wheat, 6, "TNE")], [f2])))
    assert [(e["event"], e["code"]) for e in err["details"]["errors"]] == [
        (1, "invalid_state")]
    assert m.row(m.wheat) == ("0", "0", "10") and m.links() == set()


def test_serialised_items_are_consumed_once() -> None:
    m = Mill()
    eggs = m.lot(3, "E1", "3", "H87")
    m.w.ok(m.maker, "products", "commission_items",
           {"gtin": gtin(3), "lot": "E1", "serials": ["s1", "s2"]})
    item = f"https://id.gs1.org/01/{gtin(3).zfill(14)}/21/s1"
    one = {"type": "TransformationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
           "inputEPCList": [item], "outputQuantityList": [{"epcClass": m.flour(1)}]}
    m.w.ok(m.maker, "trace", "record_events", doc(one))
    assert m.row(eggs) == ("1", "0", "2")  # an item is one piece of a lot counted in pieces
    err = m.w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(one))
    assert err["details"]["errors"][0]["code"] == "invalid_state"
    assert "item" in err["details"]["errors"][0]["reason"]


def test_packing_counts_against_the_lot_and_unpacking_gives_it_back() -> None:
    """Packing one lot onto pallet after pallet let every pallet claim the whole lot."""
    m = Mill()
    w, f = m.w, m.flour(1)
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC, [q(m.wheat, 6, "TNE")])))
    assert m.row(m.wheat) == ("0", "6", "4")
    err = w.fail("epcis_invalid", m.maker, "trace", "record_events",
                 doc(agg(SSCC2, [q(m.wheat, 5, "TNE")])))
    assert "4 TNE left" in err["details"]["errors"][0]["reason"]
    # what is on a pallet is not also free to mill: unpack it, or name the pallet
    assert "6 packed" in m.refused("invalid_state", [q(m.wheat, 5, "TNE")], f)["reason"]
    w.ok(m.maker, "trace", "record_event",
         {"batch": m.wheat, "event": agg(SSCC, [q(m.wheat, 2000, "KGM")], "DELETE")})
    assert m.row(m.wheat) == ("0", "4", "6")  # part of it unpacked
    w.ok(m.maker, "trace", "record_event",
         {"batch": m.wheat, "event": agg(SSCC, [q(m.wheat)], "DELETE")})
    assert m.row(m.wheat) == ("0", "0", "10")
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC2, [q(m.wheat, 5, "TNE")]),
                                                agg(SSCC2, [], "DELETE")))
    assert m.row(m.wheat) == ("0", "0", "10")


def test_a_pallet_or_an_intermediate_object_is_consumed_once() -> None:
    """A pallet packed from a lot, or an unregistered intermediate made from it, named as a
    transformation input again and again carried the lot's provenance to every output."""
    m = Mill()
    w = m.w
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC, [q(m.wheat)])))
    assert m.row(m.wheat) == ("0", "10", "0")
    m.mill([q(SSCC)], m.flour(1))  # milling the pallet mills the lot on it
    assert m.row(m.wheat) == ("10", "0", "0")
    assert "consumed" in m.refused("invalid_state", [q(SSCC)], m.flour(2))["reason"]
    barley = m.lot(4, "B1", "5", "TNE")
    err = w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(agg(SSCC, [q(barley)])))
    assert "consumed" in err["details"]["errors"][0]["reason"]
    # nor can a consumed pallet be made anew
    assert "consumed" in m.refused("invalid_state", [q(barley, 1, "TNE")], SSCC)["reason"]
    # an unregistered intermediate made from registered goods carries them, once
    m.mill([q(barley, 5, "TNE")], MASH)
    m.mill([q(MASH, 1)], m.flour(3))
    assert "consumed" in m.refused("invalid_state", [q(MASH, 1)], m.flour(4))["reason"]
    # objects that carry nothing registered behave as before
    m.mill([q("urn:example:water:1", 1)], m.flour(5))
    m.mill([q("urn:example:water:1", 1)], m.flour(6))


def test_the_mill_cannot_mill_its_wheat_twice_on_the_ledger(mill: FlourMill) -> None:
    c, p = mill.c, mill.parties
    second = c.ok(p["mill"], "products", "create_batch", {
        "gtin": gtin13("690123400002"), "lot": "AGAIN", "quantity": "15000", "uom": "KGM"})
    err = error_of(c, p["mill"], "trace", "record_event", {"batch": second["batch"], "event":
                   transform([q(mill.wheat, 20000, "KGM")], [second["batch"]])})
    assert err.code == "invalid_state" and "0 KGM left" in err.message
    assert sql(c, "SELECT consumed, packed, remaining FROM batches WHERE id=?",
               (mill.wheat,)) == [("20000", "0", "0")]
    assert sql(c, "SELECT COUNT(*) FROM trace_links WHERE src=?", (mill.wheat,)) == [(1,)]
    assert queries(c).trace(mill.wheat)["downstream"] == [mill.flour]
    lots = {e["id"]: e for e in queries(c).recall(mill.wheat)["affected"]
            if e["kind"] == "lot"}
    assert (lots[mill.wheat]["quantity"], lots[mill.wheat]["remaining"]) == ("20000", "0")
    assert run_audit(c.dir).ok  # the balance columns rebuild from the ledger as stored


# -- logistic units and other unregistered objects ---------------------------------------------

def test_a_stranger_cannot_write_on_another_partys_pallet() -> None:
    """Anyone could add a 'destroyed' event to the pallet a lot was packed onto, which then
    showed in the lot owner's trace and recall."""
    m = Mill()
    w = m.w
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC, [q(m.wheat, 6, "TNE")])))
    forged = object_event(WHEN, "storing", "destroyed", SSCC)
    err = w.fail("epcis_invalid", m.rival, "trace", "record_events", doc(forged))
    reason = err["details"]["errors"][0]["reason"]
    assert err["details"]["errors"][0]["code"] == "forbidden" and SSCC in reason
    rye = m.lot(5, "R1", "1", "TNE", maker=m.rival)
    for ev in (agg(SSCC, [q(rye)]), agg(SSCC, [], "DELETE"),
               transform([q(rye, 1, "TNE")], [SSCC]), transform([q(SSCC)], [rye])):
        err = w.fail("epcis_invalid", m.rival, "trace", "record_events", doc(ev))
        assert err["details"]["errors"][0]["code"] == "forbidden", ev
    # the carrier holding the lot on the pallet may record on the pallet; the lab inspects
    m.hand_over(m.wheat, m.carrier)
    m.refused("forbidden", [q(SSCC)], m.flour(1))  # milling it needs the goods on it too
    w.ok(m.carrier, "trace", "record_events",
         doc(object_event(WHEN, "transporting", "in_transit", SSCC)))
    w.ok(m.lab, "trace", "record_events", doc(object_event(WHEN, "inspecting", "damaged", SSCC)))
    w.fail("epcis_invalid", m.lab, "trace", "record_events", doc(forged))
    # once the carrier has unpacked the pallet, nothing of his is on it any more
    w.ok(m.carrier, "trace", "record_events", doc(agg(SSCC, [], "DELETE")))
    w.fail("epcis_invalid", m.carrier, "trace", "record_events",
           doc(object_event(WHEN, "transporting", "in_transit", SSCC)))
    w.ok(m.maker, "trace", "record_events", doc(forged))


def test_a_registered_unit_belongs_to_its_organisation_from_the_start() -> None:
    m = Mill()
    w = m.w
    w.ok(m.rival, "products", "register_unit", {"sscc": SSCC.rsplit("/", 1)[1]})
    err = w.fail("epcis_invalid", m.maker, "trace", "record_events",
                 doc(agg(SSCC, [q(m.wheat, 1, "TNE")])))
    assert "registered" in err["details"]["errors"][0]["reason"]
    w.ok(m.rival, "trace", "record_events",
         doc(object_event(WHEN, "storing", "active", SSCC)))
    # a unit another organisation's events already use is not for registering
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC2, [q(m.wheat, 1, "TNE")])))
    err = w.fail("already_exists", m.rival, "products", "register_unit",
                 {"sscc": SSCC2.rsplit("/", 1)[1]})
    assert "in use by organisation" in err["message"]
    w.ok(m.maker, "products", "register_unit", {"sscc": SSCC2.rsplit("/", 1)[1]})


def test_the_first_recorder_claims_an_unregistered_object() -> None:
    m = Mill()
    w = m.w
    thing = "urn:example:thing:1"
    w.ok(m.rival, "trace", "record_events",
         doc(object_event(WHEN, "storing", "active", thing)))
    err = w.fail("epcis_invalid", m.maker, "trace", "record_events",
                 doc(object_event(WHEN, "storing", "destroyed", thing)))
    assert "first recorded by organisation" in err["details"]["errors"][0]["reason"]
    # nor may it be made the output (or input) of someone else's transformation
    m.refused("forbidden", [q(m.wheat, 1, "TNE")], thing)
    w.ok(m.rival, "trace", "record_events",
         doc(object_event(WHEN, "storing", "active", thing)))
    # an inspection by a lab claims nothing: the lab inspects other people's goods
    crate = "urn:example:crate:7"
    w.ok(m.lab, "trace", "record_events", doc(object_event(WHEN, "inspecting", "conformant",
                                                           crate)))
    w.ok(m.maker, "trace", "record_events", doc(agg(crate, [q(m.wheat, 1, "TNE")])))
    w.fail("epcis_invalid", m.rival, "trace", "record_events",
           doc(object_event(WHEN, "storing", "active", crate)))


def test_a_forged_pallet_event_stays_out_of_the_lots_trace(mill: FlourMill) -> None:
    c, p = mill.c, mill.parties
    c.ok(p["shop"], "trace", "record_event", {"batch": mill.flour, "event": agg(
        SSCC, [q(mill.flour, 40, "KGM")])})
    # the carrier handed the flour on: it has no business with the pallet any more
    err = error_of(c, p["carrier"], "trace", "record_events",
                   doc(object_event(WHEN, "storing", "destroyed", SSCC)))
    assert err.details["errors"][0]["code"] == "forbidden"
    res = queries(c).trace(mill.flour)
    assert res["downstream"] == [SSCC] and res["faults"] == []
    # another member of the shop's organisation may
    clerk = c.member("clerk", "shop", ["warehouse"])
    c.ok(clerk, "trace", "record_events", doc(object_event(WHEN, "storing", "active", SSCC)))
    assert [e["batch"] for e in queries(c).trace(mill.flour)["events"]][-1] == SSCC


# -- review: what still reached past the balance -----------------------------------------------

def _linked(parent: str, lot: str, event_type: str, action: str) -> dict[str, Any]:
    """A lot linked to ``parent`` without packing it (a business transaction's container, an
    observed aggregation)."""
    ev: dict[str, Any] = {"type": event_type, "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
                          "parentID": parent, "action": action, "bizStep": "shipping",
                          "disposition": "in_transit"}
    if event_type == "TransactionEvent":
        ev["quantityList"] = [q(lot, 1, "TNE")]
        ev["bizTransactionList"] = [{"type": "po", "bizTransaction": "urn:example:po:1"}]
    else:
        ev["childQuantityList"] = [q(lot, 1, "TNE")]
    return ev


def test_only_the_custodian_packs_or_unpacks_a_lot() -> None:
    """An inspector (an 'inspecting' step) or an owner without custody (a 'retail_selling'
    step) may record on a lot, and so could pack all of it onto any pallet, or unpack a
    pallet the custodian packed, changing a balance that is not theirs."""
    m = Mill()
    w = m.w
    inspecting = agg(SSCC, [q(m.wheat)]) | {"bizStep": "inspecting"}
    err = w.fail("epcis_invalid", m.lab, "trace", "record_events", doc(inspecting))
    assert err["details"]["errors"][0]["code"] == "forbidden"
    assert "custody of" in err["details"]["errors"][0]["reason"]
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC, [q(m.wheat, 6, "TNE")])))
    for ev in (agg(SSCC, [q(m.wheat)], "DELETE"), agg(SSCC, [], "DELETE")):
        err = w.fail("epcis_invalid", m.lab, "trace", "record_events",
                     doc(ev | {"bizStep": "inspecting"}))
        assert err["details"]["errors"][0]["code"] == "forbidden", ev
    m.hand_over(m.wheat, m.carrier)  # the maker still owns it, the carrier holds it
    selling = agg(SSCC2, [q(m.wheat, 1, "TNE")]) | {"bizStep": "retail_selling"}
    err = w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(selling))
    assert err["details"]["errors"][0]["code"] == "forbidden"
    assert m.row(m.wheat) == ("0", "6", "4")
    w.ok(m.lab, "trace", "record_events", doc(object_event(WHEN, "inspecting", "damaged",
                                                           SSCC)))  # inspecting still is
    w.ok(m.carrier, "trace", "record_events", doc(agg(SSCC, [], "DELETE")))
    assert m.row(m.wheat) == ("0", "0", "10")


def test_a_lot_with_nothing_left_reaches_no_further_output() -> None:
    """A lot milled whole could still be linked to a pallet by a transaction event or an
    observation (or packed onto one as a serialised item), and that pallet, carrying 'no
    registered goods', milled again and again: every flour traced back to the spent lot."""
    m = Mill()
    w = m.w
    m.w.ok(m.maker, "products", "commission_items",
           {"gtin": gtin(1), "lot": "W1", "serials": ["s1"]})
    item = f"https://id.gs1.org/01/{gtin(1).zfill(14)}/21/s1"
    f1, f2 = m.flour(1), m.flour(2)
    m.mill([q(m.wheat)], f1)
    packed_item = agg(SSCC, []) | {"childEPCs": [item]}
    milled_item = {"type": "TransformationEvent", "eventTime": WHEN,
                   "eventTimeZoneOffset": "+08:00", "inputEPCList": [item],
                   "outputQuantityList": [{"epcClass": f2}]}
    for ev in (_linked(SSCC, m.wheat, "TransactionEvent", "ADD"),
               _linked(SSCC, m.wheat, "AggregationEvent", "OBSERVE"), packed_item,
               milled_item):
        err = w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(ev))
        first = err["details"]["errors"][0]
        assert (first["code"], "nothing left" in first["reason"]) == ("invalid_state", True), ev
    assert m.links() == {(m.wheat, f1)}
    # linked while it has something, the pallet carries it: milled once, and never again
    barley = m.lot(4, "B1", "5", "TNE")
    w.ok(m.maker, "trace", "record_events",
         doc(_linked(SSCC2, barley, "TransactionEvent", "ADD")))
    m.mill([q(SSCC2)], m.flour(3))
    assert "consumed" in m.refused("invalid_state", [q(SSCC2)], m.flour(4))["reason"]
    # a lot packed on a pallet is still observed there
    w.ok(m.maker, "trace", "record_events", doc(agg(SSCC, [q(barley)])))
    w.ok(m.maker, "trace", "record_events",
         doc(_linked(SSCC, barley, "AggregationEvent", "OBSERVE")))


def test_a_declared_quantity_is_kept_as_canonical_decimal_text() -> None:
    """'007.50' was stored and shown as written, then as '7.5' once the balance moved: one
    quantity, two spellings in the batches row and the lot's state."""
    m = Mill()
    lot = m.lot(7, "X1", "007.50", "KGM")
    assert m.w.get(f"products/b/{lot}")["quantity"] == "7.5"
    assert m.w.tables["batches"][(lot,)]["quantity"] == "7.5" and m.row(lot)[2] == "7.5"
    assert m.w.get(f"products/b/{m.lot(7, 'X2', '10.000')}")["quantity"] == "10"
    assert m.w.get(f"products/b/{m.lot(7, 'X3', '0.0')}")["quantity"] == "0"


def test_a_lot_an_order_reserves_is_not_transformed_while_the_order_runs() -> None:
    """The buyer pays for the lot in escrow; milling it would turn it into a new lot the
    seller could sell again."""
    m = Mill()
    buyer, bank = m.w.participant("customer"), m.w.participant("settlement")
    m.w.ok(bank, "payments", "deposit", {"account": buyer, "currency": "EUR",
                                         "amount": 100_000})
    m.w.ok(m.maker, "products", "declare_for_sale", {"id": m.wheat})
    m.w.ok(buyer, "orders", "place", {
        "id": "o1", "seller": m.maker, "batch": m.wheat, "quantity": 1, "unit_price": 1000,
        "freight": 0, "currency": "EUR", "earliest": m.w.time, "latest": m.w.time + 10**8})
    first = m.refused("invalid_state", [q(m.wheat, 1, "TNE")], m.flour(1))
    assert "reserved by order o1" in first["reason"]
    assert m.row(m.wheat) == ("0", "0", "10")
    m.w.ok(buyer, "orders", "cancel", {"order": "o1", "reason": "changed my mind"})
    m.mill([q(m.wheat, 1, "TNE")], m.flour(2))  # free again
    assert m.row(m.wheat) == ("1", "0", "9")
