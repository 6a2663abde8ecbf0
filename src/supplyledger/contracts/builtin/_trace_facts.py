"""What the trace contract needs to know about an EPCIS 2.0 event, computed statelessly.

Runs in the prepare step (verifier processes, before ordering), so the contract body never
parses EPCIS: validation, the CBV 2.0 event hash id and the facts below are all done here,
and the audit re-derives them the same way. Facts are canonical-encodable (no floats):
quantities and readings keep EPCIS's numbers as decimal text.

Nothing is cut short: the contract checks who may record for every object an event names,
and the trace query checks every reading against the product's limits, so a list truncated
here would hide objects or readings from both (an attacker's filler first, the real thing
after). Only readings are condensed, and only past 32, to what a limit check needs.

With ``amounts``, each fact also lists, as ``qty``, what a transformation says of each input
or an aggregation of each child: [id, quantity as decimal text or "", uom or ""], one per
element in document order (the trace contract's mass balance reads it; the facts the audit
and the fast-path regression fixture compare stay as they were without it), and as ``tid``
a transformation's ``transformationID`` ("" if none), and as ``eid`` the event's
``eventID`` if it has one (the trace contract's rules v6 hold it to one event; left out
when absent, so the facts of events without one stay as they were).

Supply-chain links (paper 002: production, processing, storage, transport, sales; plus the
quality inspection and monitoring events that happen within links) are derived from the
event type and CBV bizStep. Paper 000's e-commerce stages map onto the same links:
supplier -> production, warehouse and sorting centre -> storage (receiving/storing/picking/
packing), distribution and last mile -> transport (departing/transporting/arriving), and the
hand-over to the customer -> sales (retail_selling).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

import msgspec

from supplyledger.epcis import EPCISEvent, parse_events
from supplyledger.epcis._common import canonical_number
from supplyledger.errors import ValidationError
from supplyledger.gs1 import canonical_digital_link

__all__ = ["LINKS", "event_facts", "facts_of_events", "link_of", "subject_id"]

_STEP = "https://ref.gs1.org/cbv/BizStep-"
_DISP = "https://ref.gs1.org/cbv/Disp-"
LINKS = ("production", "inspection", "processing", "storage", "transport", "sales", "other")
_LINK_OF_STEP: Mapping[str, str] = {
    **dict.fromkeys(("commissioning", "creating_class_instance", "encoding", "collecting"),
                    "production"),
    **dict.fromkeys(("inspecting", "sampling"), "inspection"),
    **dict.fromkeys(("assembling", "disassembling", "repackaging", "killing", "installing",
                     "repairing", "replacing"), "processing"),
    **dict.fromkeys(("receiving", "accepting", "storing", "stocking", "holding", "picking",
                     "packing", "unpacking", "cycle_counting", "stock_taking",
                     "staging_outbound", "reserving", "entering_exiting"), "storage"),
    **dict.fromkeys(("shipping", "departing", "arriving", "transporting", "loading",
                     "unloading", "consigning", "void_shipping"), "transport"),
    **dict.fromkeys(("retail_selling", "dispensing"), "sales"),
}
# Dispositions that by themselves mark the event's link as faulty.
_BAD_DISPOSITIONS = frozenset(("non_conformant", "damaged", "destroyed", "expired", "recalled",
                               "stolen", "mismatch_class", "mismatch_instance",
                               "mismatch_quantity"))
_MAX_READINGS = 32  # readings listed one by one; above that, the extremes per type and unit
_NUMBERS = (int, float)
_decode = msgspec.json.Decoder().decode


def _short(value: str | None, prefix: str) -> str:
    if not value:
        return ""
    return value[len(prefix):] if value.startswith(prefix) else value


def link_of(event_type: str, step: str) -> str:
    """The supply-chain link an event belongs to (Transformation is always processing)."""
    if event_type == "TransformationEvent":
        return "processing"
    if step.endswith("harvesting"):  # common user-vocabulary step for farm production
        return "production"
    return _LINK_OF_STEP.get(step, "other")


def subject_id(value: str) -> str:
    """One spelling for a batch or object id: the canonical GS1 Digital Link when the value
    is an EPC (URN or Digital Link), else the value itself (a local id)."""
    return canonical_digital_link(value) or value


# Where an event lists its subjects: field -> (the fact listing them, whether the field holds
# quantity elements), in the order the facts list them.
_SUBJECT_FIELDS: Mapping[str, tuple[str, bool]] = {
    "inputEPCList": ("inputs", False), "inputQuantityList": ("inputs", True),
    "outputEPCList": ("outputs", False), "outputQuantityList": ("outputs", True),
    "quantityList": ("objects", True), "childQuantityList": ("objects", True),
    "epcList": ("objects", False), "childEPCs": ("objects", False),
}


@lru_cache(maxsize=1024)
def _subject_fields(fields: tuple[str, ...]) -> tuple[tuple[str, str, bool], ...]:
    """Which of an event's ``fields`` list subjects, in the facts' order (usually one of the
    eight; the events of a document have the same fields, so this is worked out once)."""
    order = list(_SUBJECT_FIELDS)
    present = sorted((f for f in fields if f in _SUBJECT_FIELDS), key=order.index)
    return tuple((f, *_SUBJECT_FIELDS[f]) for f in present)


def _subjects(raw: Mapping[str, Any]) -> dict[str, list[str]]:
    """inputs, outputs and objects: subject ids, every one of them."""
    out: dict[str, list[str]] = {"inputs": [], "outputs": [], "objects": []}
    for field, fact, quantities in _subject_fields(tuple(raw)):
        values = raw[field]
        if not isinstance(values, list):
            continue
        if quantities:
            out[fact] += [canonical_digital_link(q["epcClass"]) or q["epcClass"]
                          for q in values
                          if isinstance(q, dict) and isinstance(q.get("epcClass"), str)]
        else:
            out[fact] += [canonical_digital_link(v) or v for v in values
                          if isinstance(v, str)]
    return out


# Where an event type names what it consumes (transformation) or packs (aggregation).
_AMOUNT_FIELDS: Mapping[str, tuple[str, str]] = {
    "TransformationEvent": ("inputEPCList", "inputQuantityList"),
    "AggregationEvent": ("childEPCs", "childQuantityList"),
}


def _amounts(event_type: str, raw: Mapping[str, Any]) -> list[list[str]]:
    """[id, quantity, uom] per input (transformation) or child (aggregation) element; ""
    for a quantity or unit not given (an EPC list entry has neither)."""
    out: list[list[str]] = []
    for field in _AMOUNT_FIELDS.get(event_type, ()):
        values = raw.get(field)
        for v in values if isinstance(values, list) else ():
            if isinstance(v, str):
                out.append([canonical_digital_link(v) or v, "", ""])
            elif isinstance(v, dict) and isinstance(v.get("epcClass"), str):
                n = v.get("quantity")
                number = isinstance(n, _NUMBERS) and not isinstance(n, bool)
                out.append([canonical_digital_link(v["epcClass"]) or v["epcClass"],
                            canonical_number(n) if number else "", str(v.get("uom") or "")])
    return out


def _readings(sensors: Any) -> tuple[list[list[str]], str]:
    """([type, value, uom] per numeric report, first alarm text or "") of a
    sensorElementList. Past 32 values, the lowest and highest of each type and unit stand
    for all of them: every value lies between those two, so a limit check of the pair is a
    check of the whole list, however long."""
    out: list[list[str]] = []
    alarm = ""
    for element in sensors or ():
        if not isinstance(element, dict):
            continue
        for rep in element.get("sensorReport") or ():
            if not isinstance(rep, dict):
                continue
            kind = str(rep.get("type", ""))
            if rep.get("exception") and not alarm:
                alarm = f"{kind or 'sensor'} {rep['exception']}"
            short = None  # the type's local name and the unit, for the first value
            for key in ("value", "maxValue", "minValue"):
                v = rep.get(key)
                if v is not None and isinstance(v, _NUMBERS) and not isinstance(v, bool):
                    if short is None:
                        short = kind.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
                        uom = str(rep.get("uom", ""))
                    out.append([short, canonical_number(v), uom])
    return (out if len(out) <= _MAX_READINGS else _extremes(out)), alarm


def _extremes(readings: list[list[str]]) -> list[list[str]]:
    """[type, lowest, uom] and [type, highest, uom] per (type, uom), in first-seen order."""
    span: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for r in readings:
        key = (r[0], r[2])
        lo, hi = span.get(key, (r, r))
        v = Decimal(r[1])
        span[key] = (r if v < Decimal(lo[1]) else lo, r if v > Decimal(hi[1]) else hi)
    return [r for lo, hi in span.values() for r in ((lo,) if lo is hi else (lo, hi))]


@lru_cache(maxsize=1024)
def _classify(event_type: str, biz_step: str | None, disposition: str | None
              ) -> tuple[str, str, str, str]:
    """(step, disposition, link, verdict of the disposition) of an event -- the same few
    combinations on every event of a document, so each is worked out once."""
    step = _short(biz_step, _STEP)
    disp = _short(disposition, _DISP)
    link = link_of(event_type, step)
    verdict = ""
    if disp in _BAD_DISPOSITIONS:
        verdict = f"{'inspection failed' if link == 'inspection' else 'disposition'}: {disp}"
    return step, disp, link, verdict


def event_facts(ev: EPCISEvent) -> dict[str, Any]:
    """Facts of one parsed event: identity, link, genealogy edges and quality signals."""
    raw = ev.raw
    step, disp, link, verdict = _classify(ev.event_type, ev.biz_step, ev.disposition)
    sensors = raw.get("sensorElementList")
    readings, alarm = _readings(sensors) if sensors else ([], "")
    if alarm:  # a sensor alarm says more than the disposition
        verdict = f"sensor alarm: {alarm}"
    btx = [str(b.get("bizTransaction")) for b in (raw.get("bizTransactionList") or ())
           if isinstance(b, dict)]  # all of them: recall lists every shipment they name
    parent = raw.get("parentID")
    subjects = _subjects(raw)
    return {
        "type": ev.event_type, "time": ev.event_time, "hash": ev.hash_id, "step": step,
        "disp": disp, "action": str(raw.get("action", "")), "link": link,
        "inputs": subjects["inputs"], "outputs": subjects["outputs"],
        "parent": subject_id(parent) if isinstance(parent, str) else "",
        "objects": subjects["objects"],
        "readings": readings, "verdict": verdict, "btx": btx,
        "where": ev.biz_location or ev.read_point or "",
    }


def facts_of_events(events: list[Any], namespaces: Mapping[str, str] | None, *,
                    amounts: bool = False) -> list[dict[str, Any]]:
    """Validate ``events`` (raw EPCIS event objects) as one capture document and return the
    facts of each (with ``qty``, ``declares``, ``tid`` and any ``eid``, if ``amounts``);
    raises EPCISValidationError listing every problem per event."""
    out = []
    for ev in parse_events(events, namespaces):
        facts = event_facts(ev)
        if amounts:
            facts["qty"] = _amounts(ev.event_type, ev.raw)
            # (for recording: an error declaration hashes like the event it declares wrong,
            # yet is a capture of its own)
            facts["declares"] = "errorDeclaration" in ev.raw
            facts["tid"] = _tid(ev.raw)
            eid = ev.raw.get("eventID")
            if isinstance(eid, str):  # (a URI: validated above)
                facts["eid"] = eid
        out.append(facts)
    return out


def _tid(raw: Mapping[str, Any]) -> str:
    # one spelling, as the event hash has it: a GDTI as URN or Digital Link is one id
    tid = raw.get("transformationID")
    return subject_id(tid) if isinstance(tid, str) else ""


def decode_events(text: str) -> list[Any]:
    """The event list of a capture transaction (JSON text, so EPCIS numbers survive)."""
    try:
        events = _decode(text)
    except msgspec.DecodeError as exc:
        raise ValidationError(f"events is not JSON: {exc}", arg="events") from None
    if not isinstance(events, list):
        raise ValidationError("events must be a JSON array of EPCIS events", arg="events")
    return events
