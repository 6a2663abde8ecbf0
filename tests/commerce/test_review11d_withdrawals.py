"""Review 11d, payments rules v2 under attack: who may instruct for an organisation's
account, instruction ids that are never reused, banks that lose their role between the
instruction and the pay-out, and reservations that no other money move reaches."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.api.accounts import Session
from supplyledger.api.service import Principal
from supplyledger.api.web.actions import holds_account
from supplyledger.contracts.builtin.payments import read_supply
from supplyledger.contracts.runtime import Call, prepare_call
from supplyledger.ledger.crypto import generate

from .conftest import CONTRACTS, Cast, World
from .test_customs import appoint, line, tariff
from .test_review11_orders import adopt


@pytest.fixture
def v2(cast: Cast) -> Cast:
    adopt(cast.w, "orders", "payments", "fx")
    cast.fund(cast.buyer, 10_000)
    return cast


def _member(w: World, org: str, *roles: str) -> str:
    did: str = w.ok(w.admin, "identity", "register_member", {
        "org": org, "public_key": generate("ed25519").public.b64, "name": "+".join(roles),
        "roles": list(roles)})["did"]
    return did


def _instruct(w: World, who: str, iid: str, amount: int, bank: str,
              **extra: Any) -> dict[str, Any]:
    return {"id": iid, "currency": "EUR", "amount": amount, "bank": bank, **extra}


def test_a_node_key_does_not_move_its_organisations_money(v2: Cast) -> None:
    """A node's key signs blocks on a server, like a device's readings: it must not instruct
    (or cancel) withdrawals from its organisation's account. v2 let any member but a device
    do so, so whoever took a node's key could pay out an authority's duties."""
    w, c = v2.w, v2
    w.ok(w.admin, "identity", "register_org",
         {"id": "zoll", "name": "Zoll", "roles": ["customs", "node"]})
    officer, node = _member(w, "zoll", "customs"), _member(w, "zoll", "node")
    appoint(w, "DE", "zoll")
    assert tariff(w, officer, "61", 800, 1900)["ok"]
    due = w.ok(c.seller, "customs", "declare", {
        "id": "d1", "origin": "CN", "destination": "DE", "lines": [line("611020", 50_000)],
        "incoterm": "DDP"})["due"]
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    assert w.ok(officer, "customs", "clear", {"declaration": "d1"})["account"] == "org:zoll"
    assert w.balance("org:zoll") == due > 0
    args = _instruct(w, node, "duties-1", due, c.bank, account="org:zoll")
    err = w.fail("forbidden", node, "payments", "instruct_withdrawal", args)
    assert err["details"] == {"account": "org:zoll"}
    w.ok(officer, "payments", "instruct_withdrawal", args)
    w.fail("forbidden", node, "payments", "cancel_withdrawal", {"instruction": "duties-1"})
    # Its own account stays its own (as a device's does): it holds nothing here.
    w.fail("insufficient_funds", node, "payments", "instruct_withdrawal",
           _instruct(w, node, "n-1", 1, c.bank))
    w.ok(c.bank, "payments", "withdraw", {"instruction": "duties-1"})
    assert w.balance("org:zoll") == 0 and read_supply(w.read, "EUR") == w.money_in_ledger("EUR")


def test_an_instruction_id_is_never_reused(v2: Cast) -> None:
    """Not by another holder, nor after it was cancelled or paid: the bank's records of an
    id always mean the one instruction, and nobody touches another's reservation."""
    w, c = v2.w, v2
    c.fund(c.stranger, 5_000)
    w.ok(c.buyer, "payments", "instruct_withdrawal", _instruct(w, c.buyer, "w1", 3_000, c.bank))
    w.fail("already_exists", c.stranger, "payments", "instruct_withdrawal",
           _instruct(w, c.stranger, "w1", 1_000, c.bank))
    w.fail("forbidden", c.stranger, "payments", "cancel_withdrawal", {"instruction": "w1"})
    w.ok(c.buyer, "payments", "cancel_withdrawal", {"instruction": "w1"})
    for who in (c.buyer, c.stranger):
        w.fail("already_exists", who, "payments", "instruct_withdrawal",
               _instruct(w, who, "w1", 1_000, c.bank))
    w.ok(c.stranger, "payments", "instruct_withdrawal",
         _instruct(w, c.stranger, "w2", 1_000, c.bank))
    w.ok(c.bank, "payments", "withdraw", {"instruction": "w2", "amount": 400})
    w.fail("already_exists", c.stranger, "payments", "instruct_withdrawal",
           _instruct(w, c.stranger, "w2", 1, c.bank))
    assert (w.balance(c.buyer), w.balance(c.stranger)) == (10_000, 4_600)
    assert w.get("payments/w/w1")["state"] == "cancelled"
    assert w.get("payments/w/w2")["paid"] == 400
    assert read_supply(w.read, "EUR") == 14_600 == w.money_in_ledger("EUR")


def test_a_revoked_bank_pays_nothing_and_the_holder_takes_it_back(v2: Cast) -> None:
    w, c = v2.w, v2
    bank_org = w.get(f"identity/p/{c.bank}")["org"]
    teller = _member(w, bank_org, "settlement")
    w.ok(c.buyer, "payments", "instruct_withdrawal", _instruct(w, c.buyer, "to-bank", 1_000,
                                                               c.bank))
    w.ok(c.buyer, "payments", "instruct_withdrawal", _instruct(w, c.buyer, "to-org", 2_000,
                                                               bank_org))
    w.ok(w.admin, "identity", "revoke", {"did": c.bank, "reason": "key lost"})
    for iid in ("to-bank", "to-org"):
        assert _rejected(w, c.bank, "payments", "withdraw", {"instruction": iid}) == (
            "RevokedKey")
    # A colleague pays only what names the organisation, never its former colleague's.
    err = w.fail("forbidden", teller, "payments", "withdraw", {"instruction": "to-bank"})
    assert err["details"] == {"bank": c.bank}
    w.ok(teller, "payments", "withdraw", {"instruction": "to-org"})
    res = w.ok(c.buyer, "payments", "cancel_withdrawal", {"instruction": "to-bank"})
    assert res["balance"] == 8_000
    assert read_supply(w.read, "EUR") == 8_000 == w.money_in_ledger("EUR")


def _rejected(w: World, signer: str, contract: str, method: str, args: dict[str, Any]) -> str:
    """The executor's refusal of ``signer``'s call at admission ("" if admitted)."""
    value, error = prepare_call(CONTRACTS, contract, method, args)
    call = Call("0" * 64, signer, contract, method, w.time, "c", b"", value, error)
    res = w.exec.execute([call], height=w.height + 1)
    assert not res.writes
    return "" if not res.rejected else type(res.rejected[0][1]).__name__


def test_a_banker_paying_out_its_own_instruction_moves_only_its_own_money(v2: Cast) -> None:
    """The holder may be a settlement member of the organisation it names as bank: it then
    pays itself out, from its own reservation only; naming the organisation opens neither
    another member's account nor the organisation's to it."""
    w, c = v2.w, v2
    bank_org = w.get(f"identity/p/{c.bank}")["org"]
    teller = _member(w, bank_org, "settlement")
    c.fund(teller, 700)
    w.ok(teller, "payments", "instruct_withdrawal", _instruct(w, teller, "own", 700, bank_org))
    w.fail("forbidden", teller, "payments", "instruct_withdrawal",
           _instruct(w, teller, "theirs", 1, bank_org, account=c.bank))
    w.fail("insufficient_funds", teller, "payments", "instruct_withdrawal",
           _instruct(w, teller, "orgs", 1, bank_org, account=f"org:{bank_org}"))
    res = w.ok(teller, "payments", "withdraw", {"instruction": "own"})
    assert (res["account"], res["amount"], res["balance"]) == (teller, 700, 0)
    w.fail("invalid_state", teller, "payments", "cancel_withdrawal", {"instruction": "own"})
    assert w.balance(c.buyer) == 10_000
    assert read_supply(w.read, "EUR") == 10_000 == w.money_in_ledger("EUR")


def test_a_reservation_is_beyond_exchange_transfer_and_order(v2: Cast) -> None:
    w, c = v2.w, v2
    c.fund(c.bank, 5_000, "USD")
    w.ok(c.bank, "fx", "quote", {"pay": "EUR", "get": "USD", "rate": 10**9,
                                 "until": w.time + 3_600_000})
    w.ok(c.buyer, "payments", "instruct_withdrawal", _instruct(w, c.buyer, "w1", 9_000, c.bank))
    swap = {"dealer": c.bank, "pay": "EUR", "amount": 1_001, "get": "USD", "min_get": 1}
    w.fail("insufficient_funds", c.buyer, "fx", "exchange", swap)
    w.fail("insufficient_funds", c.buyer, "payments", "transfer",
           {"to": c.seller, "currency": "EUR", "amount": 1_001})
    assert not c.place("o1", w.batch(c.seller, 1), qty=1, price=600, freight=401)["ok"]
    # The dealer's own reservation is beyond its customers too.
    w.ok(c.bank, "payments", "instruct_withdrawal",
         {"id": "float", "currency": "USD", "amount": 4_500, "bank": c.bank})
    w.fail("insufficient_funds", c.buyer, "fx", "exchange", {**swap, "amount": 501})
    w.ok(c.buyer, "fx", "exchange", {**swap, "amount": 500})
    assert w.get("payments/x/withdrawal:w1")["amount"] == 9_000
    assert w.get("payments/x/withdrawal:float")["amount"] == 4_500
    w.ok(c.bank, "payments", "withdraw", {"instruction": "w1"})
    assert (w.balance(c.buyer), w.balance(c.buyer, "USD")) == (500, 500)
    for ccy, supply in (("EUR", 1_000), ("USD", 5_000)):
        assert read_supply(w.read, ccy) == supply == w.money_in_ledger(ccy)


@pytest.mark.parametrize("roles", [("device",), ("node",), ("device", "node"), ("customs",),
                                   ("node", "customs"), ("auditor",)])
def test_the_web_offers_the_organisation_account_exactly_when_payments_accepts(
        roles: tuple[str, ...]) -> None:
    w = World()
    adopt(w, "payments")
    bank = w.participant("settlement")
    w.ok(w.admin, "identity", "register_org", {"id": "zoll", "name": "Zoll", "roles": [
        "customs", "node", "device", "auditor"]})
    did = _member(w, "zoll", *roles)
    r = w.call(did, "payments", "instruct_withdrawal",
               _instruct(w, did, "w1", 1, bank, account="org:zoll"))
    accepted = r["error"]["code"] == "insufficient_funds"  # the account is merely empty
    assert accepted or r["error"]["code"] == "forbidden", r
    assert accepted == (not set(roles) <= {"device", "node"})
    who = Principal(did, "m", "zoll", frozenset(roles), Session(did, "t", 0), False)
    assert holds_account(who, "org:zoll") == accepted
