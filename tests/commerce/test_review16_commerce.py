"""Review 16, commerce as its users: a buyer revoked after it paid (``identity.revoke``,
which a participant may sign for itself) no longer strands its order's escrow. Under orders
rules v1/v2 title passed only to an active participant, so once the dispute period was over
nobody could release the escrow (``not_found``) nor dispute the order; rules v3 pass title to
the buyer as recorded. Goods are still never handed to a revoked buyer, and the refusal
names the order, its state and who may act. On a real node: a new ledger runs v3, every
refusal of the walk changes nothing, money is conserved and the ledger audits clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.errors import (
    AmountError,
    InsufficientFunds,
    InvalidState,
    RevokedKey,
    SupplyLedgerError,
    ValidationError,
)
from supplyledger.node.audit import run_audit

from .conftest import DAY, T0, Cast, World

TOTAL = 10 * 1000 + 500  # the Cast's usual order: 10 x 1000 + freight 500


def _ledger(w: World, orders: int) -> None:
    for contract, version in (("orders", orders), ("payments", 2)):
        w.ok(w.admin, "rules", "adopt", {"contract": contract, "version": version})


def _delivered_then_revoked(cast: Cast, orders: int) -> str:
    w = cast.w
    _ledger(w, orders)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    cast.to_delivered("o-1", batch)
    w.ok(cast.buyer, "identity", "revoke", {"did": cast.buyer, "reason": "left the firm"})
    w.time += 8 * DAY  # the dispute period is over: only a release can pay out
    return batch


def test_v2_strands_the_escrow_of_a_revoked_buyer_and_still_re_executes_so(
        cast: Cast) -> None:
    w = cast.w
    _delivered_then_revoked(cast, 2)
    err = w.fail("not_found", cast.carrier, "orders", "release", {"order": "o-1"})
    assert "no active participant" in err["message"]
    w.fail("invalid_state", cast.seller, "orders", "dispute", {"order": "o-1", "reason": "x"})
    assert w.escrow("o-1") == TOTAL  # held, and under v2 for good


def test_v3_releases_to_the_seller_and_gives_title_to_the_revoked_buyer(cast: Cast) -> None:
    w = cast.w
    batch = _delivered_then_revoked(cast, 3)
    before = w.money_in_ledger("EUR")
    res = w.ok(cast.carrier, "orders", "release", {"order": "o-1"})
    assert res["state"] == "completed"
    assert res["paid"] == {"seller": 10_000, "financier": 0, "buyer": 0, "transporter": 500}
    assert w.escrow("o-1") == 0 and w.money_in_ledger("EUR") == before == 50_000
    assert (w.balance(cast.seller), w.balance(cast.carrier)) == (10_000, 500)
    h = w.holding(batch)
    buyer_org = w.get(f"identity/p/{cast.buyer}")["org"]
    assert (h["owner"], h["owner_org"]) == (cast.buyer, buyer_org)
    assert w.tables["custody_holdings"][(batch,)]["owner"] == cast.buyer
    # paid once: a second release finds the order completed
    err = w.fail("invalid_state", cast.carrier, "orders", "release", {"order": "o-1"})
    assert err["details"]["current"] == "completed" and "o-1" in err["message"]


def test_v3_a_ruling_may_give_title_to_a_buyer_revoked_during_the_dispute(
        cast: Cast) -> None:
    w = cast.w
    _ledger(w, 3)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    cast.to_delivered("o-1", batch)
    w.ok(cast.seller, "orders", "dispute", {"order": "o-1", "reason": "unpaid"})
    w.ok(w.admin, "identity", "revoke", {"did": cast.buyer, "reason": "key stolen"})
    res = w.ok(cast.arbiter, "orders", "resolve", {
        "order": "o-1", "refund": 2_000, "freight_paid": 500, "at_fault": "none",
        "ownership": "buyer"})
    assert res["paid"] == {"seller": 8_000, "financier": 0, "buyer": 2_000,
                           "transporter": 500}
    assert w.holding(batch)["owner"] == cast.buyer
    assert w.money_in_ledger("EUR") == 50_000


def test_v3_never_hands_goods_to_a_revoked_buyer_and_says_who_may_act(cast: Cast) -> None:
    w = cast.w
    _ledger(w, 3)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    assert cast.place("o-1", batch)["ok"]
    w.ok(cast.seller, "orders", "dispatch",
         {"order": "o-1", "transporter": cast.carrier, "transport_no": "TN-1"})
    w.ok(cast.carrier, "orders", "pickup", {"order": "o-1"})
    w.ok(w.admin, "identity", "revoke", {"did": cast.buyer, "reason": "left"})
    err = w.fail("not_found", cast.carrier, "orders", "deliver", {"order": "o-1"})
    assert "order o-1, in_transit" in err["message"] and "dispute" in err["message"]
    assert err["details"] == {"current": "in_transit", "to": cast.buyer}
    # the transporter disputes; the arbiter refunds the revoked buyer (money stays on the
    # ledger, for its organisation: payments.hand_over_balance)
    w.ok(cast.carrier, "orders", "dispute", {"order": "o-1", "reason": "buyer gone"})
    w.ok(cast.arbiter, "orders", "resolve", {"order": "o-1", "refund": 10_000,
                                             "freight_paid": 500, "at_fault": "buyer",
                                             "ownership": "seller"})
    assert w.balance(cast.buyer) == 50_000 - 500 and w.balance(cast.carrier) == 500
    assert w.holding(batch)["owner"] == cast.seller
    assert w.money_in_ledger("EUR") == 50_000


# -- on a real node ---------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def _refused(c: Consortium, who: Party, method: str, args: dict[str, Any],
             kind: type[SupplyLedgerError], contract: str = "orders") -> SupplyLedgerError:
    """Call, expecting ``kind``; the balances and orders tables must not change."""
    def snap() -> tuple[list[Any], list[Any]]:
        return (c.rows("SELECT account, currency, balance FROM balances ORDER BY 1, 2"),
                c.rows("SELECT id, state, delivered, tx FROM orders ORDER BY id"))

    before = snap()
    with pytest.raises(kind) as exc:
        c.ok(who, contract, method, args)
    assert snap() == before
    return exc.value


def test_a_walk_on_a_node_refuses_cleanly_and_pays_the_seller_of_a_revoked_buyer(
        tmp_path: Path) -> None:
    clock = _Clock()
    with Consortium(tmp_path / "ledger", chain="commerce", clock=clock) as c:
        roles = {"bank": "settlement", "people": "customer", "maker": "manufacturer",
                 "trucks": "transporter"}
        for org, role in roles.items():
            c.org(org, [role])
            c.member(org, org, [role])
        bank, buyer, maker, truck = (c.parties[n] for n in roles)
        c.ok(maker, "products", "create_product", {"gtin": "4006381333931", "name": "oil"})
        lot = c.ok(maker, "products", "create_batch", {"gtin": "4006381333931",
                                                       "lot": "L1"})["batch"]
        c.ok(maker, "products", "declare_for_sale", {"id": lot})
        c.ok(bank, "payments", "deposit", {"account": buyer.did, "currency": "EUR",
                                           "amount": 20_000})
        order = {"id": "n-1", "seller": maker.did, "batch": lot, "quantity": 4,
                 "unit_price": 2_500, "freight": 700, "currency": "EUR",
                 "earliest": clock.t, "latest": clock.t + 3 * DAY}
        for bad, kind in (({"unit_price": 0}, AmountError), ({"freight": -1}, AmountError),
                          ({"unit_price": 10**15 + 1}, AmountError),
                          ({"unit_price": 10**15 // 4}, AmountError),  # total past the bound
                          ({"currency": "EUX"}, ValidationError),
                          ({"currency": "USD"}, InsufficientFunds),
                          ({"quantity": 9}, InsufficientFunds)):
            _refused(c, buyer, "place", {**order, **bad}, kind)
        assert c.ok(buyer, "orders", "place", order)["escrow"] == 10_700
        err = _refused(c, buyer, "confirm", {"order": "n-1"}, InvalidState)
        assert err.details == {"current": "placed", "action": "confirm"}
        assert "order n-1 is placed" in err.message
        c.ok(maker, "orders", "dispatch", {"order": "n-1", "transporter": truck.did,
                                           "transport_no": "TN-n-1"})
        _refused(c, buyer, "cancel", {"order": "n-1"}, InvalidState)
        c.ok(truck, "orders", "pickup", {"order": "n-1"})
        due = c.ok(truck, "orders", "deliver", {"order": "n-1"})["release_at"]
        _refused(c, truck, "release", {"order": "n-1"}, InvalidState)  # too early
        c.ok(buyer, "identity", "revoke", {"did": buyer.did, "reason": "gone"})
        with pytest.raises(RevokedKey):
            c.ok(buyer, "ratings", "rate", {"order": "n-1", "score": 1})
        clock.t = due
        # (a new ledger runs orders rules v3: under v2 this release failed with not_found)
        assert c.ok(truck, "orders", "release", {"order": "n-1"})["state"] == "completed"
    bal = {(a, ccy): b for a, ccy, b in c.rows("SELECT account, currency, balance "
                                               "FROM balances")}
    assert bal == {(buyer.did, "EUR"): 20_000 - 10_700, (maker.did, "EUR"): 10_000,
                   (truck.did, "EUR"): 700, ("escrow:orders:n-1", "EUR"): 0}
    assert c.rows("SELECT owner FROM custody_holdings WHERE batch = ?", lot) == [
        (buyer.did,)]
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]


# -- property: a revoked buyer never strands an escrow ---------------------------------------

STAGES = ("placed", "dispatched", "in_transit", "partial", "delivered", "return_requested")


def _to_stage(cast: Cast, stage: str, batch: str) -> None:
    w = cast.w
    assert cast.place("o-1", batch)["ok"]
    steps: list[tuple[str, str, dict[str, Any]]] = [
        (cast.seller, "dispatch", {"transporter": cast.carrier, "transport_no": "TN-1"}),
        (cast.carrier, "pickup", {}), (cast.carrier, "deliver", {"quantity": 3}),
        (cast.carrier, "deliver", {"quantity": 2, "final": True}),
        (cast.buyer, "request_return", {"reason": "wrong size"})]
    for signer, method, args in steps[:STAGES.index(stage)]:
        w.ok(signer, "orders", method, {"order": "o-1", **args})


def _settle_without_the_buyer(cast: Cast, ownership: str) -> str:
    """Empty the escrow by whoever is left (seller, transporter, arbiter); the action."""
    w = cast.w
    tries: list[tuple[str, str, dict[str, Any]]] = [
        (cast.carrier, "release", {}), (cast.seller, "cancel", {}),
        (cast.seller, "receive_return", {})]
    for signer, method, args in tries:
        if w.call(signer, "orders", method, {"order": "o-1", **args})["ok"]:
            return method
    w.ok(cast.seller, "orders", "dispute", {"order": "o-1", "reason": "buyer gone"})
    w.ok(cast.arbiter, "orders", "resolve", {"order": "o-1", "refund": 1_000,
                                             "freight_paid": 0, "at_fault": "none",
                                             "ownership": ownership})
    return "resolve"


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(STAGES), st.integers(0, 10), st.sampled_from(("buyer", "seller")))
def test_whenever_the_buyer_is_revoked_the_others_can_still_settle(
        stage: str, days: int, ownership: str) -> None:
    w = World()
    cast = Cast(w, bank=w.participant("settlement"), buyer=w.participant("customer"),
                seller=w.participant("manufacturer"), carrier=w.participant("transporter"),
                arbiter=w.participant("arbiter"), financier=w.participant("financier"),
                stranger=w.participant("customer"))
    _ledger(w, 3)
    cast.fund(cast.buyer, 50_000)
    _to_stage(cast, stage, w.batch(cast.seller, 1))
    w.ok(w.admin, "identity", "revoke", {"did": cast.buyer, "reason": "key lost"})
    w.time += days * DAY
    _settle_without_the_buyer(cast, ownership)
    assert w.escrow("o-1") == 0 and w.order("o-1")["state"] not in STAGES
    assert w.money_in_ledger("EUR") == 50_000
