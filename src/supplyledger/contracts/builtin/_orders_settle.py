"""Paying out an order's escrow: the one way money leaves it (release, cancel, return,
arbiter's ruling), so every path shares the same checks."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._credit_model import lien_key, settle_lien
from supplyledger.contracts.builtin._orders_goods import unlock
from supplyledger.contracts.builtin._orders_model import escrow_id
from supplyledger.contracts.builtin.payments import escrow, pay_out
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import InvalidState

__all__ = ["financed_by", "settle"]


def financed_by(ctx: Ctx, o: dict[str, Any]) -> str | None:
    """The financier of an approved advance against order ``o``'s escrow, or None. While
    there is one the escrow is its collateral, so the seller may not cancel the order, and
    it is repaid first from the seller's share, so it is party to an arbiter's ruling."""
    lien = ctx.read("credit", lien_key(o["id"]))
    return str(lien["financier"]) if lien is not None and lien["state"] == "approved" else None


def settle(ctx: Ctx, o: dict[str, Any], *, seller: int, buyer: int, transporter: int) -> (
        dict[str, int]):
    """Empty the escrow into the given shares, which must add up to exactly what it holds
    (so nothing is paid twice and nothing stays behind). The seller's share first repays an
    approved financing of the order. Releases the order's lock on its batch."""
    eid = escrow_id(o["id"])
    x = escrow(ctx, eid)
    held = 0 if x is None else x["amount"]
    if min(seller, buyer, transporter) < 0 or seller + buyer + transporter != held:
        raise InvalidState(f"order {o['id']}'s escrow holds {held}, shares are seller "
                           f"{seller}, buyer {buyer}, transporter {transporter}",
                           current=o["state"])
    financier = settle_lien(ctx, o, seller)
    pay_out(ctx, eid, o["seller"], seller - financier, "sale")
    pay_out(ctx, eid, o["buyer"], buyer, "refund")
    if transporter:
        pay_out(ctx, eid, o["transporter"], transporter, "freight")
    unlock(ctx, o["batch"], o["id"])
    return {"seller": seller - financier, "financier": financier, "buyer": buyer,
            "transporter": transporter}
