"""Review 11: the random walk of test_money_properties under orders, payments and fx rules
v2, with the v2 promises checked after every step as well as conservation and single
payment: no dispute or return of a delivered order from its release time on, no release
before it (fixed at delivery), and freight paid only to a transporter that picked up.
Withdrawals go through holders' instructions (instruct, pay out, cancel, by right and wrong
signers): money leaves only from an instruction's reservation, at most what was instructed
and once, an open instruction's reservation holds exactly its amount and a closed one
nothing; a financing lien closes short only once the seller's balance is exhausted."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_money_properties import ACTIONS, AMOUNTS, CCYS, Sim, start_sim
from .test_review11_orders import adopt

# v2 withdrawals: "withdraw" pays out an instruction; the holder instructs and cancels.
WITHDRAWALS = ("instruct", "instruct", "withdraw", "cancel_withdrawal")
STEP = st.tuples(st.sampled_from([*ACTIONS, *WITHDRAWALS]), st.integers(0, 9),
                 st.integers(0, 11), st.integers(0, 20), st.integers(0, 5))


class SimV2(Sim):
    def __init__(self) -> None:
        super().__init__()
        adopt(self.w, "orders", "payments", "fx")
        self.picked_up: set[str] = set()
        self.seen_v2 = len(self.w.events)
        self.instructions: dict[str, dict[str, Any]] = {}
        self.paid_out_of: Counter[str] = Counter()

    def step(self, action: str, pick: int, i: int, a: int, b: int) -> dict[str, Any] | None:
        w = self.w
        before = {oid: w.order(oid) for oid in self.orders}
        if action in WITHDRAWALS:
            r: dict[str, Any] | None = self._withdrawal(action, pick, i, a, b)
        else:
            r = super().step(action, pick, i, a, b)
        for etype, e in w.events[self.seen_v2:]:
            if etype == "orders.picked_up":
                self.picked_up.add(e["order"])
            if etype == "orders.money" and e["why"] == "freight":
                assert e["src"].removeprefix("escrow:orders:") in self.picked_up, e
            if etype in ("orders.disputed", "orders.return_requested", "orders.released"):
                o = before[e["order"]]
                if o["state"] == "delivered":
                    assert o["release_at"] == o["delivered_at"] + 7 * 86_400_000, o
                    late = w.time >= o["release_at"]
                    assert late == (etype == "orders.released"), (etype, w.time, o)
            if etype.endswith(".money") and e["dst"] == "external":
                # v2: money leaves only from a reservation, once, at most as instructed.
                assert e["src"].startswith("escrow:withdrawal:"), e
                iid = e["src"].removeprefix("escrow:withdrawal:")
                self.paid_out_of[iid] += 1
                assert self.paid_out_of[iid] == 1, e
                assert e["amount"] <= self.instructions[iid]["amount"], e
            if etype == "orders.lien_settled":
                lien = w.get(f"credit/f/{e['order']}")
                assert "recovered" in e and e["repaid"] >= e["recovered"], e
                if e["state"] == "short":
                    assert w.balance(lien["seller"], lien["currency"]) == 0, (e, lien)
        self.seen_v2 = len(w.events)
        return r

    def _withdrawal(self, action: str, pick: int, i: int, a: int, b: int) -> dict[str, Any]:
        w, ids = self.w, list(self.instructions)
        if action == "instruct":
            holder = self.everyone[i % len(self.everyone)]
            bank = self.bank if a % 2 else w.get(f"identity/p/{self.bank}")["org"]
            args = {"id": f"w{w.height}", "currency": CCYS[b % 2],
                    "amount": AMOUNTS[a % len(AMOUNTS)], "bank": bank}
            r = w.call(self.who(holder, pick), "payments", "instruct_withdrawal", args)
            if r["ok"]:
                self.instructions[args["id"]] = {**args, "account": holder}
            return r
        iid = ids[i % len(ids)] if ids else "none"
        holder = self.instructions.get(iid, {}).get("account")
        if action == "cancel_withdrawal":
            return w.call(self.who(holder, pick), "payments", "cancel_withdrawal",
                          {"instruction": iid})
        part = {} if a % 3 == 0 else {"amount": AMOUNTS[a % len(AMOUNTS)]}
        r = w.call(self.who(self.bank, pick), "payments", "withdraw",
                   {"instruction": iid, **part})
        if r["ok"]:
            self.supply[self.instructions[iid]["currency"]] -= r["result"]["amount"]
        return r

    def check(self) -> None:
        super().check()
        for iid, ins in self.instructions.items():
            state = self.w.get(f"payments/w/{iid}")["state"]
            held = self.w.get(f"payments/x/withdrawal:{iid}")["amount"]
            assert held == (ins["amount"] if state == "open" else 0), (iid, state, held)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=40, max_size=120))
def test_v2_money_is_conserved_and_the_dispute_period_is_kept(steps: list[Any]) -> None:
    sim = start_sim(SimV2)
    for step in steps:
        sim.step(*step)
        sim.check()


def test_v2_scripted_walk_reaches_every_settlement() -> None:
    sim = start_sim(SimV2)  # o0 (EUR batch, buyer 0), o1 (USD batch, buyer 1), o2 (EUR product)
    script = [("dispatch", 0, 0, 1, 0), ("pickup", 0, 0, 0, 0), ("deliver", 0, 0, 0, 0),
              ("wait", 0, 0, 6, 0), ("release", 0, 0, 0, 0),
              ("cancel", 0, 1, 0, 1),
              ("dispatch", 0, 2, 1, 0), ("dispute", 0, 2, 0, 0), ("resolve", 0, 2, 2, 0),
              ("place", 0, 2, 1, 0), ("dispatch", 0, 3, 1, 0), ("pickup", 0, 3, 0, 0),
              ("deliver", 0, 3, 0, 0), ("return", 0, 3, 0, 0), ("receive_return", 0, 3, 0, 0)]
    for step in script:
        r = sim.step(*step)
        assert step[0] == "wait" or (r is not None and r["ok"]), (step, r)
        sim.check()
    assert [sim.w.order(o)["state"] for o in sim.orders] == [
        "completed", "cancelled", "resolved", "returned"]


def test_v2_scripted_walk_withdraws_on_instructions_and_repays_financiers() -> None:
    """Guards the random test's reach: an instruction paid in part, one cancelled, a bank's
    payment without one refused, and a financed order cancelled by its buyer, the seller's
    balance (the advance) repaying the financier; the same checks after every step."""
    sim = start_sim(SimV2)  # o0 (EUR batch, buyer 0), o1 (USD batch, buyer 1), o2 (EUR product)
    b0 = sim.everyone.index(sim.buyers[0])
    script = [("instruct", 0, b0, 5, 0), ("withdraw", 0, 0, 4, 0),  # 1_000 of 40_000
              ("instruct", 0, b0, 4, 0), ("cancel_withdrawal", 0, 1, 0, 0),
              ("advance", 0, 0, 0, 4), ("advance", 0, 0, 0, 5),  # finance o0, approve
              ("cancel", 0, 0, 0, 0)]  # by the buyer
    for step in script:
        r = sim.step(*step)
        assert r is not None and r["ok"], (step, r)
        sim.check()
    w = sim.w
    assert [w.get(f"payments/w/{i}")["state"] for i in sim.instructions] == [
        "paid", "cancelled"]
    lien = w.get("credit/f/o0")
    assert lien["state"] == "repaid" and lien["recovered"] == lien["repay"] > 0
    bare = w.call(sim.bank, "payments", "withdraw",
                  {"account": sim.buyers[0], "currency": "EUR", "amount": 1})
    assert bare["error"]["code"] == "forbidden"
