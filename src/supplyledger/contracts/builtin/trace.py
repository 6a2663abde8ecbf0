"""trace — supply-chain events in the GS1 EPCIS 2.0 model, per batch, with a
traceability-code chain (paper 002).

Each batch (or other traced object) carries code_n = SHA-256(tx_id_n ‖ code_{n-1}), where
tx_id_n is the hash of the signed envelope carrying event n (so it commits to the event, its
recorder and its time); an append that names a stale predecessor is refused, and stored
events edited later no longer hash to the recorded codes.

Events are validated, hashed (CBV 2.0 event hash id) and classified into links
(production, inspection, processing, storage, transport, sales, other) in the stateless
prepare step; the contract body only checks who may record and extends the chain. Who may
record: the batch's owner organisation for production; an inspector or the custodian for
inspection; the owner or custodian for sales; the custodian for every other link. A
TransformationEvent also needs custody of its registered inputs and outputs, and records
the genealogy (input -> output); an AggregationEvent records batch -> logistic unit.

``record_events`` captures a whole EPCIS document in one transaction: each event goes to
the registered batch it names (an LGTIN in its quantity lists, or a commissioned SGTIN),
else to the chain of the first object it names; if any event is refused, none is kept.
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.contracts.builtin._trace_facts import (
    decode_events,
    facts_of_events,
    subject_id,
)
from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import Contract, Ctx, method
from supplyledger.contracts.schema import Obj, Str
from supplyledger.errors import (
    EPCISValidationError,
    Forbidden,
    InvalidState,
    NotFound,
    SupplyLedgerError,
)

__all__ = ["CONTRACT", "RECORDERS", "ZERO", "chain_code"]

RECORDERS = ("supplier", "manufacturer", "warehouse", "transporter", "platform", "customs",
             "inspector", "device")
ZERO = "0" * 64
_LGTIN = "https://id.gs1.org/01/"


def chain_code(event_hash: str, prev: str) -> str:
    return hashlib.sha256(bytes.fromhex(event_hash) + bytes.fromhex(prev)).hexdigest()


def _prepare_one(args: dict[str, Any]) -> dict[str, Any]:
    # Runs before ordering, in parallel: validation, hash id and facts, done once.
    return {"batch": subject_id(args["batch"]), "prev": args.get("prev"),
            "items": facts_of_events([args["event"]], None)}


def _node_keys(ident: str) -> list[str]:
    # What _node looks up for an identifier.
    if not ident.startswith(_LGTIN):
        return []
    return [f"custody/{holding_key(ident)}"] + ([f"products/i/{ident}"] if "/21/" in ident
                                                else [])


def _reads_one(value: dict[str, Any]) -> list[str]:
    keys = [f"custody/{holding_key(value['batch'])}", f"trace/b/{value['batch']}"]
    f = value["items"][0]
    if f["inputs"]:  # only a transformation's inputs and outputs are resolved (_edges)
        keys.extend(k for ident in (*f["inputs"], *f["outputs"]) for k in _node_keys(ident))
    return keys


def _reads_many(value: dict[str, Any]) -> list[str]:
    # Each event's subject is resolved from its outputs and objects, then its chain read.
    keys: list[str] = []
    for f in value["items"]:
        for ident in (*f["outputs"], *f["objects"], *f["inputs"]):
            keys.extend(_node_keys(ident))
            keys.append(f"trace/b/{ident}")
    return keys


def _prepare_share(args: dict[str, Any], i: int, n: int) -> dict[str, Any]:
    # Events are validated and hashed independently of each other, so a share is a slice
    # (and the whole prepare step is the one share of one).
    events = decode_events(args["events"])
    if not events:
        raise EPCISValidationError("the document holds no events", errors=[])
    share = events[i * len(events) // n:(i + 1) * len(events) // n]
    return {"batch": None, "prev": None,
            "items": facts_of_events(share, args.get("namespaces")) if share else []}


def _prepare_many(args: dict[str, Any]) -> dict[str, Any]:
    return _prepare_share(args, 0, 1)


def _merge_shares(shares: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch": None, "prev": None, "items": [f for s in shares for f in s["items"]]}


def _entitled(ctx: Ctx, subject: str, h: dict[str, Any], link: str) -> None:
    org = ctx.org or ""
    if link == "production":
        ok, who = h["owner_org"] == org, f"the owner ({h['owner_org']})"
    elif link == "inspection":
        ok = ctx.has_role("inspector") or h["custodian_org"] == org
        who = f"an inspector or the custodian ({h['custodian_org']})"
    elif link == "sales":
        ok = org in (h["owner_org"], h["custodian_org"])
        who = f"the owner or custodian ({h['owner_org']}/{h['custodian_org']})"
    else:
        ok, who = h["custodian_org"] == org, f"the custodian ({h['custodian_org']})"
    if not ok:
        raise Forbidden(f"{link} events of {subject} may only be recorded by {who}, "
                        f"not by organisation {org or '-'}")


def _node(ctx: Ctx, ident: str) -> tuple[str, dict[str, Any] | None]:
    """(chain id, holding) of an identifier: a registered batch, the batch of a registered
    item, or the identifier itself (an object chain, holding None)."""
    if ident.startswith(_LGTIN):
        h = ctx.read("custody", holding_key(ident))
        if h is not None:
            return ident, h
        batch = ctx.read("products", f"i/{ident}") if "/21/" in ident else None
        if batch is not None:
            return batch, ctx.read("custody", holding_key(batch))
    return ident, None


def _edges(ctx: Ctx, subject: str, f: dict[str, Any]) -> list[list[str]]:
    """Genealogy edges of an event; needs custody of registered inputs and outputs."""
    edges: list[list[str]] = []
    if f["type"] == "TransformationEvent":
        ins = [_node(ctx, i) for i in f["inputs"]]
        outs = [_node(ctx, o) for o in f["outputs"]] or [(subject, None)]
        for ident, h in ins + outs:
            if h is not None and h["custodian_org"] != (ctx.org or ""):
                raise Forbidden(f"custody of {ident} is not held by organisation {ctx.org}")
        dsts = list(dict.fromkeys(o for o, _ in outs))
        for src in dict.fromkeys(i for i, _ in ins):
            edges.extend([src, dst, "transformation"] for dst in dsts if dst != src)
    elif f["parent"] and f["action"] != "DELETE" and f["parent"] != subject:
        edges.append([subject, f["parent"], "aggregation"])
    return edges


def _append(ctx: Ctx, subject: str, h: dict[str, Any] | None, f: dict[str, Any], item: int,
            prev: str | None) -> dict[str, Any]:
    if h is not None:
        _entitled(ctx, subject, h, f["link"])
    key = f"b/{subject}"
    state = ctx.get(key) or {"code": ZERO, "n": 0}
    if prev is not None and prev != state["code"]:
        raise InvalidState(f"batch {subject} code is {state['code'][:12]}…, not "
                           f"{prev[:12]}…", current=state["code"])
    edges = _edges(ctx, subject, f) if f["inputs"] or f["parent"] else []
    # The event's record is the signed envelope that carries it: its hash (the tx id)
    # commits to the event, who recorded it and when.
    code = chain_code(ctx.tx_id, state["code"])
    n = state["n"] + 1
    ctx.put(key, {"code": code, "n": n})
    if edges:
        ctx.emit("recorded", batch=subject, seq=n, code=code, item=item, edges=edges)
    else:
        ctx.emit("recorded", batch=subject, seq=n, code=code, item=item)
    return {"batch": subject, "seq": n, "code": code, "hash": f["hash"]}


@method(roles=RECORDERS, prepare=_prepare_one, reads=_reads_one, args={
    "batch": Str(max_len=300, doc="batch id: LGTIN as URN or GS1 Digital Link"),
    "event": Obj(doc="EPCIS 2.0 event (JSON object, no @context needed for CBV terms)"),
    "prev": Str(optional=True, min_len=64, max_len=64,
                doc="the batch's current code, to refuse appends to a stale view"),
}, errors=(NotFound, Forbidden, InvalidState, EPCISValidationError))
def record_event(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Append a supply-chain event to a registered batch's history and extend its chain."""
    batch = args["batch"]
    h = ctx.read("custody", holding_key(batch))
    if h is None:
        raise NotFound(f"no batch {batch}")
    return _append(ctx, batch, h, args["items"][0], 0, args["prev"])


@method(roles=RECORDERS, prepare=_prepare_many, reads=_reads_many,
        parts=(_prepare_share, _merge_shares), args={
    "events": Str(max_len=1 << 28, doc="the document's eventList as JSON text (keeps EPCIS "
                  "numbers exact)"),
    "namespaces": Obj(optional=True, doc="prefix -> IRI declared by the document's @context"),
    "source": Str(optional=True, max_len=500, doc="document id or instanceIdentifier"),
}, errors=(NotFound, Forbidden, EPCISValidationError))
def record_events(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Capture a list of EPCIS events atomically: all are recorded, or none (with the
    reason for every refused event)."""
    errors: list[dict[str, Any]] = []
    subjects: set[str] = set()
    items = args["items"]
    for i, f in enumerate(items):
        try:
            subject, h = "", None
            for ident in f["outputs"] + f["objects"]:
                subject, h = _node(ctx, ident)
                if h is not None:
                    break
            if h is None:
                ids = [f["parent"], *f["objects"], *f["outputs"], *f["inputs"], f["hash"]]
                subject = next(x for x in ids if x)
            _append(ctx, subject, h, f, i, None)
            subjects.add(subject)
        except SupplyLedgerError as exc:
            errors.append({"event": i, "code": exc.code, "reason": exc.message})
    if errors:
        raise EPCISValidationError(
            f"{len(errors)} of {len(items)} events refused, none recorded; event "
            f"{errors[0]['event']}: {errors[0]['reason']}", errors=errors[:200])
    return {"events": len(items), "subjects": len(subjects)}


EVENTS = Table(
    "trace_events",
    (("batch", "TEXT"), ("seq", "INTEGER"), ("tx", "TEXT"), ("item", "INTEGER"),
     ("height", "INTEGER"), ("type", "TEXT"), ("biz_step", "TEXT"), ("disposition", "TEXT"),
     ("link", "TEXT"), ("event_time", "TEXT"), ("signer", "TEXT"), ("code", "TEXT"),
     ("hash_id", "TEXT"), ("verdict", "TEXT"), ("location", "TEXT"), ("refs", "TEXT")),
    ("batch", "seq"),
    (("tx",),),
)
LINKS = Table(
    "trace_links",
    (("src", "TEXT"), ("dst", "TEXT"), ("kind", "TEXT"), ("tx", "TEXT"), ("height", "INTEGER")),
    ("src", "dst", "tx"),
    (("dst",),),
)


def event_row(batch: str, seq: int, code: str, item: int, f: dict[str, Any],
              m: EventMeta) -> tuple[Any, ...]:
    """The trace_events row of an event (also what trace queries recompute to compare)."""
    return (batch, seq, m.tx, item, m.height, f["type"], f["step"], f["disp"], f["link"],
            f["time"], m.signer, code, f["hash"], f["verdict"], f["where"], " ".join(f["btx"]))


def _recorded(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The event document itself stays in the stored transaction (joined on ``tx``, ``item``).
    ops: list[Op] = [Upsert("trace_events", event_row(e["batch"], e["seq"], e["code"],
                                                      e["item"], m.args["items"][e["item"]], m))]
    for src, dst, kind in e.get("edges", ()):
        ops.append(Upsert("trace_links", (src, dst, kind, m.tx, m.height)))
    return ops


CONTRACT = Contract.of("trace", __doc__ or "", [record_event, record_events],
                       tables=(EVENTS, LINKS), projectors={"trace.recorded": _recorded})
