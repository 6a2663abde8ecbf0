"""The flour-mill supply chain of paper 002, week after week.

Every few days the farm harvests a wheat lot, the grain lab inspects it, and custody goes
to the mill, which mills it into a flour lot (a TransformationEvent); the flour is stored
at the granary, carried by the group's logistics company and received by the sales
company, which then owns it and offers it to the platforms. Each link is recorded by the
party entitled to it, after custody reached that party.

Each lot leaves the mill for the granary as one pallet load: the mill's dispatch
warehouse packs it onto a pallet (an AggregationEvent; the pallet's SSCC is under Golden
Wheat's company prefix, the mill's to claim) and ships the pallet (its own event, with the
bill of lading), so a recall of the lot reaches the pallet and its shipment.

Two lots go wrong on purpose: flour lot no. 3 leaves the mill too moist (processing
non-conformant, as in the paper's batch 20191215003), and a later lot overheats in a truck
(a temperature alarm above the flour's 30 °C limit). And one record goes wrong: the
dispatch clerk records lot no. 2 as packed onto the pallet of the load before it, which
had left days earlier, notices at the gate, corrects the books (that packing taken back
off, the lot packed onto its own pallet) and records an EPCIS error declaration of the
wrong packing (trace rules v4): the trace of lot no. 2 shows the packing declared wrong
and the link it withdrew, and its recall reaches its own pallet's shipment, not the
earlier one. (Under trace rules v5 the declaration alone gives the packing back; the
clerk's book correction came first, so the declaration finds the lot taken off that
pallet since and gives nothing back twice.)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from supplyledger.api.links import LINKS, NAMESPACE, NOTE, build_event, epcis_time
from supplyledger.demo.cast import DAY, HOUR, Person, Sim
from supplyledger.gs1 import gs1_check_digit, gtin_check_digit

__all__ = ["GLNS", "FlourChain", "gtin", "lot_day", "lot_ids", "lot_stories", "pallet",
           "setup_flour"]

FAULTY_LOT_NO = 3
HOT_LOT_NO = 8
MISPACKED_LOT_NO = 2  # packed onto the previous lot's pallet by mistake, then corrected
COMPANY_PREFIX = "6901234"  # Golden Wheat's; recorded for the mill (load._consortium)


def gtin(body12: str) -> str:
    return body12 + str(gtin_check_digit(body12))


WHEAT, FLOUR = gtin("690123400001"), gtin("690123400002")
# GLN -> (name, who registers it)
GLNS = {
    gtin("690123410001"): ("Golden Wheat Farms, Chengdu plain fields", "farm"),
    gtin("690123410002"): ("Golden Wheat Mill no. 1, Mianyang", "mill"),
    gtin("690123410003"): ("Golden Wheat Granary, Deyang", "granary"),
    gtin("690123410004"): ("Golden Wheat Sales warehouse, Chengdu", "sales"),
}
_GLN = {who: g for g, (_, who) in GLNS.items()}


def pallet(n: int) -> str:
    """The pallet that takes flour lot no. ``n`` to the granary: an SSCC (extension digit
    1, the company prefix, serial ``n``) as a GS1 Digital Link."""
    body = f"1{COMPANY_PREFIX}{n:09d}"
    return f"https://id.gs1.org/00/{body}{gs1_check_digit(body)}"


@dataclass
class FlourChain:
    lots: list[str] = field(default_factory=list)  # flour batch ids, in order
    wheat: list[str] = field(default_factory=list)
    faulty: str = ""
    hot: str = ""
    faulty_processing: tuple[str, int] = ("", 0)  # (batch, seq) of the faulty event
    # the lot packed onto the wrong pallet: (lot, wrong pallet, right pallet)
    mispacked: tuple[str, str, str] = ("", "", "")


def setup_flour(sim: Sim, p: dict[str, Person]) -> None:
    sim.ok(p["farm"], "products", "create_product", {
        "gtin": WHEAT, "name": "Wheat, Sichuan hard red",
        "limits": {"RelativeHumidity": {"max": "14", "uom": "P1"}}})
    sim.ok(p["mill"], "products", "create_product", {
        "gtin": FLOUR, "name": "Wheat flour, 25 kg bags",
        "limits": {"RelativeHumidity": {"max": "14", "uom": "P1"},
                   "Temperature": {"max": "30", "uom": "CEL"}}})
    for gln, (name, who) in GLNS.items():
        sim.ok(p[who], "products", "register_location", {"gln": gln, "name": name})


def _record(sim: Sim, who: Person, batch: str, link: str, **kw: Any) -> dict[str, Any]:
    ev = build_event(LINKS[link], batch=batch, time_ms=sim.now(), **kw)
    res: dict[str, Any] = sim.ok(who, "trace", "record_event", {"batch": batch, "event": ev})
    return res


def _handover(sim: Sim, frm: Person, to: Person, batch: str, kind: str) -> None:
    pid = sim.ok(frm, "custody", "propose", {"batch": batch, "to": to.did, "kind": kind,
                                            "terms": {"incoterm": "FCA"}})["proposal"]
    sim.tick(40)
    sim.ok(to, "custody", "accept", {"proposal": pid})


def _packing(sim: Sim, batch: str, unit: str, action: str,
             note: str | None = None) -> dict[str, Any]:
    """The mill's dispatch warehouse packs the whole lot onto ``unit`` (ADD), or takes it
    off again (DELETE)."""
    ev: dict[str, Any] = {
        "type": "AggregationEvent", "eventTime": epcis_time(sim.now()),
        "eventTimeZoneOffset": "+00:00", "parentID": unit, "action": action,
        "childQuantityList": [{"epcClass": batch, "quantity": 15000, "uom": "KGM"}],
        "bizStep": "packing" if action == "ADD" else "unpacking",
        "disposition": "in_progress",
        "readPoint": {"id": f"https://id.gs1.org/414/{_GLN['mill']}"},
        "bizLocation": {"id": f"https://id.gs1.org/414/{_GLN['mill']}"}}
    if note:
        ev["@context"] = [NAMESPACE]
        ev[NOTE] = note
    return ev


def _pack(sim: Sim, who: Person, batch: str, ev: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = sim.ok(who, "trace", "record_event", {"batch": batch, "event": ev})
    return res


def _ship_pallet(sim: Sim, mill: Person, flour: str, n: int, chain: FlourChain) -> None:
    """Flour lot no. ``n`` onto its pallet, and the pallet off to the granary. For lot no.
    MISPACKED_LOT_NO the clerk first scans the previous load's pallet label, and corrects
    that before the pallet leaves."""
    unit = pallet(n)
    if n == MISPACKED_LOT_NO and n > 1:
        wrong_unit = pallet(n - 1)
        wrong = _packing(sim, flour, wrong_unit, "ADD")
        _pack(sim, mill, flour, wrong)
        sim.tick(15)  # the gate scan says that pallet left on its own load days ago
        # Taken back off in the books first (the way before trace rules v5, whose
        # declaration would give the packing back by itself; after this it gives nothing).
        off = _pack(sim, mill, flour, _packing(
            sim, flour, wrong_unit, "DELETE", note="book correction: the bags were never on "
            f"pallet {wrong_unit.rsplit('/', 1)[-1]}; gives back what the mistaken packing "
            "holds"))
        on = _pack(sim, mill, flour, _packing(sim, flour, unit, "ADD"))
        sim.tick(5)
        _pack(sim, mill, flour, wrong | {"@context": [NAMESPACE], "errorDeclaration": {
            "declarationTime": epcis_time(sim.now()), "reason": "incorrect_data",
            "correctiveEventIDs": [off["hash"], on["hash"]],
            NOTE: f"scanned the label of pallet {wrong_unit.rsplit('/', 1)[-1]}, which left "
                  "with the previous lot; the lot is on its own pallet "
                  f"{unit.rsplit('/', 1)[-1]}"}})
        chain.mispacked = (flour, wrong_unit, unit)
    else:
        _pack(sim, mill, flour, _packing(sim, flour, unit, "ADD"))
    sim.tick(20)
    # (captured as a document: record_event takes registered batches, a pallet is not one)
    sim.ok(mill, "trace", "record_events", {"events": json.dumps([{
        "type": "ObjectEvent", "eventTime": epcis_time(sim.now()),
        "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "epcList": [unit],
        "bizStep": "shipping", "disposition": "in_transit",
        "readPoint": {"id": f"https://id.gs1.org/414/{_GLN['mill']}"},
        "bizTransactionList": [{"type": "bol",
                                "bizTransaction": f"urn:supplyledger:bol:GWM{n:05d}"}],
        "destinationList": [{"type": "location",
                             "destination": f"https://id.gs1.org/414/{_GLN['granary']}"}]}])})


def _lot(day_ms: int, n: int) -> str:
    return dt.datetime.fromtimestamp(day_ms / 1000, dt.UTC).strftime("%Y%m%d") + f"{n:03d}"


def lot_day(first: int, n: int) -> int:
    """The day (ms, 00:00 UTC) flour lot no. ``n`` (from 1) starts: two lots a week,
    Monday and Thursday, from ``first``."""
    week, second = divmod(n - 1, 2)
    return first + (7 * week + 3 * second) * DAY


def lot_ids(first: int, n: int) -> tuple[str, str]:
    """The lot ids of flour lot no. ``n``'s wheat and flour (dated by their days)."""
    return _lot_pair(lot_day(first, n), n)


def _lot_pair(day: int, n: int) -> tuple[str, str]:
    return "W" + _lot(day, n), _lot(day + DAY, n)  # the flour is milled the next day


Sale = Callable[[str, int], Iterator[int]]


def lot_story(sim: Sim, p: dict[str, Person], day: int, n: int, chain: FlourChain,
              sale: Sale | None) -> Iterator[int]:
    """Harvest to sales for flour lot no. ``n`` from ``day`` (ms, 00:00 UTC); yields the
    time each step is due, so stories interleave in time order. ``sale`` continues the
    story when the sales company sells the lot."""
    faulty, hot = n == FAULTY_LOT_NO, n == HOT_LOT_NO
    wheat_lot, flour_lot = _lot_pair(day, n)
    yield day + 6 * HOUR
    wheat = sim.ok(p["farm"], "products", "create_batch", {
        "gtin": WHEAT, "lot": wheat_lot, "quantity": "20000", "uom": "KGM",
        "produced": dt.datetime.fromtimestamp(day / 1000, dt.UTC).strftime("%Y-%m-%d")})[
            "batch"]
    chain.wheat.append(wheat)
    _record(sim, p["farm"], wheat, "production", quantity=20000, location=_GLN["farm"],
            readings=[("RelativeHumidity", 12 + n % 2)])
    yield day + 9 * HOUR
    _record(sim, p["inspector"], wheat, "inspection", location=_GLN["farm"],
            readings=[("RelativeHumidity", 12 + n % 2)],
            note="protein 12.8 %, falling number 320 s, no foreign matter")
    _handover(sim, p["farm"], p["mill"], wheat, "both")

    yield day + DAY + 8 * HOUR
    flour = sim.ok(p["mill"], "products", "create_batch", {
        "gtin": FLOUR, "lot": flour_lot, "quantity": "15000", "uom": "KGM"})["batch"]
    chain.lots.append(flour)
    res = _record(sim, p["mill"], flour, "processing", quantity=15000, location=_GLN["mill"],
                  inputs=[(wheat, 20000)],
                  disposition="non_conformant" if faulty else "active",
                  readings=[("RelativeHumidity", 16 if faulty else 13)],
                  note="moisture 16 % above the 14 % limit: tempering bin overfilled, "
                       "drying step skipped" if faulty else None)
    if faulty:
        chain.faulty, chain.faulty_processing = flour, (res["batch"], res["seq"])
    else:
        yield day + DAY + 10 * HOUR
        _record(sim, p["inspector"], flour, "inspection", location=_GLN["mill"],
                readings=[("RelativeHumidity", 13)], note="ash 0.55 %, gluten 28 %")
    yield day + DAY + 13 * HOUR
    _ship_pallet(sim, p["mill"], flour, n, chain)
    yield day + DAY + 14 * HOUR
    _handover(sim, p["mill"], p["granary"], flour, "custody")
    _record(sim, p["granary"], flour, "storage", quantity=15000, location=_GLN["granary"],
            readings=[("Temperature", 18 + n % 4), ("RelativeHumidity", 12)])

    yield day + 3 * DAY + 7 * HOUR
    _handover(sim, p["granary"], p["driver"], flour, "custody")
    _record(sim, p["driver"], flour, "transport", location=_GLN["granary"],
            readings=[("Temperature", 34 if hot else 20 + n % 5)], alarm=hot,
            transport_no=f"GWL{n:05d}",
            note="reefer unit failed for 3 h on the G5 expressway" if hot else None)
    if hot:
        chain.hot = flour
    yield day + 3 * DAY + 17 * HOUR
    _handover(sim, p["driver"], p["sales"], flour, "custody")
    _handover(sim, p["mill"], p["sales"], flour, "ownership")
    _record(sim, p["sales"], flour, "receiving", quantity=15000, location=_GLN["sales"])
    if faulty:
        return
    sim.ok(p["sales"], "products", "declare_for_sale", {"id": flour})
    if sale is not None:
        yield day + 6 * DAY + 10 * HOUR
        yield from sale(flour, n)


def lot_stories(sim: Sim, p: dict[str, Person], start: int, weeks: int, chain: FlourChain,
                sale: Sale | None) -> list[Iterator[int]]:
    """Two lots a week (Monday and Thursday) for ``weeks`` weeks from ``start``."""
    return [lot_story(sim, p, lot_day(start, n), n, chain, sale)
            for n in range(1, 2 * weeks + 1)]
