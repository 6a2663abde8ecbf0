"""credit — credit assessment from ledger history, and financing of orders held in escrow
(paper 000 §3.1: financial institutions approve loans "based on real data").

A ``financier`` asks for the assessment of any participant: a score out of 1000 from its
order history — on-time delivery rate, disputes lost, payment delays and volume — with every
factor's evidence, value, weight and points recorded, so the decision it supports can be
explained and re-checked. Only ledger state and integer arithmetic go into it.

The seller of an order whose price sits in escrow may ask a financier to advance money
against it (``request_financing``, which records the seller's assessment at that moment);
the financier approves — the advance is paid to the seller at once — or declines, after
which the seller may ask another. A financier that never answers cannot block the order: the
seller may withdraw its pending request (``withdraw_request``) and ask another; an approved
one cannot be withdrawn, as money was advanced on it. The financier is never the seller nor
of the seller's organisation: self-financing risks nothing, yet would count as a financing
repaid on time in the seller's own assessment. Once advanced, the seller may no longer
cancel the order (``orders.cancel``): its escrow is the financier's collateral. The buyer
still may, before dispatch, with a full refund. When the escrow pays the seller, the
financier is repaid first (``repaid``). If the seller's share falls short (a cancellation
pays it nothing; a return, a ruling or a short delivery less than agreed), orders rules v1
close the lien ``short`` at once, leaving the seller the advance. Orders rules v2 (new
ledgers) make the financier whole where the ledger can: the rest is debited from the
seller's balance in the order's currency, as far as it goes (an ``orders.money`` move
``financing recovery``, seller -> financier; money the seller reserved for a withdrawal is
beyond reach), and ``orders.lien_settled`` reports it (``recovered``, included in
``repaid``). Only a lien still unpaid after that is closed ``short``, and counts as a
payment delay against the seller. The ``financing`` table shows both figures, and when
each step happened (epoch ms, the transactions' times): ``requested_at``, ``decided_at``
(the financier's answer, or the seller's withdrawal) and ``settled_at`` (the escrow's
settlement, ``orders.lien_settled``); a new request after a declined or withdrawn one
starts its row afresh. Under orders rules v3 the seller may cancel a financed order whose
buyer has been revoked (the buyer no longer can), and a consortium admin one whose buyer
and seller both have been, which settles the lien as the buyer's cancellation does.

Rules v2 (new ledgers start there; older ones after ``rules.adopt``): a financier cannot
approve a request once its seller has been revoked (``invalid_state``, naming the seller
and its state): v1 paid the advance to an account nobody may sign for any more, against an
order that may never ship. The financier declines such a request. Refusals name the order
they are about, and who may act instead or the amounts at fault (v1's "repay must be at
least the amount advanced" named neither).
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._credit_model import assess as score_of
from supplyledger.contracts.builtin._credit_model import lien_key
from supplyledger.contracts.builtin._orders_model import ORDER_ID, load, party, stats_key
from supplyledger.contracts.builtin.identity import participant_key
from supplyledger.contracts.builtin.payments import (
    Amount,
    project_money,
    require_participant,
    transfer_between,
)
from supplyledger.contracts.projection import EventMeta, Op, Table, Update, Upsert
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Bool, Str
from supplyledger.errors import (
    AlreadyExists,
    AmountError,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
)
from supplyledger.ledger.encoding import canonical

__all__ = ["CLOSED_REQUESTS", "CONTRACT", "FINANCEABLE", "assessment_of"]

_DID = Str(max_len=128, doc="participant id")
# Orders whose escrow will pay the seller unless something goes wrong.
FINANCEABLE = ("placed", "dispatched", "in_transit", "delivered")
# Requests that advanced nothing and leave the way open to a new one.
CLOSED_REQUESTS = ("declined", "withdrawn")


def assessment_of(ctx: Ctx, did: str) -> dict[str, Any]:
    """The assessment of ``did`` from the statistics the orders contract keeps."""
    return score_of(ctx.read("orders", stats_key(did)) or {})


@method(roles="financier", args={"subject": _DID}, errors=(NotFound,))
def assess(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Financier: assess a participant from its ledger history; recorded with its factors."""
    require_participant(ctx, a["subject"])
    res = assessment_of(ctx, a["subject"])
    ctx.put(f"a/{a['subject']}", {**res, "subject": a["subject"], "at": ctx.time,
                                  "by": ctx.signer, "tx": ctx.tx_id})
    ctx.emit("assessed", subject=a["subject"], score=res["score"], grade=res["grade"],
             factors=res["factors"])
    return res


@method(roles=ANY_PARTICIPANT, args={
    "order": ORDER_ID, "financier": _DID,
    "amount": Amount(doc="advance paid to the seller"),
    "repay": Amount(doc="repaid to the financier from the escrow (advance + fee)"),
}, errors=(NotFound, Forbidden, InvalidState, AlreadyExists, AmountError))
def request_financing(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Seller: ask a financier to advance money against an order's escrow."""
    o = load(ctx, a["order"])
    party(ctx, o, "seller")
    if o["state"] not in FINANCEABLE:
        raise InvalidState(f"order {o['id']} is {o['state']}: only an order whose escrow "
                           "will pay the seller can be financed", current=o["state"])
    fin = require_participant(ctx, a["financier"], role="financier")
    if a["financier"] == ctx.signer or (ctx.org is not None and fin["org"] == ctx.org):
        if ctx.version >= 2:
            raise Forbidden(f"the financier of order {o['id']} must be independent of its "
                            f"seller {ctx.signer}: {a['financier']} is of the seller's "
                            f"organisation {ctx.org}; ask another financier", org=ctx.org)
        raise Forbidden(f"the financier must be independent of the seller: {a['financier']} "
                        f"is of the seller's organisation {ctx.org}", org=ctx.org)
    old = ctx.get(lien_key(o["id"]))
    if old is not None and old["state"] not in CLOSED_REQUESTS:
        raise AlreadyExists(f"order {o['id']} already has a financing request "
                            f"({old['state']})", state=old["state"])
    goods = o["unit_price"] * o["quantity"]
    if a["repay"] < a["amount"]:
        if ctx.version >= 2:
            raise AmountError(f"order {o['id']}: repay {a['repay']} must be at least the "
                              f"amount advanced, {a['amount']}", arg="repay")
        raise AmountError("repay must be at least the amount advanced")
    if a["repay"] > goods:
        if ctx.version >= 2:
            raise AmountError(f"order {o['id']}: repay {a['repay']} exceeds the {goods} its "
                              "escrow can pay the seller", arg="repay")
        raise AmountError(f"repay exceeds the {goods} the escrow can pay the seller")
    res = assessment_of(ctx, o["seller"])
    lien = {"order": o["id"], "seller": o["seller"], "financier": a["financier"],
            "currency": o["currency"], "amount": a["amount"], "repay": a["repay"],
            "state": "requested", "repaid": 0, "at": ctx.time,
            "assessment": {k: res[k] for k in ("score", "grade", "factors")}}
    ctx.put(lien_key(o["id"]), lien)
    ctx.emit("requested", order=o["id"], seller=o["seller"], financier=a["financier"],
             currency=o["currency"], amount=a["amount"], repay=a["repay"],
             score=res["score"], grade=res["grade"])
    return {"order": o["id"], "state": "requested", "assessment": lien["assessment"]}


def _request(ctx: Ctx, order: str) -> dict[str, Any]:
    lien = ctx.get(lien_key(order))
    if lien is None:
        raise NotFound(f"no financing request for order {order}")
    return lien  # type: ignore[no-any-return]


@method(roles="financier", args={"order": ORDER_ID, "approve": Bool(),
                                 "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState, InsufficientFunds))
def decide(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Financier named in a request: approve (the advance goes to the seller now) or
    decline it, on the assessment recorded with the request. Rules v2: not approve it once
    the seller is no longer an active participant (``invalid_state`` naming the seller and
    its state; decline it)."""
    lien = _request(ctx, a["order"])
    if lien["financier"] != ctx.signer:
        if ctx.version >= 2:
            raise Forbidden(f"the financing request of order {a['order']} is addressed to "
                            f"{lien['financier']}: only it may decide it")
        raise Forbidden(f"the request is addressed to {lien['financier']}")
    if lien["state"] != "requested":
        raise InvalidState(f"the financing of {a['order']} is {lien['state']}",
                           current=lien["state"])
    if a["approve"]:
        o = load(ctx, a["order"])
        if o["state"] not in FINANCEABLE:
            raise InvalidState(f"order {o['id']} is {o['state']}: its escrow will not pay "
                               "the seller", current=o["state"])
        if ctx.version >= 2:
            _seller_active(ctx, lien)
        transfer_between(ctx, ctx.signer, lien["seller"], lien["currency"], lien["amount"],
                         "financing advance")
    lien["state"] = "approved" if a["approve"] else "declined"
    ctx.put(lien_key(a["order"]), lien)
    ctx.emit("decided", order=a["order"], state=lien["state"], reason=a.get("reason", ""))
    return {"order": a["order"], "state": lien["state"]}


def _seller_active(ctx: Ctx, lien: dict[str, Any]) -> None:
    """Rules v2: refuse an advance to a seller revoked since its request (v1 paid it, to an
    account nobody may sign for any more, against an escrow whose order may never ship)."""
    p = ctx.read("identity", participant_key(lien["seller"]))
    state = "unknown" if p is None else str(p["status"])
    if state != "active":
        raise InvalidState(f"the seller {lien['seller']} of order {lien['order']} is {state} "
                           "since it asked for financing: no advance is paid to it; decline "
                           "the request", current=state, seller=lien["seller"])


@method(roles=ANY_PARTICIPANT, args={"order": ORDER_ID,
                                     "reason": Str(optional=True, max_len=500)},
        errors=(NotFound, Forbidden, InvalidState))
def withdraw_request(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Seller who asked: withdraw a financing request not yet answered, so that another
    financier may be asked. Not once approved: money was advanced against the escrow."""
    lien = _request(ctx, a["order"])
    if lien["seller"] != ctx.signer:
        if ctx.version >= 2:
            raise Forbidden(f"only the seller {lien['seller']} of order {a['order']} may "
                            "withdraw its financing request")
        raise Forbidden(f"only the seller {lien['seller']} may withdraw the request")
    if lien["state"] != "requested":
        raise InvalidState(f"the financing of {a['order']} is {lien['state']}: only a "
                           "pending request can be withdrawn", current=lien["state"])
    lien["state"] = "withdrawn"
    ctx.put(lien_key(a["order"]), lien)
    ctx.emit("withdrawn", order=a["order"], financier=lien["financier"],
             reason=a.get("reason", ""))
    return {"order": a["order"], "state": "withdrawn"}


ASSESSMENTS = Table(
    "credit_assessments",
    (("subject", "TEXT"), ("tx", "TEXT"), ("score", "INTEGER"), ("grade", "TEXT"),
     ("factors", "TEXT"), ("by_", "TEXT"), ("time", "INTEGER")),
    ("subject", "tx"))
FINANCING = Table(
    "financing",
    (("order_id", "TEXT"), ("seller", "TEXT"), ("financier", "TEXT"), ("currency", "TEXT"),
     ("amount", "INTEGER"), ("repay", "INTEGER"), ("state", "TEXT"), ("score", "INTEGER"),
     ("grade", "TEXT"), ("repaid", "INTEGER"), ("recovered", "INTEGER"), ("tx", "TEXT"),
     ("settled_tx", "TEXT"), ("requested_at", "INTEGER"), ("decided_at", "INTEGER"),
     ("settled_at", "INTEGER")),
    ("order_id",), (("seller",), ("financier",)))


def _assessed(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("credit_assessments", (e["subject"], m.tx, e["score"], e["grade"],
                                          canonical(e["factors"]).decode(), m.signer,
                                          m.time))]


def _requested(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Upsert("financing", (e["order"], e["seller"], e["financier"], e["currency"],
                                 e["amount"], e["repay"], "requested", e["score"], e["grade"],
                                 0, 0, m.tx, None, m.time, None, None))]


def _decided(e: dict[str, Any], m: EventMeta) -> list[Op]:
    return [Update("financing", (e["order"],), (("state", e["state"]),
                                                ("decided_at", m.time)))]


def _withdrawn(e: dict[str, Any], m: EventMeta) -> list[Op]:
    # The request is answered, by its seller: when it stopped waiting is what people ask.
    return [Update("financing", (e["order"],), (("state", "withdrawn"),
                                                ("decided_at", m.time)))]


CONTRACT = Contract.of(
    "credit", __doc__ or "", [assess, request_financing, decide, withdraw_request],
    tables=(ASSESSMENTS, FINANCING),
    projectors={"credit.assessed": _assessed, "credit.requested": _requested,
                "credit.decided": _decided, "credit.withdrawn": _withdrawn,
                "credit.money": project_money},
    versions=(1, 2),
)
