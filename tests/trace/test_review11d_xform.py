"""Review 11d (trace rules v3, transformations in parts): an id is the recording
organisation's own, parts cost an edge per input and output, an input is not added under
an output another organisation holds, a part declared wrong joins nothing recorded after.
Each case failed before its fix. Runs on a real embedded node (the flour mill of paper
002)."""

from __future__ import annotations

import pytest

from supplyledger.bench.flourmill import FlourMill
from supplyledger.bench.flourmill import gtin as gtin13
from supplyledger.contracts.builtin import _trace_xform
from supplyledger.contracts.builtin._trace_xform import HUB
from supplyledger.errors import EPCISValidationError, Forbidden, ValidationError
from supplyledger.node.audit import run_audit

from .conftest import error_of, queries, sql
from .test_review11_scope import LATER, SSCC, TID, at, balance, doc, lots, pack, part

DAY3 = "2019-12-22T08:00:00.000+08:00"
DAY4 = "2019-12-23T08:00:00.000+08:00"


def recall(m: FlourMill, lot: str) -> set[str]:
    return {e["id"] for e in queries(m.c).recall(lot, page_size=1000)["affected"]}


def upstream(m: FlourMill, lot: str) -> set[str]:
    return set(queries(m.c).trace(lot)["upstream"])


def rows(m: FlourMill) -> int:
    return int(sql(m.c, "SELECT COUNT(*) FROM trace_links")[0][0])


def handover(m: FlourMill, lot: str, to: str) -> None:
    p = m.parties
    pid = m.c.ok(p["mill"], "custody", "propose", {"batch": lot, "to": p[to].did,
                                                   "kind": "both",
                                                   "terms": {"incoterm": "FCA"}})["proposal"]
    m.c.ok(p[to], "custody", "accept", {"proposal": pid})


def test_an_id_another_organisation_named_first_does_not_refuse_its_owners_parts(
        mill: FlourMill) -> None:
    """The first organisation to name a transformationID owned it: anyone naming a
    partner's (predictable) work-order id first had every later part of it refused."""
    c, p = mill.c, mill.parties
    bad = c.ok(p["farm"], "products", "create_batch", {
        "gtin": gtin13("690123400001"), "lot": "SQ", "quantity": "5", "uom": "KGM"})["batch"]
    c.ok(p["farm"], "trace", "record_events", doc(part([bad], kg=1)))
    w, f = lots(mill, "SQ1", "SQ2")
    c.ok(p["mill"], "trace", "record_events", doc(at(part([w]), LATER)))
    c.ok(p["mill"], "trace", "record_events", doc(at(part(outputs=[f]), DAY3)))
    assert recall(mill, w) == {w, f}
    assert upstream(mill, f) == {w}  # the farm's lot is in the farm's transformation only
    assert recall(mill, bad) == {bad}
    assert run_audit(c.dir).ok


def test_one_id_spelled_as_urn_or_digital_link_is_one_transformation(
        mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    w, f = lots(mill, "SP1", "SP2")
    c.ok(miller, "trace", "record_events", doc(part([w], tid="urn:epc:id:gdti:0614141.12345.400")))
    c.ok(miller, "trace", "record_events", doc(at(part(
        outputs=[f], tid="https://id.gs1.org/253/0614141123452400"), LATER)))
    assert recall(mill, w) == {w, f}


def test_parts_cost_an_edge_per_input_and_output(mill: FlourMill) -> None:
    """Each part linked its inputs to every output of the parts before it and the parts
    before it to its outputs: n parts of one input and one output wrote n² edges (and
    rewrote every input and output so far into the transformation's state). So did one
    event with n inputs and n outputs."""
    c, miller = mill.c, mill.parties["mill"]
    n = 30
    ins = lots(mill, *[f"MI{i}" for i in range(n)])
    outs = lots(mill, *[f"MO{i}" for i in range(n)])
    before = rows(mill)
    c.ok(miller, "trace", "record_events", doc(*[part([w], [f], kg=1)
                                                 for w, f in zip(ins, outs, strict=True)]))
    assert rows(mill) - before == 2 * n
    assert recall(mill, ins[0]) == {ins[0], *outs}
    assert upstream(mill, outs[-1]) == set(ins)
    # (the transformation's node is passed through, never shown)
    got = queries(c).trace(ins[-1])
    assert not [i for i in got["upstream"] + got["downstream"] if i.startswith(HUB)]
    # one event without an id, several inputs and outputs: n + m edges, not n * m
    a, b = lots(mill, "MA", "MB"), lots(mill, "MC", "MD", "ME")
    before = rows(mill)
    c.ok(miller, "trace", "record_events", doc(at(part(a, b, tid=None, kg=1), LATER)))
    assert rows(mill) - before == 5
    assert recall(mill, a[1]) == {a[1], *b} and upstream(mill, b[2]) == set(a)
    assert run_audit(c.dir).ok


def test_a_lot_named_as_input_and_output_of_one_transformation(mill: FlourMill) -> None:
    c, miller = mill.c, mill.parties["mill"]
    w, f = lots(mill, "IO1", "IO2")
    c.ok(miller, "trace", "record_events", doc(part([w], [f])))
    c.ok(miller, "trace", "record_events", doc(at(part([f], [w]), LATER)))
    assert recall(mill, w) == {w, f} and recall(mill, f) == {f, w}
    assert upstream(mill, w) == {f} and upstream(mill, f) == {w}
    assert balance(mill, w) == balance(mill, f) == ("10", "0", "90")
    assert run_audit(c.dir).ok


def test_no_input_is_added_under_an_output_another_organisation_holds(
        mill: FlourMill) -> None:
    """A mill could hand its flour to a shop and then add any lot (a faulty one) as an
    input of the transformation that made it, rewriting the shop's lot's history."""
    c, miller = mill.c, mill.parties["mill"]
    w, f, x, g = lots(mill, "HO1", "HO2", "HO3", "HO4")
    c.ok(miller, "trace", "record_events", doc(part([w], [f])))
    handover(mill, f, "shop")
    before = (rows(mill), balance(mill, x))
    err = error_of(c, miller, "trace", "record_events", doc(at(part([x]), LATER)))
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == Forbidden.code
    assert f"{f}, an output of transformation {TID}, is held by organisation shop" in \
        err.errors[0]["reason"]
    assert (rows(mill), balance(mill, x)) == before
    assert upstream(mill, f) == {w}
    # more outputs may still be named: that changes no lot another organisation holds
    c.ok(miller, "trace", "record_events", doc(at(part(outputs=[g]), DAY3)))
    assert upstream(mill, g) == {w}
    assert run_audit(c.dir).ok


def test_a_part_declared_wrong_joins_no_part_recorded_after(mill: FlourMill) -> None:
    """An error declaration linked nothing, yet the declared part's inputs stayed in the
    transformation: every output named afterwards was made from them, and the faults of
    a lot the mill said it never used became its flour's."""
    c, miller = mill.c, mill.parties["mill"]
    w, ok, f1, f2 = lots(mill, "DW1", "DW2", "DW3", "DW4")
    wrong = part([w])
    c.ok(miller, "trace", "record_events", doc(wrong, part([ok])))
    c.ok(miller, "trace", "record_events", doc(at(part(outputs=[f1]), LATER)))
    declared = wrong | {"errorDeclaration": {"declarationTime": DAY3,
                                             "reason": "incorrect_data"}}
    c.ok(miller, "trace", "record_events", doc(declared))
    c.ok(miller, "trace", "record_events", doc(at(part(outputs=[f2]), DAY4)))
    assert recall(mill, ok) == {ok, f1, f2}
    # (rules v4 withdraws the part whole; v3 kept what it joined before: review 12's tests)
    assert recall(mill, w) == {w}
    assert upstream(mill, f2) == {ok}
    assert upstream(mill, f1) == {ok}
    assert run_audit(c.dir).ok


def test_an_object_output_carries_once_a_later_part_consumes_a_lot(
        mill: FlourMill) -> None:
    # (the parts' outputs are no longer listed in the transformation's state: each object
    # output records the transformation instead)
    c, miller = mill.c, mill.parties["mill"]
    (w,) = lots(mill, "OC1")
    case = "https://id.gs1.org/00/340063810000000032"
    c.ok(miller, "trace", "record_events", doc(part(outputs=[case])))
    c.ok(miller, "trace", "record_events", doc(at(part([w]), LATER)))
    c.ok(miller, "trace", "record_events", doc(at(pack(SSCC) | {"childEPCs": [case]}, DAY3)))
    assert recall(mill, w) == {w, case, SSCC}
    assert upstream(mill, SSCC) == {case, w}
    assert run_audit(c.dir).ok


def test_a_transformation_joins_at_most_max_lots_output_lots(
        mill: FlourMill, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace_xform, "MAX_LOTS", 2)  # (the node runs in this process)
    c, miller = mill.c, mill.parties["mill"]
    w, f1, f2, f3 = lots(mill, "ML1", "ML2", "ML3", "ML4")
    c.ok(miller, "trace", "record_events", doc(part([w], [f1, f2])))
    before = rows(mill)
    err = error_of(c, miller, "trace", "record_events", doc(at(part(outputs=[f3]), LATER)))
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == ValidationError.code
    assert "would have 3 output lots, over the 2" in err.errors[0]["reason"]
    assert rows(mill) == before
