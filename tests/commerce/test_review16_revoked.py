"""Review 16, parties revoked mid-flow: a financed order whose buyer was revoked before
dispatch can be cancelled by its seller (orders rules v3), so escrow and lien are not stuck
once its delivery window closed; a financier cannot pay an advance to a seller revoked since
its request (credit rules v2); a consortium admin hands a revoked participant's goods to a
successor within its organisation (custody rules v3). Older rules decide as they did. On a
real node a new ledger runs all three, and audits clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.errors import InvalidState
from supplyledger.ledger.crypto import generate
from supplyledger.node.audit import run_audit

from .conftest import DAY, T0, Cast, World

TOTAL = 10 * 1000 + 500  # the Cast's usual order: 10 x 1000 + freight 500


def _adopt(w: World, **versions: int) -> None:
    for contract, version in versions.items():
        w.ok(w.admin, "rules", "adopt", {"contract": contract, "version": version})


def _financed_then_revoked(cast: Cast, orders: int) -> None:
    """o-1 placed and financed (8_000 advanced, 8_200 to repay); then its buyer revokes
    itself and the delivery window closes."""
    w = cast.w
    _adopt(w, orders=orders, payments=2)
    cast.fund(cast.buyer, 50_000)
    cast.fund(cast.financier, 20_000)
    assert cast.place("o-1", w.batch(cast.seller, 1))["ok"]
    w.ok(cast.seller, "credit", "request_financing",
         {"order": "o-1", "financier": cast.financier, "amount": 8_000, "repay": 8_200})
    w.ok(cast.financier, "credit", "decide", {"order": "o-1", "approve": True})
    w.ok(cast.buyer, "identity", "revoke", {"did": cast.buyer, "reason": "left the firm"})
    w.time += 6 * DAY  # past the window: dispatch needs a rescheduling the buyer can't sign
    err = w.fail("invalid_state", cast.seller, "orders", "dispatch",
                 {"order": "o-1", "transporter": cast.carrier, "transport_no": "TN-1"})
    assert "reschedule" in err["message"]


# -- 1. orders v3: the seller cancels a financed order of a revoked buyer -------------------

def test_v2_leaves_a_financed_order_of_a_revoked_buyer_stuck(cast: Cast) -> None:
    w = cast.w
    _financed_then_revoked(cast, 2)
    err = w.fail("forbidden", cast.seller, "orders", "cancel", {"order": "o-1"})
    assert err["message"] == (f"order o-1 is financed by {cast.financier} against its "
                              "escrow: only the buyer may cancel it now")
    assert w.escrow("o-1") == TOTAL


def test_v3_the_seller_cancels_refunding_the_buyer_and_repaying_the_financier(
        cast: Cast) -> None:
    w = cast.w
    _financed_then_revoked(cast, 3)
    before = w.money_in_ledger("EUR")
    res = w.ok(cast.seller, "orders", "cancel", {"order": "o-1", "reason": "buyer gone"})
    assert res["state"] == "cancelled"
    assert res["paid"] == {"seller": 0, "financier": 0, "buyer": TOTAL, "transporter": 0}
    assert res["financing"] == {"state": "short", "repaid": 8_000, "recovered": 8_000}
    # the refund is the revoked buyer's (its organisation's: payments.hand_over_balance);
    # the seller gave back all of the advance it still held, the financier lost its fee
    assert (w.balance(cast.buyer), w.balance(cast.seller), w.balance(cast.financier)) == (
        50_000, 0, 20_000)
    assert w.escrow("o-1") == 0 and w.money_in_ledger("EUR") == before == 70_000
    assert w.get("orders/lk/" + w.order("o-1")["batch"]) is None  # the batch is free again
    assert w.tables["financing"][("o-1",)]["state"] == "short"


def test_v3_still_refuses_the_seller_while_the_buyer_is_active(cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=3, payments=2)
    cast.fund(cast.buyer, 50_000)
    cast.fund(cast.financier, 20_000)
    assert cast.place("o-1", w.batch(cast.seller, 1))["ok"]
    w.ok(cast.seller, "credit", "request_financing",
         {"order": "o-1", "financier": cast.financier, "amount": 8_000, "repay": 8_200})
    w.ok(cast.financier, "credit", "decide", {"order": "o-1", "approve": True})
    err = w.fail("forbidden", cast.seller, "orders", "cancel", {"order": "o-1"})
    assert err["details"] == {"financier": cast.financier}
    w.fail("forbidden", cast.stranger, "orders", "cancel", {"order": "o-1"})


# -- 2. credit v2: no advance to a revoked seller --------------------------------------------

def _requested_then_seller_revoked(cast: Cast, credit: int) -> None:
    w = cast.w
    _adopt(w, orders=3, payments=2)
    if credit > 1:
        _adopt(w, credit=credit)
    cast.fund(cast.buyer, 50_000)
    cast.fund(cast.financier, 20_000)
    assert cast.place("o-1", w.batch(cast.seller, 1))["ok"]
    w.ok(cast.seller, "credit", "request_financing",
         {"order": "o-1", "financier": cast.financier, "amount": 8_000, "repay": 8_200})
    w.ok(w.admin, "identity", "revoke", {"did": cast.seller, "reason": "key stolen"})


def test_credit_v1_still_pays_a_revoked_seller(cast: Cast) -> None:
    w = cast.w
    _requested_then_seller_revoked(cast, 1)
    assert w.ok(cast.financier, "credit", "decide",
                {"order": "o-1", "approve": True})["state"] == "approved"
    assert w.balance(cast.seller) == 8_000


def test_credit_v2_refuses_an_advance_to_a_revoked_seller(cast: Cast) -> None:
    w = cast.w
    _requested_then_seller_revoked(cast, 2)
    err = w.fail("invalid_state", cast.financier, "credit", "decide",
                 {"order": "o-1", "approve": True})
    assert cast.seller in err["message"] and "revoked" in err["message"]
    assert err["details"] == {"current": "revoked", "seller": cast.seller}
    # declining still closes the request; the buyer cancels with a full refund
    assert w.ok(cast.financier, "credit", "decide",
                {"order": "o-1", "approve": False})["state"] == "declined"
    assert w.ok(cast.buyer, "orders", "cancel", {"order": "o-1"})["state"] == "cancelled"
    assert (w.balance(cast.buyer), w.balance(cast.financier)) == (50_000, 20_000)


# -- 3. custody v3: an admin hands a revoked participant's goods to a successor ---------------

def _member_of(w: World, did: str, *roles: str) -> str:
    """A new member of ``did``'s organisation."""
    key = generate("ed25519")
    w.ok(w.admin, "identity", "register_member",
         {"org": w.get(f"identity/p/{did}")["org"], "public_key": key.public.b64,
          "name": f"successor {len(roles)}", "roles": list(roles)})
    return key.did


def _owned_by_revoked_buyer(cast: Cast, custody: int) -> str:
    """o-1 delivered and released (orders v3) after its buyer was revoked: the revoked
    buyer owns and holds the batch."""
    w = cast.w
    _adopt(w, orders=3, payments=2, custody=custody)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    cast.to_delivered("o-1", batch)
    w.ok(cast.buyer, "identity", "revoke", {"did": cast.buyer, "reason": "left"})
    w.time += 8 * DAY
    w.ok(cast.carrier, "orders", "release", {"order": "o-1"})
    h = w.holding(batch)
    assert (h["owner"], h["custodian"]) == (cast.buyer, cast.buyer)
    return batch


def _hand(w: World, batch: str, account: str, to: str, **kw: Any) -> dict[str, Any]:
    return {"batch": batch, "account": account, "to": to, "reason": "member left", **kw}


def test_custody_v2_has_no_hand_over(cast: Cast) -> None:
    w = cast.w
    batch = _owned_by_revoked_buyer(cast, 2)
    heir = _member_of(w, cast.buyer, "customer")
    err = w.fail("invalid_state", w.admin, "custody", "hand_over_goods",
                 _hand(w, batch, cast.buyer, heir))
    assert err["details"] == {"current": "rules v2"}


def test_custody_v3_hands_the_goods_to_a_successor_in_the_organisation(cast: Cast) -> None:
    w = cast.w
    batch = _owned_by_revoked_buyer(cast, 3)
    heir = _member_of(w, cast.buyer, "customer")
    org = w.get(f"identity/p/{cast.buyer}")["org"]
    res = w.ok(w.admin, "custody", "hand_over_goods", _hand(w, batch, cast.buyer, heir))
    assert res == {"batch": batch, "kind": "both", "owner": heir, "custodian": heir}
    h = w.holding(batch)
    assert (h["owner_org"], h["custodian_org"], h["since"]) == (org, org, w.time)
    row = w.tables["custody_holdings"][(batch,)]
    assert (row["owner"], row["custodian"]) == (heir, heir)
    assert [r["kind"] for r in w.tables["custody_history"].values()
            if r["batch"] == batch][-1] == "both"
    # the successor now hands it on itself, as any owner
    pid = w.ok(heir, "custody", "propose", {"batch": batch, "to": cast.stranger,
                                            "kind": "both"})["proposal"]
    assert w.ok(cast.stranger, "custody", "accept", {"proposal": pid})["owner"] == \
        cast.stranger


def test_custody_v3_hand_over_refusals_change_nothing(cast: Cast) -> None:
    w = cast.w
    batch = _owned_by_revoked_buyer(cast, 3)
    heir = _member_of(w, cast.buyer, "customer")
    gone = _member_of(w, cast.buyer, "customer")
    w.ok(w.admin, "identity", "revoke", {"did": gone, "reason": "left too"})
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("role_denied", cast.seller, _hand(w, batch, cast.buyer, heir), "admin"),
        ("invalid_state", w.admin, _hand(w, batch, cast.seller, heir), "is active"),
        ("forbidden", w.admin, _hand(w, batch, cast.buyer, cast.stranger),
         "not of organisation"),
        ("invalid_state", w.admin, _hand(w, batch, cast.buyer, gone), "is revoked"),
        ("not_found", w.admin, _hand(w, batch, cast.buyer, "did:sl:nobody"), "no participant"),
        ("validation_error", w.admin, _hand(w, batch, cast.buyer, cast.buyer), "itself"),
        ("validation_error", w.admin, _hand(w, batch, cast.buyer, heir, reason="   "),
         "whitespace"),
        ("not_found", w.admin, _hand(w, "urn:nope", cast.buyer, heir), "no batch"),
    ]
    for code, signer, args, words in cases:
        err = w.fail(code, signer, "custody", "hand_over_goods", args)
        assert words in err["message"], err
    # a revoked participant that neither owns nor holds the batch hands over nothing
    err = w.fail("forbidden", w.admin, "custody", "hand_over_goods",
                 _hand(w, batch, gone, heir))
    assert err["details"] == {"owner": cast.buyer, "custodian": cast.buyer}


def test_custody_v3_never_hands_goods_to_a_machine_key(world: World) -> None:
    w = world
    _adopt(w, custody=3)
    maker = w.participant("manufacturer", "device")
    batch = w.batch(maker, 1, for_sale=False)
    sensor = _member_of(w, maker, "device")
    w.ok(maker, "identity", "revoke", {"did": maker, "reason": "closing"})
    err = w.fail("forbidden", w.admin, "custody", "hand_over_goods",
                 _hand(w, batch, maker, sensor))
    assert "machine key" in err["message"]
    assert w.holding(batch)["owner"] == maker


def test_custody_v3_an_open_offer_of_the_revoked_holder_lapses(cast: Cast) -> None:
    w = cast.w
    _adopt(w, custody=3)
    batch = w.batch(cast.seller, 1, for_sale=False)
    pid = w.ok(cast.seller, "custody", "propose", {"batch": batch, "to": cast.carrier,
                                                   "kind": "custody"})["proposal"]
    w.ok(cast.seller, "identity", "revoke", {"did": cast.seller, "reason": "closing"})
    heir = _member_of(w, cast.seller, "manufacturer")
    res = w.ok(w.admin, "custody", "hand_over_goods", _hand(w, batch, cast.seller, heir))
    assert res["kind"] == "both" and w.holding(batch)["open"] == ""
    assert w.get(f"custody/p/{pid}")["status"] == "lapsed"
    assert w.tables["custody_proposals"][(pid,)]["status"] == "lapsed"
    w.fail("invalid_state", cast.carrier, "custody", "accept", {"proposal": pid})


def test_custody_v3_refuses_a_reserved_batch_and_another_holders_open_offer(
        cast: Cast) -> None:
    w = cast.w
    _adopt(w, orders=3, payments=2, custody=3)
    cast.fund(cast.buyer, 50_000)
    batch = w.batch(cast.seller, 1)
    assert cast.place("o-1", batch)["ok"]
    w.ok(cast.seller, "identity", "revoke", {"did": cast.seller, "reason": "closing"})
    heir = _member_of(w, cast.seller, "manufacturer")
    err = w.fail("invalid_state", w.admin, "custody", "hand_over_goods",
                 _hand(w, batch, cast.seller, heir))
    assert err["details"] == {"current": "reserved", "order": "o-1"}
    # the buyer cancels (the seller cannot sign); the batch is free, the heir takes it
    w.ok(cast.buyer, "orders", "cancel", {"order": "o-1"})
    w.ok(w.admin, "custody", "hand_over_goods", _hand(w, batch, cast.seller, heir))
    # a warehouse holds it for the heir and offers it on: the heir's revocation does not
    # let an admin move it from under the warehouse's open offer
    pid = w.ok(heir, "custody", "propose", {"batch": batch, "to": cast.carrier,
                                            "kind": "custody"})["proposal"]
    w.ok(cast.carrier, "custody", "accept", {"proposal": pid})
    w.ok(cast.carrier, "custody", "propose", {"batch": batch, "to": cast.stranger,
                                              "kind": "custody"})
    w.ok(w.admin, "identity", "revoke", {"did": heir, "reason": "left"})
    heir2 = _member_of(w, cast.seller, "manufacturer")
    err = w.fail("invalid_state", w.admin, "custody", "hand_over_goods",
                 _hand(w, batch, heir, heir2))
    assert err["details"]["current"] == "proposed"


# -- on a real node ---------------------------------------------------------------------------

class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


def test_a_new_ledger_runs_the_new_rules_and_audits_clean(tmp_path: Path) -> None:
    clock = _Clock()
    with Consortium(tmp_path / "ledger", chain="commerce", clock=clock) as c:
        roles = {"bank": "settlement", "people": "customer", "maker": "manufacturer",
                 "trucks": "transporter", "fin": "financier"}
        for org, role in roles.items():
            c.org(org, [role])
            c.member(org, org, [role])
        bank, buyer, maker, truck, fin = (c.parties[n] for n in roles)
        heir = c.member("heir", "people", ["customer"])
        for who, amount in ((buyer, 40_000), (fin, 20_000)):
            c.ok(bank, "payments", "deposit", {"account": who.did, "currency": "EUR",
                                               "amount": amount})
        c.ok(maker, "products", "create_product", {"gtin": "4006381333931", "name": "oil"})
        lots = [c.ok(maker, "products", "create_batch", {"gtin": "4006381333931",
                                                         "lot": lot})["batch"]
                for lot in ("L1", "L2")]
        for lot in lots:
            c.ok(maker, "products", "declare_for_sale", {"id": lot})
        for oid, lot in (("n-1", lots[0]), ("n-2", lots[1])):
            c.ok(buyer, "orders", "place", {
                "id": oid, "seller": maker.did, "batch": lot, "quantity": 4,
                "unit_price": 2_500, "freight": 700, "currency": "EUR",
                "earliest": clock.t, "latest": clock.t + 3 * DAY})
        c.ok(maker, "orders", "dispatch", {"order": "n-2", "transporter": truck.did,
                                           "transport_no": "TN-2"})
        c.ok(truck, "orders", "pickup", {"order": "n-2"})
        due = c.ok(truck, "orders", "deliver", {"order": "n-2"})["release_at"]
        c.ok(maker, "credit", "request_financing",
             {"order": "n-1", "financier": fin.did, "amount": 9_000, "repay": 9_000})
        c.ok(fin, "credit", "decide", {"order": "n-1", "approve": True})
        c.ok(buyer, "identity", "revoke", {"did": buyer.did, "reason": "gone"})
        clock.t = due
        res = c.ok(maker, "orders", "cancel", {"order": "n-1", "reason": "buyer gone"})
        assert res["financing"] == {"state": "repaid", "repaid": 9_000, "recovered": 9_000}
        c.ok(truck, "orders", "release", {"order": "n-2"})
        got = c.ok(c.admin, "custody", "hand_over_goods", {
            "batch": lots[1], "account": buyer.did, "to": heir.did, "reason": "left"})
        assert got["kind"] == "both"
        # an order completed or cancelled is the buyer's, not the carrier's, to end
        with pytest.raises(InvalidState):
            c.ok(truck, "orders", "cancel", {"order": "n-2"})
    bal = {a: b for a, ccy, b in c.rows("SELECT account, currency, balance FROM balances")
           if not a.startswith("escrow:")}
    assert bal == {buyer.did: 40_000 - 10_700, maker.did: 10_000, truck.did: 700,
                   fin.did: 20_000}
    assert c.rows("SELECT owner, custodian FROM custody_holdings WHERE batch = ?",
                  lots[1]) == [(heir.did, heir.did)]
    rules = dict(c.rows("SELECT contract, MAX(version) FROM rules_adopted GROUP BY 1"))
    # (orders v4 to v6 and custody v4, newer than this test, change only the words of
    # refusals and refuse stateless errors before execution)
    assert (rules.get("credit"), rules.get("custody"), rules.get("orders")) == (2, 4, 6)
    report = run_audit(c.dir)
    assert report.ok, report.findings[:3]
