"""Delivery windows: rescheduling by agreement, and the release period (admin setting).

Paper 001 Alg. 5 delivers only "if the product delivery date is in agreement with the
buyer", and reschedules otherwise (e.g. when no registered transporter is available). A new
window therefore applies only once buyer and seller have both proposed the same one; either
may counter-propose. Until then the old window stands — dispatch refuses to start after it
closed, and deliveries after it count as late against the seller's and transporter's
on-time rate. Under orders rules v4 a refused window names the order; from v6 a reversed
one, or one already over at the transaction's own time, is refused before execution
(:func:`admit_window`), as it needs no state to refuse.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._orders_model import (
    ORDER_ID,
    about,
    expect,
    load,
    party,
    transition,
)
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Ctx, Method, method
from supplyledger.contracts.schema import Int
from supplyledger.errors import Forbidden, InvalidState, NotFound, ValidationError
from supplyledger.ledger.encoding import MAX_INT

__all__ = ["ADMIT_RULES", "EVENTS", "METHODS", "TIME", "admit_window", "check_window"]

EVENTS = ("reschedule_proposed", "rescheduled")
TIME = Int(min=0, max=MAX_INT, doc="ms since the epoch")
_DAY = 24 * 3_600_000
# From these orders rules on, the checks that need no state refuse before execution.
ADMIT_RULES = 6
_REVERSED = "the delivery window ends before it starts"
_OVER = "the delivery window is already over"


def check_window(ctx: Ctx, earliest: int, latest: int, order: str | None = None) -> None:
    """A window that makes sense and has not passed (at placing and rescheduling; ``order``,
    when given, is named by a refusal under orders rules v4)."""
    def named(msg: str) -> str:
        return msg if order is None else about(ctx, order, msg, since=4)

    if earliest > latest:
        raise ValidationError(named(_REVERSED), arg="latest")
    if latest < ctx.time:
        raise ValidationError(named(_OVER), arg="latest")


def admit_window(order: str, earliest: int, latest: int, time: int) -> None:
    """Refuse a reversed window of ``order``, or one over before ``time`` (the call's own
    signed time), in the words rules v4 on give them (an admission check from
    :data:`ADMIT_RULES`)."""
    if earliest > latest:
        raise ValidationError(f"order {order}: {_REVERSED}", arg="latest")
    if latest < time:
        raise ValidationError(f"order {order}: {_OVER}", arg="latest")


def _admit_reschedule(signer: str, a: dict[str, Any], version: int, time: int) -> None:
    admit_window(a["order"], a["earliest"], a["latest"], time)


@method(roles=ANY_PARTICIPANT, args={"order": ORDER_ID, "earliest": TIME, "latest": TIME},
        errors=(NotFound, Forbidden, InvalidState, ValidationError),
        admit=(ADMIT_RULES, _admit_reschedule))
def reschedule(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Buyer or seller: propose a new delivery window; it applies once the other party
    proposes the same one (the delivery date must be agreed with the buyer, Alg. 5)."""
    o = load(ctx, a["order"])
    expect(o, "reschedule")
    party(ctx, o, "buyer", "seller")
    check_window(ctx, a["earliest"], a["latest"], o["id"])
    mine = {"by": ctx.signer, "earliest": a["earliest"], "latest": a["latest"]}
    theirs = o["proposal"]
    if theirs is not None and theirs["by"] != ctx.signer and (
            theirs["earliest"], theirs["latest"]) == (a["earliest"], a["latest"]):
        transition(ctx, o, "rescheduled", earliest=a["earliest"], latest=a["latest"],
                   proposal=None)
        return {"order": o["id"], "applied": True}
    transition(ctx, o, "reschedule_proposed", proposal=mine)
    return {"order": o["id"], "applied": False}


@method(roles="admin", args={"release_after_ms": Int(min=0, max=365 * _DAY)})
def configure(ctx: Ctx, a: dict[str, Any]) -> dict[str, Any]:
    """Admin: how long after delivery an unconfirmed, undisputed order may be released
    (under rules v2 also how long it may be disputed or returned: 0 pays on delivery).
    Under v2 it applies to goods delivered from now on; earlier deliveries keep theirs."""
    ctx.put("cfg", {"release_after_ms": a["release_after_ms"]})
    ctx.emit("configured", release_after_ms=a["release_after_ms"])
    return {"release_after_ms": a["release_after_ms"]}


METHODS: list[Method] = [reschedule, configure]
