"""Review of trace rules v2 (an event recorded once per chain): an error declaration is a
capture of its own, yet it says an event was wrong; it must not consume, pack or link
what the event it declares already did (nor be refused for the quantity that event
took). Runs on a real embedded node (the flour mill of paper 002)."""

from __future__ import annotations

import json
from typing import Any

from supplyledger.bench.flourmill import FlourMill
from supplyledger.node.audit import run_audit

from .conftest import sql
from .test_event_once import SSCC, WHEN, balance, flour_lots, rows, transform

DECLARED = {"declarationTime": "2019-12-22T08:00:00.000+08:00", "reason": "incorrect_data"}


def declared(ev: dict[str, Any]) -> dict[str, Any]:
    return ev | {"errorDeclaration": DECLARED}


def test_declaring_a_transformation_wrong_consumes_nothing_again(mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    src, out = flour_lots(mill, "D1", "D2")
    milling = transform(src, 40, [out])
    assert c.ok(miller, "trace", "record_event", {"batch": out, "event": milling})
    assert balance(c, src) == ("40", "0", "60")
    n = rows(c, out)
    assert c.ok(miller, "trace", "record_event", {"batch": out, "event": declared(milling)})
    assert rows(c, out) == n + 1  # the declaration is in the lot's history
    # not 80 consumed; rules v5 gives the 40 back (review 14; v2 to v4 kept them consumed)
    assert balance(c, src) == ("0", "0", "100")
    links = sql(c, "SELECT src, dst FROM trace_links WHERE src = ?", (src,))
    assert links == [(src, out)]  # no second genealogy edge
    assert run_audit(c.dir).ok


def test_declaring_a_transformation_that_took_all_is_recorded(mill: FlourMill) -> None:
    # a lot consumed whole has nothing left: a declaration consuming again was refused
    c, miller = mill.c, mill.parties["mill"]
    src, out = flour_lots(mill, "D3", "D4")
    whole = transform(src, 100, [out])
    assert c.ok(miller, "trace", "record_events", {"events": json.dumps([whole])})
    assert balance(c, src)[2] == "0"
    got = c.ok(miller, "trace", "record_events",
               {"events": json.dumps([declared(whole)])})
    assert got["events"] == 1
    assert balance(c, src) == ("0", "0", "100")  # (rules v5: given back; v2 to v4 kept it)


def test_declaring_a_packing_wrong_packs_nothing_again(mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    (lot,) = flour_lots(mill, "D5")
    pack = {"type": "AggregationEvent", "eventTime": WHEN, "eventTimeZoneOffset": "+08:00",
            "parentID": SSCC, "action": "ADD", "bizStep": "packing",
            "disposition": "in_progress",
            "childQuantityList": [{"epcClass": lot, "quantity": 30, "uom": "KGM"}]}
    assert c.ok(miller, "trace", "record_events", {"events": json.dumps([pack])})
    assert balance(c, lot) == ("0", "30", "70")
    assert c.ok(miller, "trace", "record_event", {"batch": lot, "event": declared(pack)})
    assert balance(c, lot) == ("0", "0", "100")  # not 60 packed (v5: 30 given back)
