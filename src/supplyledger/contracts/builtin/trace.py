"""trace — supply-chain events per batch with a traceability-code chain (paper 002).

Each batch carries code_n = SHA-256(event_hash_n ‖ code_{n-1}); the contract checks the
chain on every append, so an event that names a stale predecessor is refused and stored
events that are edited later no longer hash to the recorded codes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import Contract, Ctx, method
from supplyledger.contracts.schema import Obj, Str
from supplyledger.errors import InvalidState
from supplyledger.ledger.encoding import canonical_decoded

__all__ = ["CONTRACT", "chain_code"]

RECORDERS = ("supplier", "manufacturer", "warehouse", "transporter", "platform", "customs",
             "inspector", "device")
ZERO = "0" * 64


def chain_code(event_hash: str, prev: str) -> str:
    return hashlib.sha256(bytes.fromhex(event_hash) + bytes.fromhex(prev)).hexdigest()


@method(roles=RECORDERS, args={
    "batch": Str(max_len=128, doc="batch/lot identifier (LGTIN or local id)"),
    "event": Obj(doc="EPCIS 2.0 event (JSON object)"),
    "prev": Str(optional=True, min_len=64, max_len=64,
                doc="the batch's current code, to refuse appends to a stale view"),
}, errors=(InvalidState,))
def record_event(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Append a supply-chain event to a batch's history and extend its code chain."""
    key = f"b/{args['batch']}"
    state = ctx.get(key) or {"code": ZERO, "n": 0}
    if "prev" in args and args["prev"] != state["code"]:
        raise InvalidState(f"batch {args['batch']} code is {state['code'][:12]}…, not "
                           f"{args['prev'][:12]}…", current=state["code"])
    # Arguments always come from a decoded envelope, so the float-free walk can be skipped.
    event_hash = hashlib.sha256(canonical_decoded(args["event"])).hexdigest()
    code = chain_code(event_hash, state["code"])
    n = state["n"] + 1
    ctx.put(key, {"code": code, "n": n})
    ev = args["event"]
    ctx.emit("recorded", batch=args["batch"], seq=n, code=code, event_hash=event_hash,
             type=str(ev.get("type", "")), biz_step=str(ev.get("bizStep", "")),
             event_time=str(ev.get("eventTime", "")))
    return {"batch": args["batch"], "seq": n, "code": code}


EVENTS = Table(
    "trace_events",
    (("batch", "TEXT"), ("seq", "INTEGER"), ("tx", "TEXT"), ("height", "INTEGER"),
     ("type", "TEXT"), ("biz_step", "TEXT"), ("event_time", "TEXT"), ("signer", "TEXT"),
     ("code", "TEXT"), ("event_hash", "TEXT")),
    ("batch", "seq"),
    (("tx",),),
)


def _recorded(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The event document itself stays in the stored transaction (joined on ``tx``).
    return [Upsert("trace_events", (e["batch"], e["seq"], m.tx, m.height, e["type"],
                                    e["biz_step"], e["event_time"], m.signer, e["code"],
                                    e["event_hash"]))]


CONTRACT = Contract.of("trace", __doc__ or "", [record_event], tables=(EVENTS,),
                       projectors={"trace.recorded": _recorded})
