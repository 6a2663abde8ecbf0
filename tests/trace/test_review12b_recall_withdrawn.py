"""Review 12b: a recall lists only the withdrawn links on the paths it walks (downstream).
It shared the walks' record with the upstream walk, so a pallet's recall listed the
withdrawn "lot -> pallet" packing, a link no recall of the pallet ever follows; trace walks
both ways and keeps listing both. Real embedded node (the flour mill of paper 002)."""

from __future__ import annotations

from supplyledger.bench.flourmill import FlourMill

from .conftest import queries
from .test_review11_recall import PALLET, PALLET2, Run, agg
from .test_review12_withdraw import SHIPMENT, declared, packed_and_shipped, recall_ids


def _withdrawn(answer: dict[str, object]) -> list[tuple[str, str, str]]:
    listed = answer["withdrawn"]
    assert isinstance(listed, list)
    return [(w["what"], w["src"], w["dst"]) for w in listed]


def test_a_pallets_recall_does_not_list_the_withdrawn_link_into_it(
        mill: FlourMill) -> None:
    r = Run(mill)
    (lot,) = r.lots("R1")
    pack = packed_and_shipped(r, lot)
    r.record(declared(pack))
    q = queries(r.c)
    assert recall_ids(r, PALLET) == {PALLET, SHIPMENT}
    assert _withdrawn(q.recall(PALLET)) == []  # upstream of the pallet: never walked
    # trace walks upstream too: it still says what it skipped there
    assert _withdrawn(q.trace(PALLET)) == [("link", lot, PALLET)]
    # and the lot's own recall walks down through it: listed
    assert _withdrawn(q.recall(lot)) == [("link", lot, PALLET)]


def test_a_recall_lists_what_it_skipped_downstream_only(mill: FlourMill) -> None:
    """A pallet with a withdrawn packing below it and one above: its recall lists the one
    on its downstream path (the pallet packed onto a larger unit, withdrawn) only."""
    r = Run(mill)
    (lot,) = r.lots("R2")
    pack = packed_and_shipped(r, lot)
    outer = PALLET2  # a larger unit the pallet goes onto
    up = agg(10, outer, "ADD") | {"childEPCs": [PALLET]}
    r.record(up)
    assert recall_ids(r, PALLET) == {PALLET, SHIPMENT, outer}
    r.record(declared(pack), declared(up))
    q = queries(r.c)
    assert recall_ids(r, PALLET) == {PALLET, SHIPMENT}
    assert _withdrawn(q.recall(PALLET)) == [("link", PALLET, outer)]
    assert sorted(_withdrawn(q.trace(PALLET))) == sorted([("link", lot, PALLET),
                                                          ("link", PALLET, outer)])
