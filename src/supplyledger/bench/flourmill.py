"""The flour-mill supply chain of paper 002 (§4), built on a consortium ledger.

Links: production (wheat harvest and its quality inspection at the farm), processing
(milling: a TransformationEvent wheat lot -> flour lot), storage (mill warehouse),
transportation (carrier, with temperature readings) and sales (shop). Custody moves
farm -> mill -> carrier -> shop through custody proposals, so every link is recorded by
the party entitled to it. ``faulty`` makes the processing link report a quality problem,
as in the paper's Figure 5 (batch 20191215003).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.gs1 import gtin_check_digit

__all__ = ["FLOUR_LOT", "LINKS", "FlourMill", "build_flour_mill", "gtin", "object_event"]

LINKS = ("production", "processing", "storage", "transport", "sales")
FLOUR_LOT = "20191215003"


def gtin(body: str) -> str:
    """A GTIN-13 from its 12-digit body (check digit computed)."""
    return body + str(gtin_check_digit(body))


def object_event(when: str, step: str, disp: str, batch: str, *, qty: int | None = None,
                 action: str = "OBSERVE", **extra: Any) -> dict[str, Any]:
    """An EPCIS 2.0 ObjectEvent about a batch (class-level: a quantity of an LGTIN)."""
    q: dict[str, Any] = {"epcClass": batch}
    if qty is not None:
        q |= {"quantity": qty, "uom": "KGM"}
    return {"type": "ObjectEvent", "eventTime": when, "eventTimeZoneOffset": "+08:00",
            "action": action, "quantityList": [q], "bizStep": step, "disposition": disp,
            **extra}


def _temps(*values: int) -> list[dict[str, Any]]:
    return [{"sensorReport": [{"type": "Temperature", "value": v, "uom": "CEL"}
                              for v in values]}]


@dataclass
class FlourMill:
    c: Consortium
    parties: dict[str, Party]
    wheat: str = ""
    flour: str = ""
    # link -> (batch, seq) of the event that represents the link
    events: dict[str, tuple[str, int]] = field(default_factory=dict)


def _handover(c: Consortium, frm: Party, to: Party, batch: str, kind: str) -> None:
    pid = c.ok(frm, "custody", "propose", {"batch": batch, "to": to.did, "kind": kind,
                                           "terms": {"incoterm": "FCA"}})["proposal"]
    c.ok(to, "custody", "accept", {"proposal": pid})


def _record(m: FlourMill, who: str, batch: str, event: dict[str, Any],
            link: str | None = None) -> None:
    res = m.c.ok(m.parties[who], "trace", "record_event", {"batch": batch, "event": event})
    if link is not None:
        m.events[link] = (res["batch"], res["seq"])


def build_flour_mill(c: Consortium, *, faulty: bool = False, tag: str = "") -> FlourMill:
    """Register the parties and record the whole chain; ``tag`` makes lot numbers unique
    when several chains share a ledger."""
    c.org("farm", ["supplier", "manufacturer"])
    c.org("mill", ["manufacturer", "warehouse", "inspector"])
    c.org("carrier", ["transporter"])
    c.org("shop", ["platform", "warehouse"])
    c.org("qa", ["inspector"])
    parties = {
        "farm": c.member("farm", "farm", ["supplier", "manufacturer"]),
        "mill": c.member("mill", "mill", ["manufacturer", "warehouse"]),
        "carrier": c.member("carrier", "carrier", ["transporter"]),
        "shop": c.member("shop", "shop", ["platform", "warehouse"]),
        "inspector": c.member("inspector", "qa", ["inspector"]),
    }
    return record_flour_chain(c, parties, faulty=faulty, tag=tag, new_products=True)


def record_flour_chain(c: Consortium, parties: dict[str, Party], *, faulty: bool = False,
                       tag: str = "", new_products: bool = False) -> FlourMill:
    m = FlourMill(c, parties)
    wheat_gtin, flour_gtin = gtin("690123400001"), gtin("690123400002")
    if new_products:
        c.ok(parties["farm"], "products", "create_product",
             {"gtin": wheat_gtin, "name": "Wheat, Sichuan"})
        c.ok(parties["mill"], "products", "create_product", {
            "gtin": flour_gtin, "name": "Flour, 25 kg",
            "limits": {"Temperature": {"min": "0", "max": "30", "uom": "CEL"}}})
    m.wheat = c.ok(parties["farm"], "products", "create_batch",
                   {"gtin": wheat_gtin, "lot": f"W{tag}20191201", "quantity": "20000",
                    "uom": "KGM"})["batch"]
    _record(m, "farm", m.wheat, object_event(
        "2019-12-01T08:00:00.000+08:00", "commissioning", "active", m.wheat, qty=20000,
        action="ADD", ilmd={"example:harvest": "2019-12-01"},
        **{"@context": [{"example": "https://example.org/flour/"}]}), "production")
    _record(m, "inspector", m.wheat, object_event(
        "2019-12-01T10:00:00.000+08:00", "inspecting", "conformant", m.wheat,
        sensorElementList=[{"sensorReport": [
            {"type": "RelativeHumidity", "value": 12, "uom": "P1"}]}]))
    _handover(c, parties["farm"], parties["mill"], m.wheat, "both")
    m.flour = c.ok(parties["mill"], "products", "create_batch",
                   {"gtin": flour_gtin, "lot": f"{tag}{FLOUR_LOT}", "quantity": "15000",
                    "uom": "KGM"})["batch"]
    milling = {"type": "TransformationEvent", "eventTime": "2019-12-15T09:00:00.000+08:00",
               "eventTimeZoneOffset": "+08:00",
               "inputQuantityList": [{"epcClass": m.wheat, "quantity": 20000, "uom": "KGM"}],
               "outputQuantityList": [{"epcClass": m.flour, "quantity": 15000, "uom": "KGM"}],
               "bizStep": "commissioning",
               "disposition": "non_conformant" if faulty else "active"}
    _record(m, "mill", m.flour, milling, "processing")
    _record(m, "mill", m.flour, object_event(
        "2019-12-15T12:00:00.000+08:00", "storing", "sellable_not_accessible", m.flour,
        qty=15000), "storage")
    _handover(c, parties["mill"], parties["carrier"], m.flour, "custody")
    _record(m, "carrier", m.flour, object_event(
        "2019-12-16T07:00:00.000+08:00", "transporting", "in_transit", m.flour,
        sensorElementList=_temps(12, 14),
        bizTransactionList=[{"type": "bol", "bizTransaction": f"urn:example:bol:{tag}7731"}]),
        "transport")
    _handover(c, parties["carrier"], parties["shop"], m.flour, "custody")
    _handover(c, parties["mill"], parties["shop"], m.flour, "ownership")
    _record(m, "shop", m.flour, object_event(
        "2019-12-18T15:00:00.000+08:00", "retail_selling", "retail_sold", m.flour, qty=25),
        "sales")
    return m
