"""trace — supply-chain events per batch with a traceability-code chain (paper 002).

Each batch carries code_n = SHA-256(tx_id_n ‖ code_{n-1}), where tx_id_n is the hash of the
signed envelope carrying event n (so it commits to the event, its recorder and its time);
an append that names a stale predecessor is refused, and stored events edited later no
longer hash to the recorded codes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from supplyledger.contracts.projection import EventMeta, Op, Table, Upsert
from supplyledger.contracts.runtime import Contract, Ctx, method
from supplyledger.contracts.schema import Obj, Str
from supplyledger.errors import InvalidState

__all__ = ["CONTRACT", "chain_code"]

RECORDERS = ("supplier", "manufacturer", "warehouse", "transporter", "platform", "customs",
             "inspector", "device")
ZERO = "0" * 64


def chain_code(event_hash: str, prev: str) -> str:
    return hashlib.sha256(bytes.fromhex(event_hash) + bytes.fromhex(prev)).hexdigest()


def _prepare(args: dict[str, Any]) -> dict[str, Any]:
    # Runs before ordering, in parallel: keep only what the sequential step needs.
    ev = args["event"]
    return {"batch": args["batch"], "prev": args.get("prev"), "type": str(ev.get("type", "")),
            "biz_step": str(ev.get("bizStep", "")), "event_time": str(ev.get("eventTime", ""))}


@method(roles=RECORDERS, prepare=_prepare, args={
    "batch": Str(max_len=128, doc="batch/lot identifier (LGTIN or local id)"),
    "event": Obj(doc="EPCIS 2.0 event (JSON object)"),
    "prev": Str(optional=True, min_len=64, max_len=64,
                doc="the batch's current code, to refuse appends to a stale view"),
}, errors=(InvalidState,))
def record_event(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """Append a supply-chain event to a batch's history and extend its code chain."""
    key = f"b/{args['batch']}"
    state = ctx.get(key) or {"code": ZERO, "n": 0}
    if args["prev"] is not None and args["prev"] != state["code"]:
        raise InvalidState(f"batch {args['batch']} code is {state['code'][:12]}…, not "
                           f"{args['prev'][:12]}…", current=state["code"])
    # The event's record is the signed envelope that carries it: its hash (the tx id)
    # commits to the event, who recorded it and when.
    code = chain_code(ctx.tx_id, state["code"])
    n = state["n"] + 1
    ctx.put(key, {"code": code, "n": n})
    ctx.emit("recorded", batch=args["batch"], seq=n, code=code)
    return {"batch": args["batch"], "seq": n, "code": code}


EVENTS = Table(
    "trace_events",
    (("batch", "TEXT"), ("seq", "INTEGER"), ("tx", "TEXT"), ("height", "INTEGER"),
     ("type", "TEXT"), ("biz_step", "TEXT"), ("event_time", "TEXT"), ("signer", "TEXT"),
     ("code", "TEXT")),
    ("batch", "seq"),
)


def _recorded(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The event document itself stays in the stored transaction (joined on ``tx``).
    a = m.args
    return [Upsert("trace_events", (e["batch"], e["seq"], m.tx, m.height, a["type"],
                                    a["biz_step"], a["event_time"], m.signer, e["code"]))]


CONTRACT = Contract.of("trace", __doc__ or "", [record_event], tables=(EVENTS,),
                       projectors={"trace.recorded": _recorded})
