"""Review 12, payments rules v3: a revoked participant's money is handed to a successor.

Once a participant is revoked nobody can sign for its own account: its transfers and
withdrawal instructions need it, and an admin's cancellation of its lapsed instructions
returned their reservations to that account, where the money stayed for good. A consortium
admin now hands the balance over (``hand_over_balance``) to a successor within the revoked
participant's organisation, once no instruction of the account is open; every refusal is
specific and changes nothing (``World.fail`` compares the whole state)."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import read_supply
from supplyledger.ledger.crypto import generate

from .conftest import Cast, World

REASON = "key stolen; same person registered again"


def adopt(w: World, version: int) -> None:
    w.ok(w.admin, "rules", "adopt", {"contract": "payments", "version": version})


def member(w: World, org: str, *roles: str) -> str:
    did: str = w.ok(w.admin, "identity", "register_member", {
        "org": org, "public_key": generate("ed25519").public.b64, "name": "successor",
        "roles": list(roles)})["did"]
    return did


def org_of(w: World, did: str) -> str:
    org: str = w.get(f"identity/p/{did}")["org"]
    return org


def hand_over(w: World, account: str, to: str, **extra: Any) -> dict[str, Any]:
    return {"account": account, "to": to, "reason": REASON, **extra}


@pytest.fixture
def v3(cast: Cast) -> Cast:
    adopt(cast.w, 3)
    cast.fund(cast.buyer, 10_000)
    cast.fund(cast.buyer, 700, "USD")
    return cast


def conserved(w: World) -> None:
    for ccy, supply in (("EUR", 10_000), ("USD", 700)):
        assert read_supply(w.read, ccy) == supply == w.money_in_ledger(ccy)


def test_an_admin_hands_a_revoked_members_money_to_its_successor(v3: Cast) -> None:
    w, c = v3.w, v3
    org = org_of(w, c.buyer)
    heir = member(w, org, "customer")
    # Revoked, the buyer signs nothing more (its transactions are refused at admission).
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    res = w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, c.buyer, heir))
    assert res == {"account": c.buyer, "to": heir,
                   "handed_over": {"EUR": 10_000, "USD": 700}}
    assert (w.balance(c.buyer), w.balance(c.buyer, "USD")) == (0, 0)
    assert (w.balance(heir), w.balance(heir, "USD")) == (10_000, 700)
    rows = w.tables["balances"]
    assert [rows[(a, ccy)]["balance"] for a in (c.buyer, heir) for ccy in ("EUR", "USD")] == [
        0, 0, 10_000, 700]
    moves = [e for t, e in w.events if t == "payments.money" and e["why"] == "hand-over"]
    assert [(e["src"], e["dst"], e["ccy"], e["amount"]) for e in moves] == [
        (c.buyer, heir, "EUR", 10_000), (c.buyer, heir, "USD", 700)]
    assert w.events[-1] == ["payments.balance_handed_over", {
        "account": c.buyer, "to": heir, "amounts": {"EUR": 10_000, "USD": 700},
        "reason": REASON, "by": w.admin}]
    conserved(w)
    # The successor spends it as its own; nothing is left to hand over.
    w.ok(heir, "payments", "transfer", {"to": c.seller, "currency": "EUR", "amount": 2_500})
    err = w.fail("invalid_state", w.admin, "payments", "hand_over_balance",
                 hand_over(w, c.buyer, heir))
    assert err["details"] == {"current": "empty"}
    assert "holds nothing in any ISO 4217 currency" in err["message"]
    conserved(w)


def test_one_currency_to_the_organisations_account(v3: Cast) -> None:
    """``currency`` hands over that currency only; ``org:<org>`` is a successor too."""
    w, c = v3.w, v3
    org = org_of(w, c.buyer)
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "left the company"})
    res = w.ok(w.admin, "payments", "hand_over_balance",
               hand_over(w, c.buyer, f"org:{org}", currency="USD"))
    assert res["handed_over"] == {"USD": 700}
    assert (w.balance(c.buyer), w.balance(f"org:{org}", "USD")) == (10_000, 700)
    assert w.tables["balances"][(f"org:{org}", "USD")]["kind"] == "organisation"
    err = w.fail("invalid_state", w.admin, "payments", "hand_over_balance",
                 hand_over(w, c.buyer, f"org:{org}", currency="USD"))
    assert err["details"] == {"current": "empty"} and "nothing in USD" in err["message"]
    w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, c.buyer, f"org:{org}"))
    assert w.balance(f"org:{org}") == 10_000
    conserved(w)


def test_open_instructions_are_cancelled_first(v3: Cast) -> None:
    """The admin's cancellation of a lapsed instruction returned its reservation to the
    revoked account, where it stayed; now the hand-over waits for it and takes it along."""
    w, c = v3.w, v3
    heir = member(w, org_of(w, c.buyer), "customer")
    for iid, amount in (("w1", 4_000), ("w2", 1_000)):
        w.ok(c.buyer, "payments", "instruct_withdrawal",
             {"id": iid, "currency": "EUR", "amount": amount, "bank": c.bank})
    w.ok(c.bank, "payments", "withdraw", {"instruction": "w2"})
    assert w.get(f"payments/o/{c.buyer}") == ["w1"]
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    err = w.fail("invalid_state", w.admin, "payments", "hand_over_balance",
                 hand_over(w, c.buyer, heir))
    assert err["details"] == {"current": "open_instructions", "instructions": ["w1"]}
    assert "cancel them first" in err["message"]
    w.ok(w.admin, "payments", "cancel_withdrawal", {"instruction": "w1"})
    assert w.get(f"payments/o/{c.buyer}") is None
    res = w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, c.buyer, heir))
    assert res["handed_over"] == {"EUR": 9_000, "USD": 700}
    assert read_supply(w.read, "EUR") == 9_000 == w.money_in_ledger("EUR")


def test_every_refusal_is_specific_and_changes_nothing(v3: Cast) -> None:
    w, c = v3.w, v3
    org = org_of(w, c.buyer)
    heir, gone = member(w, org, "customer"), member(w, org, "customer")
    w.ok(w.admin, "identity", "revoke", {"did": gone, "reason": "left"})

    def refused(code: str, signer: str = w.admin, **args: Any) -> dict[str, Any]:
        return w.fail(code, signer, "payments", "hand_over_balance",
                      {**hand_over(w, c.buyer, heir), **args})

    # The buyer is still active: it moves its own money.
    assert refused("invalid_state")["details"] == {"current": "active"}
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    assert refused("role_denied", c.bank)["details"]["required"] == ["admin"]
    assert refused("not_found", account="did:sl:nobody")["details"] == {
        "account": "did:sl:nobody"}
    assert refused("validation_error", account=f"org:{org}")["details"] == {"arg": "account"}
    assert refused("validation_error", to=c.buyer)["details"] == {"arg": "to"}
    assert refused("not_found", to="did:sl:nobody")["details"] == {"to": "did:sl:nobody"}
    assert refused("not_found", to="org:nowhere")["details"] == {"to": "org:nowhere"}
    assert refused("invalid_state", to=gone)["details"] == {"current": "revoked", "to": gone}
    # Never another organisation's account or member, the admin's own included.
    other = org_of(w, c.stranger)
    for to in (c.stranger, f"org:{other}", w.admin, "org:consortium"):
        err = refused("forbidden", to=to)
        assert err["details"] == {"org": org, "to": to}
        assert f"not of organisation {org}" in err["message"]
    assert refused("validation_error", currency="XYZ")["details"] == {
        "arg": "currency", "value": "XYZ"}
    assert refused("invalid_state", currency="GBP")["details"] == {"current": "empty"}
    for reason in ("   ", "heir\u202eriah", "a\nb"):
        assert refused("validation_error", reason=reason)["details"] == {"arg": "reason"}
    conserved(w)


def test_a_machine_key_is_no_successor(cast: Cast) -> None:
    w, c = cast.w, cast
    adopt(w, 3)
    w.ok(w.admin, "identity", "register_org",
         {"id": "plant", "name": "Plant", "roles": ["customer", "device"]})
    owner, device = member(w, "plant", "customer"), member(w, "plant", "device")
    c.fund(owner, 300)
    w.ok(w.admin, "identity", "revoke", {"did": owner, "reason": "key stolen"})
    err = w.fail("forbidden", w.admin, "payments", "hand_over_balance",
                 hand_over(w, owner, device))
    assert err["details"] == {"org": "plant", "to": device}
    assert "holds only the roles device" in err["message"]
    w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, owner, "org:plant"))
    assert w.balance("org:plant") == 300


def test_a_v2_ledger_refuses_until_v3_is_adopted(cast: Cast) -> None:
    """v2 refuses like every newer method does; an instruction given under v2 is not in the
    v3 index, so one cancelled after a hand-over comes back, and a second hand-over moves
    it on: nothing stays behind."""
    w, c = cast.w, cast
    adopt(w, 2)
    c.fund(c.buyer, 10_000)
    heir = member(w, org_of(w, c.buyer), "customer")
    w.ok(c.buyer, "payments", "instruct_withdrawal",
         {"id": "w1", "currency": "EUR", "amount": 4_000, "bank": c.bank})
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    err = w.fail("invalid_state", w.admin, "payments", "hand_over_balance",
                 hand_over(w, c.buyer, heir))
    assert err["details"] == {"current": "rules v2"}
    assert "payments rules v3" in err["message"] and "adopts v3" in err["message"]
    adopt(w, 3)
    assert w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, c.buyer, heir))[
        "handed_over"] == {"EUR": 6_000}
    w.ok(w.admin, "payments", "cancel_withdrawal", {"instruction": "w1"})
    assert w.balance(c.buyer) == 4_000
    w.ok(w.admin, "payments", "hand_over_balance", hand_over(w, c.buyer, heir))
    assert (w.balance(c.buyer), w.balance(heir)) == (0, 10_000)
    assert read_supply(w.read, "EUR") == 10_000 == w.money_in_ledger("EUR")


def test_a_v1_balance_in_a_made_up_code_is_handed_over_by_name(cast: Cast) -> None:
    w, c = cast.w, cast
    c.fund(c.buyer, 50, "ABC")  # v1 took any three capitals
    adopt(w, 3)
    heir = member(w, org_of(w, c.buyer), "customer")
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    err = w.fail("invalid_state", w.admin, "payments", "hand_over_balance",
                 hand_over(w, c.buyer, heir))
    assert err["details"] == {"current": "empty"}
    w.fail("validation_error", w.admin, "payments", "hand_over_balance",
           hand_over(w, c.buyer, heir, currency="ABD"))
    assert w.ok(w.admin, "payments", "hand_over_balance",
                hand_over(w, c.buyer, heir, currency="ABC"))["handed_over"] == {"ABC": 50}
    assert w.balance(heir, "ABC") == 50 == read_supply(w.read, "ABC")
