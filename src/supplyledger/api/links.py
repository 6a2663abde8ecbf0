"""Supply-chain links and the EPCIS 2.0 events that record them.

Paper 002's flour-mill links (production, processing, storage, transportation, sales) with
the quality inspection, and the e-commerce stages of paper 000 (warehouse, sorting centre,
distribution, last mile), each with its CBV business step and usual disposition. The event
input page and the demo both build events here, so they look alike on the ledger.

Events name batches by their GS1 Digital Link (``https://id.gs1.org/01/<GTIN>/10/<lot>``),
locations by GLN, and carry integer readings (no floats are ever hashed). A free-text note
travels in an extension field under the ``sl:`` namespace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

__all__ = ["DISPOSITIONS", "LINKS", "NOTE", "READING_UNITS", "Link", "build_event",
           "epcis_time"]

NOTE = "sl:note"
NAMESPACE = {"sl": "urn:supplyledger:ext:"}


@dataclass(frozen=True)
class Link:
    key: str
    label: str
    biz_step: str
    disposition: str
    event_type: str = "ObjectEvent"
    action: str = "OBSERVE"


LINKS: dict[str, Link] = {lk.key: lk for lk in (
    Link("production", "Production (harvest)", "commissioning", "active", action="ADD"),
    Link("inspection", "Quality inspection", "inspecting", "conformant"),
    Link("processing", "Processing (milling)", "commissioning", "active",
         event_type="TransformationEvent"),
    Link("storage", "Storage", "storing", "sellable_not_accessible"),
    Link("transport", "Transportation", "transporting", "in_transit"),
    Link("receiving", "Receiving at a warehouse", "receiving", "in_progress"),
    Link("sorting", "Sorting centre", "packing", "in_progress"),
    Link("last_mile", "Last-mile delivery", "departing", "in_transit"),
    Link("sales", "Sales", "retail_selling", "retail_sold"),
)}
DISPOSITIONS = ("active", "conformant", "non_conformant", "in_progress", "in_transit",
                "sellable_accessible", "sellable_not_accessible", "retail_sold", "damaged",
                "expired", "recalled", "destroyed")
READING_UNITS = {"Temperature": "CEL", "RelativeHumidity": "P1", "Mass": "KGM"}


def epcis_time(ms: int) -> str:
    """To the millisecond: two recordings a second apart are two events, not a repeat
    (trace rules v2 take an event once; its time is part of what identifies it)."""
    whole = dt.datetime.fromtimestamp(ms // 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ms % 1000:03d}Z"


def build_event(link: Link, *, batch: str, time_ms: int, quantity: int | None = None,
                uom: str = "KGM", location: str | None = None,
                disposition: str | None = None, inputs: list[tuple[str, int]] | None = None,
                readings: list[tuple[str, int]] | None = None, alarm: bool = False,
                note: str | None = None, transport_no: str | None = None) -> dict[str, Any]:
    """One EPCIS 2.0 event of ``link`` about ``batch`` (a batch id). ``inputs`` are
    (batch id, quantity) consumed by a transformation; ``readings`` are (type, integer
    value) sensor reports, flagged as an alarm when ``alarm``."""
    qty: dict[str, Any] = {"epcClass": batch}
    if quantity is not None:
        qty |= {"quantity": quantity, "uom": uom}
    ev: dict[str, Any] = {
        "type": link.event_type,
        "eventTime": epcis_time(time_ms),
        "eventTimeZoneOffset": "+00:00",
        "bizStep": link.biz_step,
        "disposition": disposition or link.disposition,
    }
    if link.event_type == "TransformationEvent":
        ev["inputQuantityList"] = [{"epcClass": b, "quantity": q, "uom": uom}
                                   for b, q in inputs or ()]
        ev["outputQuantityList"] = [qty]
    else:
        ev["action"] = link.action
        ev["quantityList"] = [qty]
    if location:
        ev["readPoint"] = {"id": f"https://id.gs1.org/414/{location}"}
        ev["bizLocation"] = {"id": f"https://id.gs1.org/414/{location}"}
    if readings:
        reports: list[dict[str, Any]] = []
        for kind, value in readings:
            rep: dict[str, Any] = {"type": kind, "value": value,
                                   "uom": READING_UNITS.get(kind, "")}
            if alarm:
                rep["exception"] = "ALARM_CONDITION"
            reports.append(rep)
        ev["sensorElementList"] = [{"sensorReport": reports}]
    if transport_no:
        ev["bizTransactionList"] = [{"type": "bol", "bizTransaction":
                                     f"urn:supplyledger:bol:{transport_no}"}]
    if note:
        ev["@context"] = [NAMESPACE]
        ev[NOTE] = note
    return ev
