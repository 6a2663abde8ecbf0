"""Nested logistic units: a lot packed into a case, the case packed onto a pallet. The
genealogy links case -> pallet (so a recall of the lot reaches whoever holds the pallet, and
the pallet's trace shows the lot upstream), unpacking keeps that history, and the mass
balance counts the case's goods once whichever container is consumed. Each case failed
before its fix.
"""

from __future__ import annotations

from typing import Any

from supplyledger.bench.flourmill import FlourMill, object_event
from supplyledger.node.audit import run_audit

from .conftest import queries
from .test_balance_and_units import SSCC, SSCC2, WHEN, Mill, agg, doc, q

CASE, PALLET, PALLET2 = SSCC, SSCC2, "https://id.gs1.org/00/340063810000000032"


def nest(parent: str, child: str, action: str = "ADD") -> dict[str, Any]:
    """An aggregation of a logistic unit (by its EPC) into ``parent``."""
    return agg(parent, []) | {"childEPCs": [child]} | (
        {"bizStep": "unpacking"} if action == "DELETE" else {}) | {"action": action}


def packed(m: Mill, amount: int = 6) -> None:
    """``amount`` t of the wheat into the case, the case onto the pallet."""
    m.w.ok(m.maker, "trace", "record_events", doc(agg(CASE, [q(m.wheat, amount, "TNE")]),
                                                   nest(PALLET, CASE)))


def test_a_case_packed_onto_a_pallet_links_the_lot_to_the_pallet() -> None:
    m = Mill()
    packed(m)
    assert m.links() == {(m.wheat, CASE), (CASE, PALLET)}
    # unpacking is an event, not an erasure: genealogy is history
    m.w.ok(m.maker, "trace", "record_events", doc(nest(PALLET, CASE, "DELETE")))
    assert m.links() == {(m.wheat, CASE), (CASE, PALLET)}
    # a case carrying nothing registered is free as before, and links nothing
    m.w.ok(m.maker, "trace", "record_events", doc(nest(PALLET2, "urn:example:box:1")))
    assert m.links() == {(m.wheat, CASE), (CASE, PALLET)}


def test_consuming_the_pallet_consumes_what_the_case_carried_once() -> None:
    m = Mill()
    packed(m)
    assert m.row(m.wheat) == ("0", "6", "4")
    # the case is on the pallet: not free to mill, nor to pack elsewhere
    assert "packed in" in m.refused("invalid_state", [q(CASE)], m.flour(1))["reason"]
    err = m.w.fail("epcis_invalid", m.maker, "trace", "record_events",
                   doc(nest(PALLET2, CASE)))
    assert "packed in" in err["details"]["errors"][0]["reason"]
    m.mill([q(PALLET)], m.flour(2))
    assert m.row(m.wheat) == ("6", "0", "4")
    f3 = m.flour(3)
    for again in (PALLET, CASE):
        reason = m.refused("invalid_state", [q(again)], f3)["reason"]
        assert "consumed" in reason, again
    err = m.w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(nest(PALLET2, CASE)))
    assert "consumed" in err["details"]["errors"][0]["reason"]


def test_an_unpacked_case_takes_its_goods_with_it() -> None:
    m = Mill()
    packed(m)
    m.w.ok(m.maker, "trace", "record_events", doc(agg(PALLET, [], "DELETE")))  # empties it
    m.mill([q(PALLET)], m.flour(1))  # the pallet carries nothing of the case any more
    assert m.row(m.wheat) == ("0", "6", "4")
    m.mill([q(CASE)], m.flour(2))
    assert m.row(m.wheat) == ("6", "0", "4")


def test_a_unit_is_not_packed_into_itself_through_another() -> None:
    m = Mill()
    packed(m)
    err = m.w.fail("epcis_invalid", m.maker, "trace", "record_events", doc(nest(CASE, PALLET)))
    first = err["details"]["errors"][0]
    assert first["code"] == "invalid_state" and "inside" in first["reason"], first


def test_only_the_cases_claimant_or_the_custodian_of_its_goods_moves_it() -> None:
    m = Mill()
    m.w.ok(m.maker, "trace", "record_events", doc(agg(CASE, [q(m.wheat, 6, "TNE")])))
    for ev in (nest(PALLET2, CASE), nest(PALLET2, CASE) | {"bizStep": "inspecting"}):
        for who in (m.rival, m.lab):
            err = m.w.fail("epcis_invalid", who, "trace", "record_events", doc(ev))
            assert err["details"]["errors"][0]["code"] == "forbidden", (who, ev)
    assert m.links() == {(m.wheat, CASE)}
    # the carrier holding the wheat in the case may put the case on its pallet, record on
    # that pallet (it holds goods nested in it) and take the case off again
    m.hand_over(m.wheat, m.carrier)
    m.w.ok(m.carrier, "trace", "record_events", doc(nest(PALLET2, CASE)))
    m.w.ok(m.maker, "trace", "record_events", doc(nest(PALLET, "urn:example:box:2")))
    m.w.fail("epcis_invalid", m.carrier, "trace", "record_events",
             doc(object_event(WHEN, "transporting", "in_transit", PALLET)))
    m.w.ok(m.carrier, "trace", "record_events",
           doc(object_event(WHEN, "transporting", "in_transit", PALLET2)))
    m.w.ok(m.carrier, "trace", "record_events", doc(nest(PALLET2, CASE, "DELETE")))
    assert m.links() == {(m.wheat, CASE), (CASE, PALLET2)}


def test_recall_reaches_the_pallet_holder_and_the_pallet_traces_to_the_lot(
        mill: FlourMill) -> None:
    c, p = mill.c, mill.parties
    c.ok(p["shop"], "trace", "record_events", doc(agg(CASE, [q(mill.flour, 40, "KGM")]),
                                                  nest(PALLET, CASE)))
    recall = queries(c).recall(mill.flour)
    units = [e["id"] for e in recall["affected"] if e["kind"] == "logistic_unit"]
    assert units == [CASE, PALLET]
    res = queries(c).trace(PALLET)
    assert res["upstream"][:2] == [CASE, mill.flour] and mill.wheat in res["upstream"]
    assert run_audit(c.dir).ok
