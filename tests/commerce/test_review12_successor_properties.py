"""Review 12: the money walk of test_review11d_properties under payments rules v3, with
revocations, admins' cancellations of lapsed instructions and hand-overs of revoked
participants' balances mixed in. A revoked participant signs nothing more (its calls are
refused at admission, as a node refuses them) while orders still refund or pay it. Checked
after every step, besides everything the walks before check (conservation per currency,
single payment, reservations moved only by withdrawal paths, the ``balances`` and
``withdrawals`` tables):

* a hand-over succeeds exactly when the account is a revoked participant's, the successor
  an active account of its organisation other than itself, no instruction of the account
  is open and it holds something; otherwise it fails with the code the cause calls for;
* it moves all of the account's balance in the currencies asked, to that successor only;
* ``payments/o/<account>`` lists exactly the participant's open instructions.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyledger.ledger.crypto import generate

from .conftest import World
from .test_money_properties import ACTIONS, CCYS, start_sim
from .test_review11_properties import WITHDRAWALS
from .test_review11d_properties import MORE, SimFx

SUCCESSION = ("revoke", "hand_over", "hand_over", "hand_over", "admin_cancel")
STEP = st.tuples(st.sampled_from([*ACTIONS, *WITHDRAWALS, *MORE, *SUCCESSION]),
                 st.integers(0, 9), st.integers(0, 11), st.integers(0, 20),
                 st.integers(0, 5))
MAX_REVOKED = 3


class AdmittingWorld(World):
    """Refuses a revoked signer's call before execution, as the node's admission does (the
    plain World asserts that no call is refused there)."""

    def call(self, signer: str, contract: str, method: str, args: dict[str, Any], *,
             time: int | None = None) -> dict[str, Any]:
        if (self.get(f"identity/p/{signer}") or {}).get("status") == "revoked":
            return {"ok": False, "error": {"code": "revoked_key", "message": signer}}
        return super().call(signer, contract, method, args, time=time)


class SimSuccession(SimFx):
    def __init__(self) -> None:
        super().__init__()
        self.w.__class__ = AdmittingWorld  # no fields of its own: the walk's World, admitting
        self.w.ok(self.w.admin, "rules", "adopt", {"contract": "payments", "version": 3})
        self.revoked: list[str] = []
        self.heir: dict[str, str] = {}
        self.handed = 0

    def step(self, action: str, pick: int, i: int, a: int, b: int) -> dict[str, Any] | None:
        if action == "reserve_seller" and self.sellers[i % 2] in self.revoked:
            return None  # SimFx asserts that a seller's reservation succeeds
        if action not in SUCCESSION:
            return super().step(action, pick, i, a, b)
        start = len(self.w.events)
        r = self._succession(action, pick, i, a, b)
        self._check_step(self.w.events[start:])
        return r

    def _succession(self, action: str, pick: int, i: int, a: int,
                    b: int) -> dict[str, Any] | None:
        w = self.w
        if action == "revoke":
            live = [p for p in self.everyone
                    if p not in (self.bank, self.teller) and p not in self.revoked]
            if len(self.revoked) >= MAX_REVOKED or not live:
                return None
            victim = live[i % len(live)]
            ccy = CCYS[b % 2]
            if a % 2 and w.balance(victim, ccy):  # a standing order, lapsing with its key
                args = {"id": f"s{w.height}", "currency": ccy, "bank": self.bank,
                        "amount": max(1, w.balance(victim, ccy) // 2)}
                assert w.call(victim, "payments", "instruct_withdrawal", args)["ok"]
                self.instructions[args["id"]] = {**args, "account": victim}
            r = w.call(w.admin, "identity", "revoke", {"did": victim, "reason": "key lost"})
            assert r["ok"], r
            self.revoked.append(victim)
            p = w.get(f"identity/p/{victim}")
            self.heir[victim] = w.ok(w.admin, "identity", "register_member", {
                "org": p["org"], "public_key": generate("ed25519").public.b64,
                "name": "heir", "roles": p["roles"]})["did"]
            self.everyone.append(self.heir[victim])
            return r
        if action == "admin_cancel":  # mostly one of a revoked account's, else any
            lapsed = [iid for r in self.revoked for iid in self._open(r)]
            ids = lapsed if lapsed and pick < 7 else list(self.instructions)
            iid = ids[i % len(ids)] if ids else "none"
            return w.call(w.admin, "payments", "cancel_withdrawal", {"instruction": iid})
        if not self.revoked:
            return None
        account = (self.revoked[i % len(self.revoked)] if pick < 8
                   else self.everyone[i % len(self.everyone)])
        org = w.get(f"identity/p/{account}")["org"]
        to = (f"org:{org}", self.heir.get(account, account), f"org:{self.bank_org}",
              self.revoked[(i + 1) % len(self.revoked)], account,
              self.heir.get(account, self.bank))[b % 6]
        ccys = ([], ["EUR"], ["USD"])[a % 3]
        args = {"account": account, "to": to, "reason": "successor",
                **({"currency": ccys[0]} if ccys else {})}
        before = {(acct, c): w.balance(acct, c) for acct in (account, to) for c in CCYS}
        expected = self._refusal(account, to, ccys or CCYS)
        r = w.call(w.admin, "payments", "hand_over_balance", args)
        assert (r["ok"] or r["error"]["code"]) == (expected or True), (args, expected, r)
        if r["ok"]:
            self.handed += 1
            moved = {c: before[(account, c)] for c in ccys or CCYS if before[(account, c)]}
            assert r["result"]["handed_over"] == moved, (r, before)
            for c in CCYS:
                assert w.balance(account, c) == (0 if c in moved else before[(account, c)])
                assert w.balance(to, c) == before[(to, c)] + moved.get(c, 0)
        return r

    def _refusal(self, account: str, to: str, ccys: list[str]) -> str | None:
        """The error code the hand-over must fail with, or None where it must succeed."""
        w = self.w
        holder = w.get(f"identity/p/{account}")
        if holder["status"] != "revoked":
            return "invalid_state"
        if to == account:
            return "validation_error"
        who = w.get(f"identity/o/{to[4:]}" if to.startswith("org:") else f"identity/p/{to}")
        if who["status"] != "active":
            return "invalid_state"
        if (to[4:] if to.startswith("org:") else who["org"]) != holder["org"]:
            return "forbidden"
        if self._open(account):
            return "invalid_state"
        if not any(w.balance(account, c) for c in ccys):
            return "invalid_state"
        return None

    def _open(self, account: str) -> list[str]:
        # The ledger's record says whose: SimV2 notes the holder it meant, while a wrong
        # signer's instruction (no ``account``) is from the signer's own account.
        ins = (self.w.get(f"payments/w/{iid}") for iid in self.instructions)
        return sorted(i["id"] for i in ins if i["account"] == account and i["state"] == "open")

    def _check_step(self, events: list[Any]) -> None:
        super()._check_step(events)
        for etype, e in events:
            if etype.endswith(".money") and e["why"] == "hand-over":
                assert etype == "payments.money" and e["src"] in self.revoked, e
                org = self.w.get(f"identity/p/{e['src']}")["org"]
                dst = e["dst"]
                assert dst == f"org:{org}" or (
                    self.w.get(f"identity/p/{dst}")["org"] == org and dst not in self.revoked)

    def check(self) -> None:
        super().check()
        w = self.w
        indexed = {k.removeprefix("payments/o/"): w.get(k) for k in w.store
                   if k.startswith("payments/o/")}
        accounts = {w.get(f"payments/w/{iid}")["account"] for iid in self.instructions}
        assert indexed == {acct: ids for acct in accounts if (ids := self._open(acct))
                           and not acct.startswith("org:")}, indexed


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(STEP, min_size=40, max_size=120))
def test_revoked_money_is_handed_over_whole_and_stays_in_its_organisation(
        steps: list[Any]) -> None:
    sim = start_sim(SimSuccession)
    for step in steps:
        sim.step(*step)
        sim.check()


def test_scripted_walk_revokes_cancels_and_hands_over() -> None:
    """Guards the random test's reach: a buyer instructs, is revoked (its next instruction
    refused at admission), a hand-over is refused while the lapsed instruction is open,
    the admin cancels it, the money goes to the heir, who instructs a withdrawal the bank
    pays; a refund of the buyer's open order then reaches the revoked account and is
    handed over in its turn."""
    sim = start_sim(SimSuccession)  # o0 (EUR batch, buyer 0), o1 (USD batch, buyer 1), ...
    w, b0 = sim.w, sim.everyone.index(sim.buyers[0])
    script: list[tuple[str, int, int, int, int]] = [
        ("instruct", 0, b0, 4, 0),  # buyer 0 reserves 1_000 EUR
        ("revoke", 0, b0, 0, 0),
        ("instruct", 0, b0, 4, 0),  # refused at admission
        ("hand_over", 0, 0, 0, 1),  # to the heir: refused, the instruction is open
        ("admin_cancel", 0, 0, 0, 0),
        ("hand_over", 0, 0, 0, 2),  # to another organisation's account: forbidden
        ("hand_over", 0, 0, 0, 1),  # to the heir, every currency
        ("cancel", 0, 0, 0, 1),  # o0 cancelled by its seller: refund to the revoked buyer
        ("hand_over", 0, 0, 0, 0),  # to the buyer's organisation's account
    ]
    codes = []
    for step in script:
        r = sim.step(*step)
        assert r is not None, step
        codes.append(r["ok"] or r["error"]["code"])
        sim.check()
    assert codes == [True, True, "revoked_key", "invalid_state", True, "forbidden", True,
                     True, True]
    heir = sim.heir[sim.buyers[0]]
    assert w.balance(sim.buyers[0]) == w.balance(sim.buyers[0], "USD") == 0
    assert w.balance(heir) > 0 and w.balance(heir, "USD") == 10**6
    sim.instructions["h1"] = {"account": heir, "amount": 1_000, "currency": "EUR"}
    w.ok(heir, "payments", "instruct_withdrawal",
         {"id": "h1", "currency": "EUR", "amount": 1_000, "bank": sim.bank})
    sim.step("withdraw", 0, len(sim.instructions) - 1, 0, 0)
    sim.check()
    assert w.get("payments/w/h1")["state"] == "paid"
    assert sim.handed == 2
