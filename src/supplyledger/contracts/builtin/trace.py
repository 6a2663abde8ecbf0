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

An event is recorded on every registered batch it is about (an LGTIN in its output or
object lists, or a commissioned SGTIN's batch), each checked for the recorder's entitlement,
so a pallet packed from several lots is linked from each of them; an event about no
registered batch goes to the chain of the first object it names (imported documents about
goods not on this ledger). An aggregation also links each child that is an object carrying
registered goods (a case packed with a lot) to its parent, so a recall follows nested units;
unpacking keeps the edge (genealogy is history). What may not be written: events or
genealogy edges naming a lot of a product type registered here before its maker created
that lot (a stranger could otherwise pre-load a lot's history with a fault), and an
aggregation into a batch held by another organisation (it would graft the packer's lot
into that batch's upstream).
``record_event`` records on the one batch its caller names (and is entitled to), whatever
else the event lists: nothing reaches another batch's history through it; under rules v3
that batch must be one the event names (below).

Objects that are not registered lots (an SSCC pallet, imported identifiers) belong to the
organisation that registered them (``products.register_unit``) or whose event first touched
them (an inspector's inspection claims nothing). An event touches the object it is appended
to, an aggregation's parent and a transformation's inputs and outputs; once claimed, only
that organisation, the custodian organisation of a lot packed in the object now, or an
inspector (inspections) may touch it, so nobody else's "destroyed" reaches a lot's trace
or recall through its pallet. An SSCC under a GS1 company prefix recorded for an
organisation (``identity.set_prefixes``) is that organisation's to claim first; SSCCs under
prefixes nobody recorded keep the first-claim rule.

Mass balance: no lot yields more than it holds (quantity - consumed - packed). A
transformation consumes what its inputQuantityList names of each registered lot, converted
into the lot's unit (mass KGM GRM MGM TNE LBR ONZ, volume LTR MLT MTQ, counts: no uom, H87,
C62, EA; other units must match); a lot named without a quantity gives all that is left, a
lot that declares no quantity is consumed whole, once, and so is a serialised item. Packing
(aggregation ADD) holds quantities the same way until unpacked (DELETE); only the lot's
custodian packs or unpacks it (under v3 also links it), whoever else may record on it. A
lot linked to a parent without packing (a TransactionEvent's container, an OBSERVE) must
have something left or be packed there, as must an item of a lot not counted in pieces
wherever it goes; a pallet or unregistered intermediate carrying registered goods is
consumed whole, once. Outputs are not checked against inputs (water is added, yields vary).
A lot's consumed, packed and remaining quantities show in its ``batches`` row. A lot an
order reserves is not transformed while the order runs (the buyer pays for that lot, not
for what it would become).

``record_events`` captures a whole EPCIS document in one transaction; if any event is
refused, none is kept.

Rules v2 (new ledgers start there; older ones after ``rules.adopt``): an event is recorded
once per chain. EPCIS clients retry captures, so an event whose CBV 2.0 hash id a chain it
would go to already holds is refused (AlreadyExists naming the hash and the transaction
that recorded it first; a document re-sent whole is refused as AlreadyExists, with the
per-event reasons, and nothing of it is kept); a document naming one event twice is invalid.
An event held elsewhere may still be recorded on a chain that lacks it (``record_event``
on another lot it is about, by that lot's holder, as when several organisations each
record their lot on a shared pallet): the chain gains its history, but effects the first
recording had for the whole event are not repeated (a transformation's consumption of its
inputs and its genealogy); an aggregation packs the lot it is recorded on, as before. An
error declaration (the event again, with ``errorDeclaration``) is recorded once per chain
too, and only joins the history: it consumes, packs and links nothing. Rules v1 took an
event again (its audit re-executes so).

Rules v3 (new ledgers start there; older ones after ``rules.adopt``): an event touches only
what it names. ``record_event`` is refused (ValidationError, arg ``batch``) unless the
event names its batch: as an EPC class, by a commissioned item of the lot, as its parent,
or as a lot packed now in the parent it names (unpacking or observing a pallet is about
the lots on it); v2 appended any event to the batch, so a packing of lot B recorded on A
linked A to the pallet and a "destroyed" of B became A's fault. An aggregation packs,
unpacks and links to its parent only the lots it names among its children; a
transformation that names no output links nothing (v2 linked its inputs to the chain it
went to, which could be another input). Events one organisation records with the same
``transformationID`` are one transformation: every input of any of them is linked to every
output of any of them (through one genealogy node, so each part costs an edge per input and
output); another organisation naming the same id records a transformation of its own. A
part that adds inputs needs custody of every output lot of the transformation still (at
most 1000 output lots); an error declaration of a part takes its inputs and outputs back
out of the transformation, so parts recorded later do not join them. Only a lot's
custodian links it to a parent without packing it (v2 let an inspector link anyone's lot
onto anyone's pallet). A lot or unit taken out of a parent whole is recorded as unpacked
(``trace_unpacked``), so trace and recall follow a reused pallet only while the lot was
on it.

Rules v4 (new ledgers start there; older ones after ``rules.adopt``): an error declaration
withdraws what the event it declares wrong linked. Under v3 the genealogy edges of a wrong
aggregation, of a transaction's container or of a transformation, and the unpackings of a
wrong DELETE, stayed in force: trace and recall kept following a pallet the lot was never
on, or stopped following one it never left. Under v4 each recording of the declared event
(one transaction's taking of it) is withdrawn once the declaration is recorded on every
chain that recording went to: the trace and recall queries no longer follow any edge or
unpacking it made (``trace_links`` and ``trace_unpacked`` keep them as history; the
queries list what they skipped as ``withdrawn``). What is withdrawn is exactly what the
declared event made: an edge or unpacking another event made too (a later packing of the
same lot onto the same pallet, another event of the same capture) stays, and so does
everything later events built on top (the pallet's own shipment, its packing into a
container, what it was milled into): a recall of the pallet still reaches those, only the
lot no longer reaches the pallet. Not withdrawn either: the quantities the event consumed
or packed (the mass balance stands until the correcting events are recorded; v5 gives
them back), the objects
it claimed, and a transformation part's inputs and outputs in its transformation's state.
A part's edges through the transformation's node are withdrawn like any other (v3 took the
part's inputs and outputs out of the node from the declaration on, so what the part had
joined before stayed). Both the wrong event and its declaration stay in the chains'
history; trace marks them (``error_declaration``, ``declared_wrong``). Nothing is withdrawn
for a declaration recorded before v4 was adopted, nor for an event recorded under v1
(where it went was not kept).

Rules v5 (new ledgers start there; older ones after ``rules.adopt``): an error declaration
gives back what the event it declares wrong took from each lot. Under v4 a mistyped
TransformationEvent (1000 kg consumed instead of 100 kg) left the lot without stock for
good, and the corrective event (the right quantities, named in the declaration's
``correctiveEventIDs``) was refused as ``insufficient_quantity``. Under v5 each recording
that consumes or packs keeps what it took of each registered lot, in the lot's unit; once
the recording is withdrawn (as under v4), that goes back to each lot whose custodian
organisation has declared the event wrong (by that declaration or an earlier one, on any
chain; a lot held by another organisation comes back when that organisation records the
declaration too, on the lot's own chain, say). Consumed quantity returns to the lot's free
quantity (its items may be consumed again, and units consumed whole are usable again, empty,
once all the recording took is back). Packed quantity returns from the parent if the lot
stayed on it untouched since the packing (none of it unpacked from there, the parent not
consumed); else none of that packing comes back (the receipt lists it as
``not_given_back``): what the parent holds of the lot now cannot be told apart from what
the wrong packing put there, and the lot must never yield more than it holds; the recorder
unpacks what is still wrongly there. The declaration is never refused for the balance's
sake, nothing is given back twice, and an event recorded before v5 was adopted kept no
account of what it took: its declaration gives nothing back. The declaration's receipt
and ``record_event``'s result list ``given_back`` [tx, item, lot, consumed, unpacked].
An unpacking or a nesting declared wrong gives nothing back (it took nothing from a lot):
what it unpacked stays free, a unit it nested stays in its parent, until recorded otherwise.

Rules v6 (new ledgers start there; older ones after ``rules.adopt``): an ``eventID`` names
one event, and an error declaration declares a recorded one. The first event recorded
under v6 with an eventID ties the id to its hash id (a declaration checks the tie but makes
none); an event of another hash carrying the id is refused (InvalidState naming the
eventID, the event it names and the transaction that recorded that; EPCISValidationError
for two events of one document). The same hash is the same event, whatever its eventID (the
hash leaves eventID out): re-sent to a chain holding it, it is refused as under v2
(AlreadyExists, a retry); recorded on another chain, or declared wrong, it is taken, as
long as its eventID is free or its own. v5 took both, leaving two events under one id. An
error declaration whose hash (that of the event it repeats) no recording on any chain
holds is refused (NotFound, naming the hash, and the event its eventID names if another):
under v5 it joined the history declaring nothing, so a mistyped declaration looked like a
correction. The eventIDs of events recorded before v6 was adopted are not known (v1 to v5
kept none: the first event recorded under v6 with one claims it), nor where an event
recorded under v1 went, so its declaration is refused. ``correctiveEventIDs`` are not
checked (the corrective events usually follow the declaration).
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.contracts.builtin._trace_edges import edges, retracted
from supplyledger.contracts.builtin._trace_facts import (
    decode_events,
    facts_of_events,
    subject_id,
)
from supplyledger.contracts.builtin._trace_giveback import give_back
from supplyledger.contracts.builtin._trace_objects import Claims
from supplyledger.contracts.builtin._trace_once import held, identify, mark, withdraw
from supplyledger.contracts.builtin._trace_reads import reads_many, reads_one
from supplyledger.contracts.builtin._trace_tables import (
    EVENTS,
    LINKS,
    PROJECTORS,
    UNPACKED,
    event_row,
)
from supplyledger.contracts.builtin._trace_targets import (
    entitled,
    names,
    subjects_of,
    unregistered,
)
from supplyledger.contracts.builtin.custody import holding_key
from supplyledger.contracts.runtime import Contract, Ctx, method
from supplyledger.contracts.schema import Obj, Str
from supplyledger.errors import (
    AlreadyExists,
    EPCISValidationError,
    Forbidden,
    InvalidState,
    NotFound,
    PrefixOwned,
    SupplyLedgerError,
    ValidationError,
)

__all__ = ["CONTRACT", "MAX_EVENTS_TEXT", "RECORDERS", "ZERO", "chain_code", "event_row"]

RECORDERS = ("supplier", "manufacturer", "warehouse", "transporter", "platform", "customs",
             "inspector", "device")
ZERO = "0" * 64
MAX_EVENTS_TEXT = 1 << 28  # characters of a captured document's events (JSON text)


def chain_code(event_hash: str, prev: str) -> str:
    return hashlib.sha256(bytes.fromhex(event_hash) + bytes.fromhex(prev)).hexdigest()


def _prepare_one(args: dict[str, Any]) -> dict[str, Any]:
    # Runs before ordering, in parallel: validation, hash id and facts, done once.
    return {"batch": subject_id(args["batch"]), "prev": args.get("prev"),
            "items": facts_of_events([args["event"]], None, amounts=True)}


def _prepare_share(args: dict[str, Any], i: int, n: int) -> dict[str, Any]:
    # Events are validated and hashed independently of each other, so a share is a slice
    # (and the whole prepare step is the one share of one).
    events = decode_events(args["events"])
    if not events:
        raise EPCISValidationError("the document holds no events", errors=[])
    share = events[i * len(events) // n:(i + 1) * len(events) // n]
    return {"batch": None, "prev": None,
            "items": facts_of_events(share, args.get("namespaces"), amounts=True)
            if share else []}


def _prepare_many(args: dict[str, Any]) -> dict[str, Any]:
    return _prepare_share(args, 0, 1)


def _merge_shares(shares: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch": None, "prev": None, "items": [f for s in shares for f in s["items"]]}


def _append(ctx: Ctx, subject: str, state: dict[str, Any], f: dict[str, Any], item: int,
            edges: list[list[str]], unpacked: list[list[str]] | None = None,
            withdrawn: list[list[Any]] | None = None,
            given: dict[str, list[list[Any]]] | None = None) -> dict[str, Any]:
    # The event's record is the signed envelope that carries it: its hash (the tx id)
    # commits to the event, who recorded it and when.
    code = chain_code(ctx.tx_id, state["code"])
    n = state["n"] + 1
    ctx.put(f"b/{subject}", {"code": code, "n": n})
    more: dict[str, Any] = {}
    if edges:
        more["edges"] = edges
    if unpacked:  # (rules v3 only, so the receipts of v1 and v2 stay as they were)
        more["unpacked"] = unpacked
    if withdrawn:  # (rules v4 only) the recordings an error declaration withdrew
        more["withdrawn"] = withdrawn
    shown = {k: v for k, v in (given or {}).items() if v}  # (rules v5 only)
    ctx.emit("recorded", batch=subject, seq=n, code=code, item=item, **more, **shown)
    return {"batch": subject, "seq": n, "code": code, "hash": f["hash"], **shown}


def _record(ctx: Ctx, targets: list[tuple[str, dict[str, Any] | None]], f: dict[str, Any],
            item: int, prev: str | None) -> dict[str, Any]:
    """Append the event to each target's chain: who may (a lot's holders, an object's
    claimant), then the first target's ``prev``, then the genealogy. Returns the first
    target's entry. (Written for the usual single target: this runs once per captured event
    on the node's busiest thread.)"""
    once = ctx.version >= 2  # rules v1 (ledgers made before) took an event again
    where = held(ctx, f, [t for t, _ in targets], item) if once else {}
    named = identify(ctx, f, item) if ctx.version >= 6 else ""  # (after a retry's refusal)
    claims = Claims(ctx)
    for subject, h in targets:
        if h is not None:
            entitled(ctx, subject, h, f["link"])
        elif subject != f["hash"]:
            claims.touch(subject, f["link"])
    first = targets[0][0]
    state = ctx.get(f"b/{first}") or {"code": ZERO, "n": 0}
    if prev is not None and prev != state["code"]:
        raise InvalidState(f"batch {first} code is {state['code'][:12]}…, not "
                           f"{prev[:12]}…", current=state["code"])
    # A transformation recorded on another of its lots already consumed its inputs and
    # linked them to every output: only this chain's history is new.
    # An error declaration (v2) says an event was wrong: it joins the history, but
    # consumes, packs and links nothing (else declaring a milling wrong milled it again).
    again = (bool(where) and f["type"] == "TransformationEvent") or (
        once and bool(f.get("declares")))
    linking = f["inputs"] or f["parent"] or (ctx.version >= 3 and f.get("tid"))
    per: list[list[list[str]]] = []
    unpacked: list[list[str]] = []
    if linking and not again:
        per, unpacked = edges(ctx, targets, f, claims, item)
    elif once and f.get("declares") and not where and ctx.version < 4:
        unpacked = retracted(ctx, f)  # (v3) a part's links taken back, once
    claims.commit()
    withdrawn: list[list[Any]] = []
    given: dict[str, list[list[Any]]] = {}
    if once:
        subjects = [t for t, _ in targets]
        mark(ctx, f, where, subjects, item)
        if named:
            ctx.put(named, [f["hash"], ctx.tx_id, item])
        if ctx.version >= 4 and f.get("declares"):  # (never on an event's own recording)
            withdrawn = withdraw(ctx, f, where, subjects)
            if ctx.version >= 5:
                given = give_back(ctx, f, where)
    done = _append(ctx, first, state, f, item, per[0] if per else [], unpacked, withdrawn,
                   given)
    for k in range(1, len(targets)):
        t = targets[k][0]
        _append(ctx, t, ctx.get(f"b/{t}") or {"code": ZERO, "n": 0}, f, item,
                per[k] if per else [])
    return done


@method(roles=RECORDERS, prepare=_prepare_one, reads=reads_one, args={
    "batch": Str(max_len=300, doc="batch id: LGTIN as URN or GS1 Digital Link"),
    "event": Obj(doc="EPCIS 2.0 event (JSON object, no @context needed for CBV terms)"),
    "prev": Str(optional=True, min_len=64, max_len=64,
                doc="the batch's current code, to refuse appends to a stale view"),
}, errors=(NotFound, Forbidden, PrefixOwned, InvalidState, ValidationError,
            EPCISValidationError, AlreadyExists))
def record_event(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Append a supply-chain event to a registered batch's history and extend its chain."""
    batch = args["batch"]
    h = ctx.read("custody", holding_key(batch))
    if h is None:
        raise NotFound(f"no batch {batch}")
    f = args["items"][0]
    if ctx.version >= 3 and not names(ctx, f, batch):
        raise ValidationError(
            f"the event does not name batch {batch} (as an EPC class, an item of the lot, "
            "or a lot packed in its parent): record it on a batch it names",
            arg="batch", batch=batch)
    return _record(ctx, [(batch, h)], f, 0, args["prev"])


@method(roles=RECORDERS, prepare=_prepare_many, reads=reads_many,
        parts=(_prepare_share, _merge_shares), args={
    "events": Str(max_len=MAX_EVENTS_TEXT, doc="the document's eventList as JSON text (keeps EPCIS "
                  "numbers exact)"),
    "namespaces": Obj(optional=True, doc="prefix -> IRI declared by the document's @context"),
    "source": Str(optional=True, max_len=500, doc="document id or instanceIdentifier"),
}, errors=(NotFound, Forbidden, EPCISValidationError, AlreadyExists))
def record_events(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Capture a list of EPCIS events atomically: all are recorded, or none (with the
    reason for every refused event)."""
    errors: list[dict[str, Any]] = []
    subjects: set[str] = set()
    items = args["items"]
    for i, f in enumerate(items):
        try:
            targets: list[tuple[str, dict[str, Any] | None]] = [*subjects_of(ctx, f)]
            if not targets:
                targets = [unregistered(ctx, f)]
            _record(ctx, targets, f, i, None)
            subjects.update(t for t, _ in targets)
        except SupplyLedgerError as exc:
            errors.append({"event": i, "code": exc.code, "reason": exc.message})
            if isinstance(exc, AlreadyExists) or (  # (v6) or whose the eventID is
                    isinstance(exc, InvalidState) and "event_id" in exc.details):
                errors[-1]["tx"] = exc.details["tx"]
    if errors and all(e["code"] == AlreadyExists.code for e in errors):
        # a re-sent capture (at-least-once delivery): say so, not "invalid"
        tx = errors[0]["tx"]
        whole = "the document was captured before: " if len(errors) == len(items) else ""
        raise AlreadyExists(
            f"{whole}{len(errors)} of {len(items)} events are already recorded (event "
            f"{errors[0]['event']} by transaction {tx}), none recorded again",
            errors=errors[:200], tx=tx)
    if errors:
        raise EPCISValidationError(
            f"{len(errors)} of {len(items)} events refused, none recorded; event "
            f"{errors[0]['event']}: {errors[0]['reason']}", errors=errors[:200])
    return {"events": len(items), "subjects": len(subjects)}


CONTRACT = Contract.of("trace", __doc__ or "", [record_event, record_events],
                       tables=(EVENTS, LINKS, UNPACKED), projectors=PROJECTORS,
                       versions=(1, 2, 3, 4, 5, 6))
