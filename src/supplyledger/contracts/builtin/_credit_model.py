"""Credit assessment from ledger history, and the financing lien on an order's escrow.

The assessment (paper 000 §3.1: "financial institutions approve loan applications based on
real data") is a pure function of a participant's order statistics, in integer arithmetic
(per-mille rates, integer points), so every node computes the same score. Each factor is
reported with its evidence, its value as a decimal string, its weight and the points it
earned, so a financier (or the assessed party) can see why a score is what it is.

A factor without evidence earns nothing: credit needs history, not its absence.

A financing lien (``credit/f/{order}``) is repaid when the order's escrow pays the seller:
:func:`settle_lien` runs inside the orders contract's settlement and is the one place that
writes the credit namespace from outside it. Under orders rules v2, what the seller's share
of the escrow leaves unpaid (a cancellation pays it nothing) is then debited from the
seller's balance, as far as it goes (``financing recovery``): the seller still holds the
advance. Only what even that leaves unpaid closes the lien ``short``.
"""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._orders_model import bump, escrow_id
from supplyledger.contracts.builtin.payments import balance, pay_out, transfer_between
from supplyledger.contracts.projection import EventMeta, Op, Update
from supplyledger.contracts.runtime import Ctx

__all__ = ["WEIGHTS", "assess", "grade", "lien_key", "per_mille", "project_lien",
           "settle_lien"]

# Points per factor; they sum to 1000, the best possible score.
WEIGHTS = {"on_time_delivery": 400, "disputes_lost": 250, "payment_delays": 200, "volume": 150}
VOLUME_SATURATION = 100  # settled orders at which the volume factor is full
GRADES = ((800, "A"), (600, "B"), (400, "C"), (0, "D"))


def lien_key(order_id: str) -> str:
    return f"f/{order_id}"


def per_mille(num: int, den: int) -> int:
    return 0 if den <= 0 else min(1000, num * 1000 // den)


def _dec(pm: int) -> str:
    """Per-mille as a decimal string: 950 -> "0.950" (no floats on the ledger)."""
    return f"{pm // 1000}.{pm % 1000:03d}"


def grade(score: int) -> str:
    return next(g for floor, g in GRADES if score >= floor)


def assess(st: dict[str, Any]) -> dict[str, Any]:
    """Score a participant's statistics (``orders/st/{did}``); see the module docstring."""
    g = st.get
    deliveries = g("deliveries", 0) + g("hauls", 0)
    on_time = g("on_time", 0) + g("hauls_on_time", 0)
    settled = g("sales", 0) + g("purchases", 0) + g("hauled", 0)
    disputes, lost = g("disputes", 0), g("lost", 0)
    payments = g("purchases", 0) + g("fin", 0)
    delays = g("lapsed", 0) + g("fin_short", 0)
    involved = settled + disputes
    rows = [
        ("on_time_delivery", "deliveries on time / deliveries (as seller and transporter)",
         deliveries, per_mille(on_time, deliveries), False),
        ("disputes_lost", "disputes lost / orders settled or disputed",
         involved, per_mille(lost, involved), True),
        ("payment_delays", "purchases paid only by lapse + financing repaid short / "
         "purchases and financings", payments, per_mille(delays, payments), True),
        ("volume", f"orders settled (full at {VOLUME_SATURATION})", settled,
         per_mille(settled, VOLUME_SATURATION), False),
    ]
    factors = []
    for name, meaning, evidence, pm, lower_is_better in rows:
        w = WEIGHTS[name]
        earned = 0 if evidence == 0 else w * ((1000 - pm) if lower_is_better else pm) // 1000
        factors.append({"factor": name, "meaning": meaning, "evidence": evidence,
                        "value": _dec(pm), "weight": w, "points": earned})
    score = sum(f["points"] for f in factors)
    return {"score": score, "max": sum(WEIGHTS.values()), "grade": grade(score),
            "factors": factors, "volume": dict(st.get("vol", {}))}


def settle_lien(ctx: Ctx, o: dict[str, Any], proceeds: int) -> int:
    """Repay an approved financing of order ``o`` from the seller's ``proceeds`` (which the
    escrow is about to pay), and under orders rules v2 the rest from the seller's balance;
    returns what went to the financier from the escrow. Called by orders only."""
    lien = ctx.read("credit", lien_key(o["id"]))
    if lien is None or lien["state"] != "approved":
        return 0
    paid: int = min(lien["repay"], proceeds)
    pay_out(ctx, escrow_id(o["id"]), lien["financier"], paid, "financing repayment")
    recovered = {} if ctx.version < 2 else {"recovered": _recover(ctx, lien, paid)}
    repaid = paid + recovered.get("recovered", 0)
    lien["state"] = "repaid" if repaid == lien["repay"] else "short"
    lien["repaid"] = repaid
    lien.update(recovered)
    ctx.put_other("credit", lien_key(o["id"]), lien)
    ctx.emit("lien_settled", order=o["id"], state=lien["state"], repaid=repaid, **recovered)
    bump(ctx, o["seller"], fin=1, fin_short=int(repaid < lien["repay"]))
    return paid


def _recover(ctx: Ctx, lien: dict[str, Any], paid: int) -> int:
    """Rules v2: the part of the repayment the escrow did not cover, moved from the seller's
    balance to the financier as far as it goes (never failing the settlement: a buyer's
    cancellation must go through). Reserved withdrawals are beyond its reach."""
    owed = lien["repay"] - paid
    took: int = min(owed, balance(ctx, lien["seller"], lien["currency"]))
    if took:
        transfer_between(ctx, lien["seller"], lien["financier"], lien["currency"], took,
                         "financing recovery")
    return took


def project_lien(e: dict[str, Any], m: EventMeta) -> list[Op]:
    """``orders.lien_settled`` -> the financing row (the table belongs to credit)."""
    return [Update("financing", (e["order"],), (("state", e["state"]), ("repaid", e["repaid"]),
                                                ("recovered", e.get("recovered", 0)),
                                                ("settled_tx", m.tx), ("settled_at", m.time)))]
