"""Review 11d: the v2 money walk of test_review11_properties, widened to where reservations
and financing recovery meet other money: fx exchanges at the bank's quotes, a second
settlement member of the bank's organisation (a teller) paying instructions named to the
organisation, and sellers reserving money for a withdrawal while a financed order settles.
Checked after every step, besides conservation and single payment:

* a withdrawal reservation is moved only by ``payments`` withdrawal paths (instruct, pay
  out, return the rest, cancel): no exchange, transfer or financing recovery touches it;
* a teller pays only instructions named to its organisation, never another bank's;
* a lien is settled once, and what the financier received in that transaction from the
  escrow and from the seller's balance is exactly what the lien reports (repaid, recovered);
* the ``balances`` and ``withdrawals`` tables show what the state holds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyledger.ledger.crypto import generate

from .conftest import DAY
from .test_money_properties import ACTIONS, AMOUNTS, CCYS, start_sim
from .test_review11_properties import WITHDRAWALS, SimV2

RATES = (1, 10**9, 9 * 10**8, 1_100_000_000, 10**15)
MORE = ("quote", "exchange", "exchange", "teller_withdraw", "reserve_seller")
STEP = st.tuples(st.sampled_from([*ACTIONS, *WITHDRAWALS, *MORE]), st.integers(0, 9),
                 st.integers(0, 11), st.integers(0, 20), st.integers(0, 5))
_RESERVATION_MOVES = {"withdrawal instruction", "withdrawal", "withdrawal remainder",
                      "withdrawal cancelled"}


class SimFx(SimV2):
    def __init__(self) -> None:
        super().__init__()
        w = self.w
        bank_org = w.get(f"identity/p/{self.bank}")["org"]
        self.teller = w.ok(w.admin, "identity", "register_member", {
            "org": bank_org, "public_key": generate("ed25519").public.b64, "name": "teller",
            "roles": ["settlement"]})["did"]
        self.bank_org = bank_org
        self.everyone.append(self.teller)
        for ccy in CCYS:  # the dealer's float
            w.ok(self.bank, "payments", "deposit",
                 {"account": self.bank, "currency": ccy, "amount": 10**6})
            self.supply[ccy] += 10**6
        self.seen_fx = len(w.events)
        self.liens_settled: Counter[str] = Counter()

    def step(self, action: str, pick: int, i: int, a: int, b: int) -> dict[str, Any] | None:
        start = len(self.w.events)
        if action in MORE:
            r: dict[str, Any] | None = self._more(action, pick, i, a, b)
        else:
            r = super().step(action, pick, i, a, b)
        self._check_step(self.w.events[start:])
        return r

    def _more(self, action: str, pick: int, i: int, a: int, b: int) -> dict[str, Any] | None:
        w = self.w
        pay, get = CCYS[b % 2], CCYS[1 - b % 2]
        if action == "quote":
            return w.call(self.who(self.bank, pick), "fx", "quote", {
                "pay": pay, "get": get, "rate": RATES[a % len(RATES)],
                "until": w.time + (1 + i) * DAY // 4})
        if action == "exchange":
            return w.call(self.everyone[(pick + i) % len(self.everyone)], "fx", "exchange", {
                "dealer": self.bank, "pay": pay, "amount": AMOUNTS[a % len(AMOUNTS)],
                "get": get, "min_get": 1})
        if action == "teller_withdraw":
            ids = list(self.instructions)
            iid = ids[i % len(ids)] if ids else "none"
            r = w.call(self.teller, "payments", "withdraw", {"instruction": iid})
            if r["ok"]:
                assert self.instructions[iid]["bank"] == self.bank_org, (iid, r)
                self.supply[self.instructions[iid]["currency"]] -= r["result"]["amount"]
            return r
        # reserve_seller: a seller parks what it holds in a withdrawal, then its order goes
        # on; recovery must leave the reservation alone.
        seller = self.sellers[i % 2]
        have = w.balance(seller, CCYS[b % 2])
        if have == 0:
            return None
        args: dict[str, Any] = {"id": f"r{w.height}", "currency": CCYS[b % 2],
                                "amount": max(1, have * (1 + a % 3) // 3),
                                "bank": self.bank}
        r = w.call(seller, "payments", "instruct_withdrawal", args)
        assert r["ok"], r
        self.instructions[args["id"]] = {**args, "account": seller}
        return r

    def _check_step(self, events: list[Any]) -> None:
        w = self.w
        to_financier = Counter[str]()
        for etype, e in events:
            for side in ("src", "dst"):
                if etype.endswith(".money") and e[side].startswith("escrow:withdrawal:"):
                    assert etype == "payments.money" and e["why"] in _RESERVATION_MOVES, e
            if etype == "orders.money" and e["why"] in ("financing repayment",
                                                         "financing recovery"):
                to_financier[e["why"]] += e["amount"]
        settled = [e for etype, e in events if etype == "orders.lien_settled"]
        assert len(settled) <= 1, settled
        for e in settled:
            self.liens_settled[e["order"]] += 1
            assert self.liens_settled[e["order"]] == 1, e
            assert e["recovered"] == to_financier["financing recovery"], (e, to_financier)
            assert e["repaid"] == sum(to_financier.values()), (e, to_financier)
            lien = w.get(f"credit/f/{e['order']}")
            assert e["repaid"] <= lien["repay"], (e, lien)
        if not settled:
            assert not to_financier, to_financier

    def check(self) -> None:
        super().check()
        w = self.w
        shown = w.tables.get("balances", {})
        for k in w.store:
            if k.startswith("payments/b/"):
                acct, ccy = k.removeprefix("payments/b/").rsplit("/", 1)
                assert shown[(acct, ccy)]["balance"] == w.get(k), k
            elif k.startswith("payments/x/"):
                x = w.get(k)
                acct = "escrow:" + k.removeprefix("payments/x/")
                assert shown[(acct, x["ccy"])]["balance"] == x["amount"], k
        for iid in self.instructions:
            ins, row = w.get(f"payments/w/{iid}"), w.tables["withdrawals"][(iid,)]
            assert (row["state"], row["paid"]) == (ins["state"], ins["paid"]), (ins, row)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=40, max_size=120))
def test_reservations_and_recovery_keep_to_their_own_money(steps: list[Any]) -> None:
    sim = start_sim(SimFx)
    for step in steps:
        sim.step(*step)
        sim.check()


def test_scripted_walk_reserves_exchanges_and_recovers() -> None:
    """Guards the random test's reach: a quote and an exchange, an instruction named to the
    bank's organisation paid by its teller (one named to the bank refused to it), a financed
    order whose seller reserved part of the advance before the buyer cancelled: recovery
    takes the rest of the seller's balance and leaves the reservation whole."""
    sim = start_sim(SimFx)  # o0 (EUR batch, buyer 0), o1 (USD batch, buyer 1), o2 (EUR product)
    b0 = sim.everyone.index(sim.buyers[0])
    script = [("quote", 0, 3, 1, 0), ("exchange", b0, 0, 4, 0),  # 1_000 EUR -> USD at 1:1
              ("instruct", 0, b0, 3, 0), ("teller_withdraw", 0, 0, 0, 0),  # bank: refused
              ("instruct", 0, b0, 4, 0), ("teller_withdraw", 0, 1, 0, 0),  # org: paid
              ("advance", 0, 2, 3, 4), ("advance", 0, 2, 3, 5),  # finance o2 (250)
              ("reserve_seller", 0, 0, 0, 0),  # a third of the advance reserved
              ("cancel", 0, 2, 0, 0)]  # by the buyer
    codes = []
    for step in script:
        r = sim.step(*step)
        assert r is not None, step
        codes.append(r["ok"] or r["error"]["code"])
        sim.check()
    assert codes == [True, True, True, "forbidden", True, True, True, True, True, True]
    w = sim.w
    lien = w.get("credit/f/o2")
    reserved = sim.instructions[next(reversed(sim.instructions))]
    assert reserved["account"] == sim.sellers[0]
    assert (lien["amount"], lien["repay"], reserved["amount"]) == (250, 250, 83)
    assert lien["state"] == "short" and lien["recovered"] == 167
    assert w.get(f"payments/x/withdrawal:{reserved['id']}")["amount"] == reserved["amount"]
    assert w.balance(sim.sellers[0]) == 0
