"""Review 14 (trace rules v5): an error declaration gives back to each lot what the event it
declares wrong consumed or packed of it. Under v4 a mistyped milling (1000 kg of wheat
instead of 100 kg) left the lot with nothing for good, and the corrective event EPCIS
prescribes was refused as insufficient_quantity: the wrong consumption still counted. Runs
on a real embedded node (the flour mill of paper 002) with its SQLite ledger; the v4
ledger is made by an older release's genesis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.bench.flourmill import FlourMill, build_flour_mill
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import AlreadyExists, EPCISValidationError, InvalidState
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger

from .conftest import T0, error_of, queries, sql
from .test_review11_recall import PALLET, Run, agg, mill_into, when

CORRECTIVE = "urn:uuid:0b9f3c52-6a43-4c1e-9a55-3d7c2e1f0a01"


def declared(ev: dict[str, Any], *corrective: str) -> dict[str, Any]:
    return ev | {"errorDeclaration": {"declarationTime": "2019-12-23T08:00:00.000+08:00",
                                      "reason": "incorrect_data",
                                      "correctiveEventIDs": list(corrective)}}


def milling(hour: int, wheat: str, kg: int, *flour: str) -> dict[str, Any]:
    return {"type": "TransformationEvent", "eventTime": when(hour),
            "eventTimeZoneOffset": "+08:00",
            "inputQuantityList": [{"epcClass": wheat, "quantity": kg, "uom": "KGM"}],
            "outputQuantityList": [{"epcClass": f} for f in flour],
            "bizStep": "commissioning", "disposition": "active"}


def lots(r: Run, kg: int, *names: str) -> list[str]:
    g = r.m.flour.split("/")[4]
    return [r.c.ok(r.miller, "products", "create_batch",
                   {"gtin": g, "lot": n, "quantity": str(kg), "uom": "KGM"})["batch"]
            for n in names]


def balance(r: Run, lot: str) -> tuple[str, str, str]:
    """(consumed, packed, remaining) as the lot's batches row shows them."""
    rows = sql(r.c, "SELECT consumed, packed, remaining FROM batches WHERE id = ?", (lot,))
    consumed, packed, remaining = rows[0]
    return consumed, packed, remaining


def records(r: Run) -> int:
    """How many recordings keep what they took (state ``trace/r/``)."""
    n: int = sql(r.c, "SELECT COUNT(*) FROM state WHERE key LIKE 'trace/r/%'")[0][0]
    return n


def capture(r: Run, *events: dict[str, Any], who: Party | None = None) -> Any:
    """The receipt of one captured document (the ``trace.recorded`` events' data)."""
    receipt = r.c.call(who or r.miller, "trace", "record_events",
                       {"events": json.dumps(list(events))})
    assert receipt.ok, receipt.error
    return [d for t, d in receipt.data["events"] if t == "trace.recorded"]


def hand_over(c: Consortium, frm: Party, to: Party, batch: str) -> None:
    pid = c.ok(frm, "custody", "propose", {"batch": batch, "to": to.did, "kind": "custody",
                                           "terms": {"incoterm": "FCA"}})["proposal"]
    c.ok(to, "custody", "accept", {"proposal": pid})


def mistyped_then_corrected(r: Run) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """A wheat lot of 1000 kg milled into flour; the miller typed 1000 kg, not 100 kg.
    Returns (wheat, flour, the wrong milling, the corrective milling)."""
    wheat, flour = lots(r, 1000, "MW1", "MF1")
    wrong = milling(8, wheat, 1000, flour)
    r.record(wrong)
    assert balance(r, wheat) == ("1000", "0", "0")
    return wheat, flour, wrong, milling(8, wheat, 100, flour) | {"eventID": CORRECTIVE}


def test_a_mistyped_milling_declared_wrong_gives_the_wheat_back_and_the_correction_holds(
        mill: FlourMill) -> None:
    r = Run(mill)
    wheat, flour, wrong, right = mistyped_then_corrected(r)
    recorded = capture(r, declared(wrong, CORRECTIVE), right)
    assert [g[2:] for g in recorded[0]["given_back"]] == [[wheat, "1000", "0"]]
    assert "not_given_back" not in recorded[0]
    assert balance(r, wheat) == ("100", "0", "900")
    # the flour comes from the wheat through the corrective event only
    assert r.upstream(flour) == {wheat}
    assert [(w["what"], w["src"]) for w in queries(r.c).trace(flour)["withdrawn"]] == [
        ("link", wheat)]
    # more than is left is still refused
    err = error_of(r.c, r.miller, "trace", "record_events",
                   {"events": json.dumps([milling(9, wheat, 901, flour)])})
    assert isinstance(err, EPCISValidationError)
    assert err.errors[0]["code"] == InvalidState.code and "900 KGM left" in err.message
    assert run_audit(r.c.dir).ok


def test_a_declaration_gives_nothing_back_twice(mill: FlourMill) -> None:
    r = Run(mill)
    wheat, flour, wrong, _ = mistyped_then_corrected(r)
    kept = records(r)
    capture(r, declared(wrong))
    assert balance(r, wheat) == ("0", "0", "1000")
    assert records(r) == kept - 1  # what the milling took, given back, is forgotten
    # the same declaration again: refused on the chain that holds it, and recorded on the
    # wheat's own chain (the event names it) it gives nothing back a second time
    err = error_of(r.c, r.miller, "trace", "record_events",
                   {"events": json.dumps([declared(wrong)])})
    assert isinstance(err, AlreadyExists)
    again = r.c.ok(r.miller, "trace", "record_event", {"batch": wheat, "event": declared(wrong)})
    assert "given_back" not in again
    r.record(milling(9, wheat, 1000, flour))
    assert balance(r, wheat) == ("1000", "0", "0")  # consumed once, not credited twice
    assert records(r) == kept
    assert run_audit(r.c.dir).ok


def test_only_the_lots_custodian_makes_the_give_back_effective(mill: FlourMill) -> None:
    """The flour went on to the shop, which declares the milling wrong on its flour's
    chain: the links are withdrawn, but the wheat is the mill's, and comes back only when
    the mill declares the milling wrong too (on the wheat, which the event names)."""
    r = Run(mill)
    shop = mill.parties["shop"]
    wheat, flour, wrong, _ = mistyped_then_corrected(r)
    hand_over(r.c, r.miller, shop, flour)
    assert "given_back" not in capture(r, declared(wrong), who=shop)[0]
    assert balance(r, wheat) == ("1000", "0", "0")
    assert r.upstream(flour) == set()
    got = r.c.ok(r.miller, "trace", "record_event", {"batch": wheat, "event": declared(wrong)})
    assert [g[2:] for g in got["given_back"]] == [[wheat, "1000", "0"]]
    assert balance(r, wheat) == ("0", "0", "1000")
    # the other way round: the mill's word on its wheat counts once the links are withdrawn
    wheat, flour = lots(r, 1000, "KW", "KF")
    wrong = milling(9, wheat, 1000, flour)
    r.record(wrong)
    hand_over(r.c, r.miller, shop, flour)
    first = r.c.ok(r.miller, "trace", "record_event", {"batch": wheat, "event": declared(wrong)})
    assert "given_back" not in first  # the flour's chain does not say so yet
    assert balance(r, wheat) == ("1000", "0", "0")
    assert [g[2:] for g in capture(r, declared(wrong), who=shop)[0]["given_back"]] == [
        [wheat, "1000", "0"]]
    assert balance(r, wheat) == ("0", "0", "1000")
    assert run_audit(r.c.dir).ok


def test_a_declaration_on_one_chain_of_two_waits_for_the_other(mill: FlourMill) -> None:
    """A milling into two flour lots is one recording on two chains: as for its links
    (v4), the wheat comes back once the declaration is on both."""
    r = Run(mill)
    wheat, f1, f2 = lots(r, 1000, "TW", "TF1", "TF2")
    wrong = milling(8, wheat, 600, f1, f2)
    r.record(wrong)
    first = r.c.ok(r.miller, "trace", "record_event", {"batch": f1, "event": declared(wrong)})
    assert "given_back" not in first and balance(r, wheat) == ("600", "0", "400")
    second = r.c.ok(r.miller, "trace", "record_event", {"batch": f2, "event": declared(wrong)})
    assert [g[2:] for g in second["given_back"]] == [[wheat, "600", "0"]]
    assert balance(r, wheat) == ("0", "0", "1000")
    assert run_audit(r.c.dir).ok


def test_a_mistyped_packing_is_given_back_from_the_pallet(mill: FlourMill) -> None:
    r = Run(mill)
    lot, other = r.lots("P1", "P2")
    wrong = agg(8, PALLET, "ADD", lot, 100)  # all of it, meant 10 kg
    r.record(wrong, agg(8, PALLET, "ADD", other, 40))
    assert balance(r, lot) == ("0", "100", "0")
    recorded = capture(r, declared(wrong), agg(8, PALLET, "ADD", lot, 10))
    assert [g[2:] for g in recorded[0]["given_back"]] == [[lot, "0", "100"]]
    assert balance(r, lot) == ("0", "10", "90")
    assert balance(r, other) == ("0", "40", "60")
    # the pallet holds the corrected 10 kg and the other lot's 40: unpacked whole, exactly
    r.record(agg(9, PALLET, "DELETE"))
    assert balance(r, lot) == ("0", "0", "100") and balance(r, other) == ("0", "0", "100")
    assert run_audit(r.c.dir).ok


def test_a_packing_of_a_lot_taken_off_the_pallet_since_is_not_given_back(
        mill: FlourMill) -> None:
    """Once any of the lot was unpacked from the pallet after the wrong packing, which
    part of what is on it now the wrong packing put there cannot be told: the declaration
    gives none of it back (and says so), never more than the lot holds."""
    r = Run(mill)
    lot, moved = r.lots("B1", "B2")
    wrong = agg(8, PALLET, "ADD", lot, 30)
    r.record(wrong)
    r.record(agg(9, PALLET, "DELETE", lot, 30))  # the clerk's book correction
    r.record(agg(10, PALLET, "ADD", lot, 20))  # and later a real packing onto it
    recorded = capture(r, declared(wrong))
    assert "given_back" not in recorded[0]
    assert [k[2:] for k in recorded[0]["not_given_back"]] == [[lot, PALLET, "30"]]
    assert balance(r, lot) == ("0", "20", "80")  # the 20 kg really on it stay packed
    # a partial unpacking blocks it too; the recorder unpacks what is still wrongly there
    wrong = agg(11, PALLET, "ADD", moved, 30)
    r.record(wrong)
    r.record(agg(12, PALLET, "DELETE", moved, 10))
    assert "given_back" not in capture(r, declared(wrong))[0]
    assert balance(r, moved) == ("0", "20", "80")
    r.record(agg(13, PALLET, "DELETE", moved))
    assert balance(r, moved) == ("0", "0", "100")
    assert run_audit(r.c.dir).ok


def test_a_packing_onto_a_pallet_milled_since_comes_back_with_the_milling(
        mill: FlourMill) -> None:
    """The pallet was milled: the lot's quantity went with it, so the packing's
    declaration gives nothing back; declaring the milling wrong too gives the lot back what
    it consumed through the pallet, and the pallet, never milled, is usable again."""
    r = Run(mill)
    lot, made = r.lots("M1", "MO")
    wrong = agg(8, PALLET, "ADD", lot, 30)
    r.record(wrong)
    milled = mill_into(9, PALLET, made)
    r.record(milled)
    assert balance(r, lot) == ("30", "0", "70")
    assert [k[2:] for k in capture(r, declared(wrong))[0]["not_given_back"]] == [
        [lot, PALLET, "30"]]
    assert balance(r, lot) == ("30", "0", "70")
    recorded = capture(r, declared(milled))
    assert [g[2:] for g in recorded[0]["given_back"]] == [[lot, "30", "0"]]
    assert balance(r, lot) == ("0", "0", "100")
    r.record(agg(10, PALLET, "ADD", lot, 50))  # (refused while the pallet counted as milled)
    assert balance(r, lot) == ("0", "50", "50")
    assert run_audit(r.c.dir).ok


@pytest.fixture
def v4_mill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlourMill]:
    """A flour mill on a ledger an older release made: trace rules v4."""
    v4 = {n: replace(k, versions=(1, 2, 3, 4)) if n == "trace" else k
          for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=v4))
    c = Consortium(tmp_path / "ledger", clock=lambda: T0)
    yield build_flour_mill(c)
    c.stop()


def test_v4_still_refuses_the_corrective_event(v4_mill: FlourMill) -> None:
    r = Run(v4_mill)
    wheat, _, wrong, right = mistyped_then_corrected(r)
    err = error_of(r.c, r.miller, "trace", "record_events",
                   {"events": json.dumps([declared(wrong, CORRECTIVE), right])})
    assert isinstance(err, EPCISValidationError)
    assert [(e["event"], e["code"]) for e in err.errors] == [(1, InvalidState.code)]
    assert "1000 consumed and 0 packed before, 0 KGM left, this event asks 100 KGM" in \
        err.errors[0]["reason"]
    capture(r, declared(wrong, CORRECTIVE))  # alone, it withdraws the link, as v4 does
    assert balance(r, wheat) == ("1000", "0", "0")
    assert records(r) == 0  # (v4 keeps no account of what an event took)
    assert run_audit(r.c.dir).ok


def test_adopting_v5_gives_back_what_is_recorded_from_then_on(v4_mill: FlourMill) -> None:
    """An event recorded under v4 kept no account of what it took: declared wrong under
    v5 it withdraws its links and gives nothing back. One recorded after the adoption is
    given back."""
    r = Run(v4_mill)
    wheat, flour, wrong, _ = mistyped_then_corrected(r)
    r.c.ok(r.c.admin, "rules", "adopt", {"contract": "trace", "version": 5})
    assert "given_back" not in capture(r, declared(wrong))[0]
    assert balance(r, wheat) == ("1000", "0", "0")
    assert r.upstream(flour) == set()
    later, made = lots(r, 1000, "AW", "AF")
    wrong = milling(9, later, 1000, made)
    r.record(wrong)
    capture(r, declared(wrong))
    assert balance(r, later) == ("0", "0", "1000")
    report = run_audit(r.c.dir)
    assert report.ok, report.findings[:3]
