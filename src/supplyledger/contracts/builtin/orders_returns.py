"""Disputes, arbiter rulings and returns: the order actions that undo or split a sale.

Both happen while the money is still in escrow — that is what the release period is for.
A dispute (buyer, seller or the order's transporter; from dispatch until payment) freezes
the order: nothing moves until a participant with the ``arbiter`` role rules how the escrow
is shared, who was at fault (counted against that party's credit) and whether ownership
passes to the buyer. The arbiter must be neutral: neither the buyer, seller or transporter,
nor the financier of an advance on the order (repaid from the seller's share), nor a member
of one of their organisations (the platform may arbitrate: it is paid nothing from the
escrow). A return is asked for instead of confirming a delivery; when the
seller receives the goods back, custody returns to it, the buyer is refunded the goods'
price and the transporter keeps its freight (the outbound trip did happen).

Under rules v2 a delivered order is disputed or returned only within its dispute period
(before its ``release_at``; later only if a cold-chain breach holds its payout), and a
ruling pays freight only to a transporter that picked the goods up (see ``orders``). Under
rules v3 a ruling refused for its amounts names the order and the amounts.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._orders_goods import move
from supplyledger.contracts.builtin._orders_model import (
    ORDER_ID,
    bump,
    expect,
    load,
    org_of,
    party,
    release_due,
    transition,
)
from supplyledger.contracts.builtin._orders_settle import financed_by, settle
from supplyledger.contracts.builtin._sensors_breaches import hold_on_breach
from supplyledger.contracts.builtin.payments import Amount
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Ctx, Method, method
from supplyledger.contracts.schema import Enum, Str
from supplyledger.errors import AmountError, Forbidden, InvalidState, NotFound

__all__ = ["EVENTS", "METHODS", "within_period"]

EVENTS = ("disputed", "resolved", "return_requested", "returned")
_REASON = Str(max_len=500)


def within_period(ctx: Ctx, o: dict[str, Any], action: str) -> None:
    """Rules v2: once a delivered order's dispute period is over, the seller is owed its
    release (the buyer stayed silent); only a payout held by a cold-chain breach stays open
    to a dispute or a return."""
    if ctx.version < 2 or o["state"] != "delivered":
        return
    due = release_due(ctx, o)
    if ctx.time < due:
        return
    try:
        hold_on_breach(ctx, o)
    except InvalidState:
        return  # held: the buyer must still be able to dispute or return
    raise InvalidState(f"order {o['id']} is delivered and its dispute period ended at {due}: "
                       f"too late to {action}; it may be confirmed or released",
                       current=o["state"], release_at=due)


@method(roles=ANY_PARTICIPANT, args={"order": ORDER_ID, "reason": _REASON},
        errors=(NotFound, Forbidden, InvalidState))
def dispute(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer, seller or transporter: hold the order and its escrow for an arbiter."""
    o = load(ctx, a["order"])
    expect(o, "dispute")
    role = party(ctx, o, "buyer", "seller", "transporter")
    within_period(ctx, o, "dispute it")
    transition(ctx, o, "disputed", "disputed", prior=o["state"],
               dispute={"by": ctx.signer, "role": role, "reason": a["reason"], "at": ctx.time})
    return {"order": o["id"], "state": o["state"]}


@method(roles="arbiter", args={
    "order": ORDER_ID,
    "refund": Amount(minimum=0, doc="to the buyer"),
    "freight_paid": Amount(minimum=0, doc="to the transporter, at most the freight"),
    "at_fault": Enum(values=("buyer", "seller", "transporter", "none")),
    "ownership": Enum(values=("buyer", "seller"), doc="who holds title afterwards"),
    "note": Str(optional=True, max_len=1000),
}, errors=(NotFound, InvalidState, Forbidden, AmountError))
def resolve(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Arbiter, not a party to the order nor its financier: share out a disputed order's
    escrow; the seller gets what is left after the refund and freight (first repaying any
    financing)."""
    o = load(ctx, a["order"])
    expect(o, "resolve")
    # The financier of an approved advance is repaid from the seller's share: the ruling
    # decides its repayment, so it is as much a party as the others.
    financier = financed_by(ctx, o)
    for role, did in (("buyer", o["buyer"]), ("seller", o["seller"]),
                      ("transporter", o["transporter"]), ("financier", financier)):
        if did is not None and (did == ctx.signer or
                                (ctx.org is not None and org_of(ctx, did) == ctx.org)):
            raise Forbidden(f"an arbiter may not rule a dispute it is party to: the "
                            f"{role} of order {o['id']} is {did}, of organisation {ctx.org} "
                            f"like the arbiter", role=role)
    total = o["unit_price"] * o["quantity"] + o["freight"]
    if a["freight_paid"] > o["freight"]:
        if ctx.version >= 3:
            raise AmountError(f"order {o['id']}: freight_paid {a['freight_paid']} exceeds "
                              f"its freight {o['freight']}", arg="freight_paid",
                              freight=o["freight"])
        raise AmountError(f"freight_paid exceeds the order's freight {o['freight']}")
    if ctx.version >= 2 and a["freight_paid"] and o.get("prior") == "dispatched":
        raise AmountError(f"order {o['id']} was disputed before its transporter picked the "
                          "goods up: no freight is owed", arg="freight_paid")
    seller = total - a["refund"] - a["freight_paid"]
    if seller < 0:
        if ctx.version >= 3:
            raise AmountError(f"order {o['id']}: refund {a['refund']} and freight_paid "
                              f"{a['freight_paid']} share out "
                              f"{a['refund'] + a['freight_paid']}, more than the {total} "
                              "in its escrow", arg="refund", escrow=total)
        raise AmountError(f"refund and freight share out more than the {total} in escrow")
    if a["ownership"] == "buyer":
        move(ctx, o, "ownership", o["buyer"])
    paid = settle(ctx, o, seller=seller, buyer=a["refund"], transporter=a["freight_paid"])
    for role in ("buyer", "seller", "transporter"):
        if o[role] is not None:
            bump(ctx, o[role], disputes=1, lost=int(role == a["at_fault"]))
    ruling = {k: a[k] for k in ("refund", "freight_paid", "at_fault", "ownership")}
    transition(ctx, o, "resolved", "resolved", settled_at=ctx.time,
               ruling={**ruling, "by": ctx.signer, "note": a.get("note", "")})
    return {"order": o["id"], "state": o["state"], "paid": paid}


@method(roles=ANY_PARTICIPANT, args={"order": ORDER_ID, "reason": _REASON},
        errors=(NotFound, Forbidden, InvalidState))
def request_return(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer, instead of confirming a delivery: send the goods back for a refund."""
    o = load(ctx, a["order"])
    expect(o, "request_return")
    party(ctx, o, "buyer")
    within_period(ctx, o, "return it")
    transition(ctx, o, "return_requested", "return_requested",
               return_reason=a["reason"], return_at=ctx.time)
    return {"order": o["id"], "state": o["state"]}


@method(roles=ANY_PARTICIPANT, args={"order": ORDER_ID},
        errors=(NotFound, Forbidden, InvalidState))
def receive_return(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Seller: the returned goods arrived; custody comes back, the buyer is refunded."""
    o = load(ctx, a["order"])
    expect(o, "receive_return")
    party(ctx, o, "seller")
    move(ctx, o, "custody", o["seller"])
    paid = settle(ctx, o, seller=0, buyer=o["unit_price"] * o["quantity"],
                  transporter=o["freight"])
    bump(ctx, o["seller"], returns=1)
    transition(ctx, o, "returned", "returned", settled_at=ctx.time)
    return {"order": o["id"], "state": o["state"], "paid": paid}


METHODS: list[Method] = [dispute, resolve, request_return, receive_return]
