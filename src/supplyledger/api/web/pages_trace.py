"""Pages: trace a batch (paper 002's query page), recall, and the event input form per
supply-chain link (paper 002's input page).

Trace and recall render the traceability queries (``TraceQueries``) when this node has
them and say "not available yet" otherwise. Under trace rules v4 an error declaration
withdraws the links and unpackings of the event it declares wrong: trace marks that event
and its declaration, each linking to the other's transaction, and both pages list what
was withdrawn with the event that made it and the declaration that withdrew it. Their
times read as every page's do ("2026-01-05 08:00 UTC"), the ISO time as recorded in the
tooltip. The faulty-link summary says what to do: hold and recall the batches whose goods
are wrong, have this node's copy checked when records disagree with the signed ledger.
An event whose row this node's copy changed (a ``row`` fault) is shown as the ledger holds
it, the copy's values marked after the ledger's. A fault's line names the logger that
found a breach by its name, the id in its tooltip, as the page names every participant.
Recall says where a lot's quantity went when not all of it is left: consumed, packed (on
which units now), left. Both pages take an SSCC as they show one (18 digits). Recall's list
downloads whole as CSV (``/recall.csv``), with the owners' and holders' names and where
each lot went (the page's parts). The input form builds an EPCIS 2.0 event for the chosen
link and signs ``trace.record_event`` with the user's own key.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from supplyledger.api.auth import check_csrf, current, service_of
from supplyledger.api.links import DISPOSITIONS, LINKS, NOTE, READING_UNITS, build_event
from supplyledger.api.service import LedgerService, Principal
from supplyledger.api.web.forms import Refusal, batch_id, refusal
from supplyledger.api.web.mine import Choices, suggestions
from supplyledger.api.web.names import DID_IN_TEXT, orgs_in, participant_names, place_names
from supplyledger.api.web.once import PENDING
from supplyledger.api.web.render import page, when
from supplyledger.contracts.builtin._trace_once import key as once_key
from supplyledger.contracts.builtin._trace_xform import HUB
from supplyledger.epcis._common import utc_millis
from supplyledger.errors import NotFound, SupplyLedgerError, ValidationError
from supplyledger.gs1 import validate_gln
from supplyledger.ledger.encoding import decode
from supplyledger.node.queries import MAX_PAGE_SIZE
from supplyledger.store import views

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
BatchQ = Annotated[str | None, Query(max_length=300)]
PageQ = Annotated[int, Query(ge=1, le=1_000_000)]
Resolve = Callable[[str], list[str]]
RECALL_ROWS = 100  # affected items per recall page
# Units of measure the event form offers (UN/CEFACT Rec. 20 codes).
UOMS = {"KGM": "kilogram", "TNE": "tonne", "H87": "piece"}
PLACES_MAX = 200  # locations suggested; any other is typed by its GLN
WITHDRAWN_ROWS = 100  # withdrawn links shown with their events (the API lists them all)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _event_doc(svc: LedgerService, tx_id: str, item: int) -> dict[str, Any]:
    """The signed EPCIS event behind a trace row (readings and notes live only there)."""
    return _event_in(_tx_or_none(svc, tx_id), item)


def _tx_or_none(svc: LedgerService, tx_id: str) -> dict[str, Any] | None:
    try:
        return svc.reads.tx(tx_id)
    except SupplyLedgerError:
        return None


def _event_in(tx: dict[str, Any] | None, item: int) -> dict[str, Any]:
    try:
        args = tx["envelope"]["args"]  # type: ignore[index]
        if "event" in args:
            return dict(args["event"])
        return dict(json.loads(args.get("events", "[]"))[item])
    except (KeyError, IndexError, TypeError, ValueError):
        return {}


class _Declared:
    """Where an event and its error declaration were recorded (trace rules v2 on: state
    ``trace/e/<hash>`` and ``…/x``, chain -> [tx id, item]), and the transactions they are
    in, each read once per page."""

    def __init__(self, svc: LedgerService) -> None:
        self.svc = svc
        self.maps: dict[str, dict[str, list[Any]]] = {}
        self.txs: dict[str, dict[str, Any] | None] = {}

    def where(self, hash_id: str, *, declaration: bool) -> dict[str, list[Any]]:
        k = "trace/" + once_key({"hash": hash_id, "declares": declaration})
        if k not in self.maps:
            raw = self.svc.node.store.get_state(k)
            found = decode(raw) if raw is not None else {}
            self.maps[k] = found if isinstance(found, dict) else {}
        return self.maps[k]

    def on(self, hash_id: str, chain: str, *, declaration: bool) -> str:
        """The transaction that recorded the event (or its declaration) on ``chain``, else
        on any chain; "" when none is known (rules v1 kept no record of where)."""
        where = self.where(hash_id, declaration=declaration)
        at = where.get(chain) or next(iter(where.values()), None)
        return str(at[0]) if at else ""

    def tx(self, tx_id: str) -> dict[str, Any] | None:
        if tx_id not in self.txs:
            self.txs[tx_id] = _tx_or_none(self.svc, tx_id)
        return self.txs[tx_id]


def _mark_declared(events: list[dict[str, Any]], seen: _Declared) -> None:
    """Link an event declared wrong to its declaration's transaction (``declared_by``) and
    a declaration to the wrong event's (``declares_tx``)."""
    for ev in events:
        if ev.get("declared_wrong"):
            ev["declared_by"] = seen.on(ev["hash_id"], ev["batch"], declaration=True)
        elif ev.get("error_declaration"):
            ev["declares_tx"] = seen.on(ev["hash_id"], ev["batch"], declaration=False)


def _made_by(tx: dict[str, Any] | None, w: dict[str, str]) -> dict[str, Any] | None:
    """The ``trace.recorded`` entry of transaction ``tx`` that made withdrawn item ``w``
    (an edge src -> dst, or an unpacking of child src from parent dst)."""
    field, pair = ("unpacked" if w["what"] == "unpacking" else "edges"), [w["src"], w["dst"]]
    for etype, data in ((tx or {}).get("receipt") or {}).get("events") or ():
        if etype == "trace.recorded" and any(list(x[:2]) == pair
                                             for x in data.get(field, ())):
            return dict(data)
    return None


def _label(node: str, lots: dict[str, tuple[Any, ...]]) -> str:
    """What a page calls a genealogy node: a lot by its lot number, a transformation's
    node as such, anything else by the last part of its identifier."""
    if node.startswith(HUB):
        return "transformation"
    meta = lots.get(node)
    return str(meta[1]) if meta and meta[1] else node.rsplit("/", 1)[-1]


def _withdrawn(svc: LedgerService, result: dict[str, Any],
               seen: _Declared) -> list[dict[str, Any]]:
    """The links and unpackings error declarations withdrew (trace rules v4), for the page:
    each with names for its ends, the event that made it (batch, seq, bizStep, time, tx)
    and the declarations that withdrew it (tx, signer's name, time, reason)."""
    listed = list(result.get("withdrawn") or ())[:WITHDRAWN_ROWS]
    rows: list[dict[str, Any]] = []
    for w in listed:
        made_tx = seen.tx(w["tx"])
        made = _made_by(made_tx, w)
        row: dict[str, Any] = {**w, "event": None, "declarations": []}
        if made is not None:
            found = svc.reads.rows("trace_events", 1, None, {
                "batch": str(made["batch"]), "seq": str(made["seq"])}).items
            ev = found[0] if found else {}
            row["event"] = {"batch": str(made["batch"]), "seq": made["seq"],
                            "biz_step": ev.get("biz_step", ""), "type": ev.get("type", ""),
                            "time": ev.get("event_time", "")}
            hash_id = str(ev.get("hash_id") or "")
            # the declarations on the chains this recording of the event went to
            chains = [c for c, at in seen.where(hash_id, declaration=False).items()
                      if at and at[0] == w["tx"]] if hash_id else []
            decl = seen.where(hash_id, declaration=True) if hash_id else {}
            row["declarations"] = [_declaration(seen, str(tx), int(item)) for tx, item in
                                   dict.fromkeys(tuple(decl[c]) for c in chains if c in decl)]
        rows.append(row)
    store = svc.node.store
    lots = store.batch_rows(sorted({n for r in rows for n in (
        r["src"], r["dst"], *([r["event"]["batch"]] if r["event"] else []))}))
    names = store.participant_names([d["signer"] for r in rows for d in r["declarations"]])
    for r in rows:
        r["src_label"], r["dst_label"] = _label(r["src"], lots), _label(r["dst"], lots)
        if r["event"]:
            r["event"]["batch_label"] = _label(r["event"]["batch"], lots)
        for d in r["declarations"]:
            d["signer_name"], d["signer_org"] = names.get(d["signer"], ("", ""))
    return rows


def _declaration(seen: _Declared, tx_id: str, item: int) -> dict[str, Any]:
    tx = seen.tx(tx_id)
    said = _event_in(tx, item).get("errorDeclaration") or {}
    return {"tx": tx_id, "signer": str((tx or {}).get("signer", "")),
            "time": said.get("declarationTime", ""), "reason": said.get("reason", "")}


def _shown_time(text: str) -> str | None:
    """An EPCIS time (ISO 8601 with its offset) as the pages show times; None for text
    that is not one (shown as it is)."""
    utc = utc_millis(text)
    if utc is None:
        return None
    at = dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    return when((at - _EPOCH) // dt.timedelta(milliseconds=1))


def _times(result: dict[str, Any], withdrawn: list[dict[str, Any]]) -> dict[str, str]:
    """The times a trace or recall page shows (events', declarations', those of the events
    behind withdrawn links), each as it is shown."""
    def said(ev: dict[str, Any]) -> Any:
        decl = (ev.get("doc") or {}).get("errorDeclaration")
        return decl.get("declarationTime") if isinstance(decl, dict) else None

    texts: Iterable[Any] = (
        *(e.get("event_time") for e in result.get("events") or ()),
        *(said(e) for e in result.get("events") or ()),
        *((w["event"] or {}).get("time") for w in withdrawn),
        *(d.get("time") for w in withdrawn for d in w["declarations"]))
    shown = {t: _shown_time(t) for t in {t for t in texts if isinstance(t, str) and t}}
    return {t: v for t, v in shown.items() if v is not None}


def _as_ledger_holds(svc: LedgerService, result: dict[str, Any]) -> None:
    """Where this node's copy of an event's row was changed (a ``row`` fault), put back what
    the ledger holds, the values the fault names, and keep the copy's in ``changed`` for
    the page to mark; the faults of such an event name its link as the ledger does."""
    held: dict[tuple[Any, Any], dict[str, Any]] = {}
    for f in result["faults"]:
        if f.get("ledger"):
            held.setdefault((f.get("batch"), f.get("seq")), {}).update(f["ledger"])
    for f in result["faults"]:
        link = held.get((f.get("batch"), f.get("seq")), {}).get("link")
        if link is not None:
            f["link"] = link
    signers: list[dict[str, Any]] = []
    for ev in result["events"]:
        ledger = held.get((ev["batch"], ev["seq"]))
        if not ledger:
            continue
        ev["changed"] = {c: ev.get(c) for c in ledger}
        ev.update(ledger)
        if "signer" in ledger:
            signers.append(ev)
    names = svc.node.store.participant_names([str(ev["signer"]) for ev in signers])
    for ev in signers:
        ev["signer_name"], ev["signer_org"] = names.get(ev["signer"], ("", ""))


def _fault_links(result: dict[str, Any]) -> int:
    """How many links (events, by batch and number) the genealogy's faults are on."""
    return len({(f.get("batch"), f.get("seq")) for f in result["faults"]})


def _places(svc: LedgerService, result: dict[str, Any]) -> dict[str, str]:
    """Names of the locations (GLNs) the trace's events happened at."""
    return place_names(svc, {str(e["location"]).rsplit("/", 1)[-1]
                             for e in result["events"] if e.get("location")})


# Fault kinds that say the goods are wrong (a non-conformant disposition, a sensor reading
# or cold-chain breach past a limit): what to do is hold and recall. Every other kind says
# this node's copy of the records disagrees with the signed ledger (a changed row, a broken
# code chain or proof): what to do is have the copy checked, not recall the goods.
_GOODS_FAULTS = frozenset({"disposition", "sensor"})


def _people(svc: LedgerService, result: dict[str, Any]) -> dict[str, str]:
    """Names of the participants the page names by id: the shipments' carriers, and the
    loggers (devices) in the lines of faults (a breach's "…, device did:sl:…")."""
    reasons = [str(f.get("reason") or "") for f in result["faults"]] + [
        str(f.get("reason") or "") for e in result["events"] for f in e.get("faults") or ()]
    return participant_names(svc, [str(s.get("transporter") or "")
                                   for s in result["shipments"]]
                             + [d for r in reasons for d in DID_IN_TEXT.findall(r)])


def _advice(result: dict[str, Any]) -> dict[str, Any]:
    """What the faulty-link summary tells the user to do: ``hold``, the batches (ids, in
    the order their faults happened) whose goods are wrong, to hold and recall; and
    ``check``, whether records disagree with the ledger."""
    faults = result.get("faults") or ()
    hold = dict.fromkeys(str(f["batch"]) for f in faults if f.get("kind") in _GOODS_FAULTS)
    return {"hold": list(hold),
            "check": any(f.get("kind") not in _GOODS_FAULTS for f in faults)}


def _recent(svc: LedgerService) -> list[dict[str, Any]]:
    if "batches" not in svc.reads.tables:
        return []
    rows = views.recent_batches(svc.node.store.reader(), 16)
    # A logistic unit has no lot: shown by its SSCC, as the genealogy shows it.
    return [{"batch": batch, "events": n, "lot": lot or batch.rsplit("/", 1)[-1]}
            for batch, n, lot in rows]


@router.get("/trace", response_class=HTMLResponse)
def trace(request: Request, batch: BatchQ = None, page_no: PageQ = 1) -> Response:
    current(request)
    svc = service_of(request)
    batch = (batch or "").strip()
    result: dict[str, Any] | None = None
    error = None
    choices: list[str] = []
    available = svc.features.trace is not None
    if batch and available:
        choices = svc.resolve_batch(batch)
        try:
            result = svc.trace(choices[0], page=page_no, page_size=50)
            _as_ledger_holds(svc, result)
            for ev in result["events"]:
                ev["doc"] = _event_doc(svc, ev["tx"], int(ev.get("item") or 0))
        except NotFound as exc:
            error = exc.message
    withdrawn: list[dict[str, Any]] = []
    if result:
        seen = _Declared(svc)
        _mark_declared(result["events"], seen)
        withdrawn = _withdrawn(svc, result, seen)
    return page(request, "trace.html", status=404 if error else 200, title="Trace a batch",
                batch=batch, result=result, error=error, available=available,
                choices=choices if len(choices) > 1 else [], recent=_recent(svc), note=NOTE,
                places=_places(svc, result) if result else {}, withdrawn=withdrawn,
                orgs=orgs_in(svc, result, withdrawn) if result else {},
                times=_times(result, withdrawn) if result else {},
                fault_links=_fault_links(result) if result else 0,
                advice=_advice(result) if result else {},
                people=_people(svc, result) if result else {})


@router.get("/recall", response_class=HTMLResponse)
def recall(request: Request, batch: BatchQ = None, page_no: PageQ = 1) -> Response:
    current(request)
    svc = service_of(request)
    batch = (batch or "").strip()
    result, error = None, None
    available = svc.features.trace is not None
    # A lot number on several products: the user chooses, as a recall must not guess.
    choices = svc.resolve_batch(batch) if batch and available else []
    if len(choices) == 1:
        try:
            result = svc.recall(choices[0], page=page_no, page_size=RECALL_ROWS)
        except NotFound as exc:
            error = exc.message
    withdrawn = _withdrawn(svc, result, _Declared(svc)) if result else []
    if result:
        _name_owners(svc, result["affected"])
        _where_goods_are(svc, result["affected"])
    return page(request, "recall.html", status=404 if error else 200, title="Recall",
                batch=batch, result=result, error=error, available=available,
                choices=choices if len(choices) > 1 else [], recent=_recent(svc),
                withdrawn=withdrawn,
                orgs=orgs_in(svc, result, withdrawn) if result else {},
                times=_times({"events": [{"event_time": a.get("last_event")} for a in
                                         (result or {}).get("affected") or ()]}, withdrawn),
                shown_id=shown_id)


def _name_owners(svc: LedgerService, affected: list[dict[str, Any]]) -> None:
    """Add each lot's owner's name and organisation (the answer has the owner's id only):
    a recall notice goes to the owner as well as to whoever holds the goods."""
    names = svc.node.store.participant_names([str(a["owner"]) for a in affected
                                              if a.get("owner")])
    for a in affected:
        if a.get("owner"):
            a["owner_name"], a["owner_org"] = names.get(a["owner"], ("", ""))


def _amount(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def _where_goods_are(svc: LedgerService, affected: list[dict[str, Any]]) -> None:
    """Say where a lot's goods are when not all are left (``parts``: what transformations
    consumed, what is packed and on which units now, what is left): "0 kg left" of a lot
    packed on a pallet read as gone. The batches row has the balance; the units a lot is
    on are those it was packed onto whose trace state (``u/``) still holds some of it,
    each with the unit it is itself packed in now (``outer``)."""
    lots = [a for a in affected if a["kind"] == "lot" and a.get("remaining")
            not in (None, "", "all", a.get("quantity"))]
    for a in lots:
        found = svc.reads.rows("batches", 1, None, {"id": str(a["id"])}).items
        a["parts"] = _parts(a, found[0] if found else {})
    packed = [a for a in lots if any(p["what"] == "packed" for p in a["parts"])]
    if not packed:
        return
    store = svc.node.store
    ends = sorted({str(link[1]) for link in store.trace_links([a["id"] for a in packed],
                                                               upstream=False)})
    units = {k[len("trace/u/"):]: decode(v) for k, v in
             store.get_states([f"trace/u/{u}" for u in ends]).items()}
    for a in packed:
        on = [{"unit": u, "amount": str(rec["lots"][a["id"]]), "outer": rec.get("in") or ""}
              for u, rec in units.items() if a["id"] in (rec.get("lots") or {})]
        for p in a["parts"]:
            if p["what"] == "packed":
                p["on"] = on


def _parts(a: dict[str, Any], row: dict[str, Any]) -> list[dict[str, Any]]:
    """A lot's quantity by where it went: consumed, packed, left (those not nothing;
    ``whole`` when one is all of it)."""
    quantity = _amount(a.get("quantity"))
    parts = []
    for what, col in (("consumed", "consumed"), ("packed", "packed"), ("left", "remaining")):
        text = str(row.get(col) if row.get(col) is not None else a.get(col) or "")
        value = _amount(text)
        if text == "all" or (value is not None and value > 0):
            parts.append({"what": what, "amount": text, "on": [],
                          "whole": text == "all" or value == quantity})
    return parts or [{"what": "left", "amount": str(a.get("remaining")), "on": [],
                      "whole": False}]


_BOL = "urn:supplyledger:bol:"
# New columns go at the end: scripts read the list by position.
CSV_COLUMNS = ("kind", "id", "name", "gtin", "quantity", "uom", "remaining", "owner",
               "owner_organisation", "held_by", "holder_organisation", "lots", "last_event",
               "consumed", "packed", "packed_on")


def shown_id(a: dict[str, Any]) -> str:
    """An affected entry's id as the recall page and its list name it: a lot by its lot
    number, a logistic unit by its SSCC, a shipment by its bill of lading's number."""
    ident = str(a["id"])
    if a["kind"] == "lot" and a.get("lot"):
        return str(a["lot"])
    if a["kind"] == "logistic_unit":
        return ident.rsplit("/", 1)[-1]
    if a["kind"] == "shipment" and ident.startswith(_BOL):
        return "bill of lading " + ident[len(_BOL):]
    return ident


def _went(a: dict[str, Any]) -> tuple[str, str, str]:
    """A lot's consumed, packed and packed_on columns from the parts the page shows
    (``_where_goods_are``): a part not there is 0 when the lot's balance is known; the
    units as the page names them ("; " between them; amounts in the lot's uom)."""
    if a["kind"] != "lot":
        return "", "", ""
    parts = {p["what"]: p for p in a.get("parts") or ()}
    none = "" if a.get("remaining") in (None, "") else "0"
    on = parts["packed"]["on"] if "packed" in parts else []
    units = "; ".join(
        str(o["unit"]).rsplit("/", 1)[-1] + (f" ({o['amount']})" if len(on) > 1 else "")
        + (" in " + str(o["outer"]).rsplit("/", 1)[-1] if o["outer"] else "") for o in on)
    return (str(parts["consumed"]["amount"]) if "consumed" in parts else none,
            str(parts["packed"]["amount"]) if "packed" in parts else none, units)


def recall_csv(entries: list[dict[str, Any]], orgs: dict[str, str]) -> str:
    """The recall list as CSV, one row per affected entry (CSV_COLUMNS), names where the
    ledger has them, for the people who must contact the holders; a lot's ``parts``
    (``_where_goods_are``) say where its quantity went."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for a in entries:
        w.writerow([a["kind"].replace("_", " "), a["id"], shown_id(a), a.get("gtin", ""),
                    a.get("quantity", ""), a.get("uom", ""),
                    "" if a.get("remaining") is None else a["remaining"],
                    a.get("owner_name") or a.get("owner", ""),
                    orgs.get(a.get("owner_org") or "", a.get("owner_org") or ""),
                    a.get("custodian_name") or a.get("custodian", ""),
                    orgs.get(a.get("custodian_org") or "", a.get("custodian_org") or ""),
                    " ".join(str(x).rsplit("/", 1)[-1] for x in a.get("lots") or ()),
                    _shown_time(str(a.get("last_event") or "")) or a.get("last_event", ""),
                    *_went(a)])
    return out.getvalue()


@router.get("/recall.csv")
def recall_list(request: Request, batch: BatchQ = None) -> Response:
    """Everything a recall of ``batch`` reaches, every page of it, as CSV; a lot number on
    several products is refused with their ids, as the page asks which one."""
    current(request)
    svc = service_of(request)
    text = (batch or "").strip()
    if not text:
        raise ValidationError("give the batch to recall (batch=…)", arg="batch")
    one = svc.one_batch(text)  # a lot number on several products: refused, naming them
    first = svc.recall(one, page=1, page_size=MAX_PAGE_SIZE)
    entries = list(first["affected"])
    for n in range(2, int(first["pages"]) + 1):
        entries += svc.recall(one, page=n, page_size=MAX_PAGE_SIZE)["affected"]
    _name_owners(svc, entries)
    _where_goods_are(svc, entries)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(first["batch"]).rsplit("/", 1)[-1])
    return Response(recall_csv(entries, orgs_in(svc, {"affected": entries})),
                    media_type="text/csv; charset=utf-8", headers={
                        "content-disposition": f'attachment; filename="recall-{name}.csv"'})


def _held(svc: LedgerService, who: Principal) -> Choices:
    """Batches the user's organisation owns or holds, the ones it may record events for,
    latest first; when cut, where the rest are (any batch may be typed)."""
    return suggestions(svc, who, {"batches"}).get("batches", Choices([]))


def _locations(svc: LedgerService, who: Principal) -> Choices:
    """Registered locations to suggest, the user's organisation's first; when cut, where
    the rest are (any GLN may be typed)."""
    if "gln_locations" not in svc.reads.tables:
        return Choices([])
    own = svc.reads.rows("gln_locations", PLACES_MAX, None, {"org": who.org}).items \
        if who.org else []
    mine = {r["gln"] for r in own}
    rows = (own + [r for r in svc.reads.rows("gln_locations", PLACES_MAX, None).items
                   if r["gln"] not in mine])[:PLACES_MAX]
    total = svc.reads.count("gln_locations")
    rest = None if total <= len(rows) else (
        f"Suggestions show {len(rows)} of the {total} registered locations, your "
        "organisation's first; type any other's GLN (all of them are on "
        "/tables/gln_locations).")
    return Choices([(str(r["gln"]), f"{r['name']} ({r['gln']})") for r in rows], rest)


def _int(form: Any, name: str, label: str, minimum: int | None = None) -> int | None:
    text = str(form.get(name, "")).strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"{label} must be a whole number", arg=name) from None
    if minimum is not None and value < minimum:
        raise ValidationError(f"{label} must be {minimum} or more", arg=name)
    return value


def event_from_form(form: Any, now_ms: int,
                    resolve: Resolve = lambda text: [text]) -> tuple[str, dict[str, Any]]:
    """The batch and EPCIS event the form describes. ``resolve`` turns what the user
    typed into batch ids (``LedgerService.resolve_batch``)."""
    link = LINKS.get(str(form.get("link", "")))
    if link is None:
        raise ValidationError("choose a supply-chain link", arg="link")
    batch = batch_id(str(form.get("batch", "")), resolve, "batch")
    disposition = str(form.get("disposition", "")) or link.disposition
    if disposition not in DISPOSITIONS:
        raise ValidationError("unknown disposition", arg="disposition")
    uom = str(form.get("uom", "")) or "KGM"
    if uom not in UOMS:
        raise ValidationError(f"unit must be one of {', '.join(UOMS)}", arg="uom")
    quantity = _int(form, "quantity", "quantity", minimum=0)
    readings = []
    for i in (1, 2):
        kind = str(form.get(f"r{i}_type", ""))
        value = _int(form, f"r{i}_value", f"reading {i}")
        if kind in READING_UNITS and value is not None:
            readings.append((kind, value))
    # Ticked batches held, and others typed one per line (a lot or an id).
    inputs = [batch_id(line, resolve, "inputs") for b in form.getlist("inputs")
              for line in str(b).splitlines() if line.strip()] \
        if hasattr(form, "getlist") else []
    location = str(form.get("location", "")).strip() or None
    if location is not None:
        try:
            validate_gln(location)
        except ValidationError as exc:  # (the GS1 check names no argument: the form's)
            raise ValidationError(exc.message, arg="location") from None
    ev = build_event(link, batch=batch, time_ms=now_ms, quantity=quantity, uom=uom,
                     location=location, disposition=disposition,
                     inputs=[(b, quantity or 0) for b in inputs],
                     readings=readings, alarm=bool(form.get("alarm")),
                     note=str(form.get("note", "")).strip()[:300] or None)
    return batch, ev


def _form_page(request: Request, svc: LedgerService, who: Principal, link_key: str,
               form: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    m = svc.contracts["trace"].methods["record_event"] if "trace" in svc.contracts else None
    return page(request, "event_new.html", status=status, title="Record a supply-chain event",
                links=LINKS, dispositions=DISPOSITIONS, units=READING_UNITS, uoms=UOMS,
                link=LINKS.get(link_key, LINKS["production"]), form=form,
                held=_held(svc, who), locations=_locations(svc, who),
                allowed=svc.may_call(who, "trace", "record_event"),
                needs=sorted(m.roles) if m is not None else [], **extra)


@router.get("/events/new", response_class=HTMLResponse)
def event_form(request: Request, link: Annotated[str, Query(max_length=32)] = "production",
               batch: BatchQ = None) -> Response:
    who = current(request)
    return _form_page(request, service_of(request), who, link, {"batch": batch or ""})


@router.post("/events/new", response_class=HTMLResponse)
async def event_submit(request: Request) -> Response:
    who = current(request)
    form = await request.form()
    check_csrf(who, request, dict(form))
    svc = service_of(request)
    typed = {k: str(v) for k, v in form.items()}
    typed_inputs = [str(b) for b in form.getlist("inputs")]
    # A reload or a back-and-resend posts the same form again: show what the first
    # submission did instead of recording the event twice (once.py).
    token = str(form.get("once", ""))
    fresh, earlier = request.app.state.once.claim(who.did, token)
    if not fresh:
        return _form_page(request, svc, who, typed.get("link", ""), typed,
                          inputs=typed_inputs, repeated=True,
                          **({} if earlier is PENDING else earlier))
    result: dict[str, Any] | None = None
    error = None
    refused: Refusal | None = None  # the field a refusal names, marked beside the summary
    try:
        batch, ev = event_from_form(form, svc.node.clock(), svc.resolve_batch)
        receipt = svc.call(who, "trace", "record_event", {"batch": batch, "event": ev})
        result = receipt.to_dict()
        if not receipt.ok:
            err = receipt.error or {}
            error = f"{err.get('message')} [{err.get('code')}]"
            refused = refusal(err)
    except SupplyLedgerError as exc:
        if exc.code == "key_locked":
            raise
        error = f"{exc.message} [{exc.code}]"
        refused = refusal(exc)
    finally:
        # Only a signed transaction keeps the token; a refusal before signing frees it.
        request.app.state.once.settle(who.did, token, None if result is None
                                      else {"result": result, "error": error})
    return _form_page(request, svc, who, typed.get("link", ""), typed, inputs=typed_inputs,
                      status=200 if error is None else 422, result=result, error=error,
                      refused=refused)
