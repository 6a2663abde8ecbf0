"""Review 12, payments rules v3: a revoked party's standing withdrawal orders are not paid.

Under v2 an open withdrawal instruction (its amount reserved in ``escrow:withdrawal:<id>``)
stayed payable by the bank after whoever signed it was revoked, or, for an organisation's
account, left with only machine roles. Under v3 the bank's ``withdraw`` refuses such a
lapsed instruction (``invalid_state``, current ``lapsed``), and it is cancelled, by the
holder organisation's other members or by a consortium admin, so the reservation returns
to the account. v2 ledgers keep re-executing as they were decided."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.contracts.builtin.payments import read_supply
from supplyledger.ledger.crypto import generate

from .conftest import Cast, World
from .test_customs import appoint, line, tariff


def adopt(w: World, version: int) -> None:
    w.ok(w.admin, "rules", "adopt", {"contract": "payments", "version": version})


@pytest.fixture
def v3(cast: Cast) -> Cast:
    adopt(cast.w, 3)
    cast.fund(cast.buyer, 10_000)
    return cast


def _instruct(w: World, signer: str, iid: str, amount: int, bank: str,
              **extra: Any) -> Any:
    return w.ok(signer, "payments", "instruct_withdrawal",
                {"id": iid, "currency": "EUR", "amount": amount, "bank": bank, **extra})


def _authority_of_two(c: Cast) -> tuple[str, str, str, int]:
    """Customs authority ``zoll`` (customs, and device for its scanners) with two officers,
    the duties of one cleared declaration in its account ``org:zoll``; (first officer,
    second officer, account, duties)."""
    w = c.w
    w.ok(w.admin, "identity", "register_org",
         {"id": "zoll", "name": "Zoll", "roles": ["customs", "device"]})
    first, second = (w.ok(w.admin, "identity", "register_member", {
        "org": "zoll", "public_key": generate("ed25519").public.b64, "name": f"officer {n}",
        "roles": ["customs"]})["did"] for n in (1, 2))
    appoint(w, "DE", "zoll")
    assert tariff(w, first, "61", 800, 1900)["ok"]
    r = w.call(c.seller, "customs", "declare", {"id": "d1", "origin": "CN", "destination": "DE",
                                                "lines": [line("611020", 50_000)],
                                                "incoterm": "DDP"})
    due: int = r["result"]["due"]
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    assert w.ok(second, "customs", "clear", {"declaration": "d1"})["account"] == "org:zoll"
    return first, second, "org:zoll", due


def test_a_revoked_holders_instruction_is_not_paid_and_an_admin_returns_it(v3: Cast) -> None:
    w, c = v3.w, v3
    _instruct(w, c.buyer, "w1", 4_000, c.bank)
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    err = w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "w1"})
    assert err["details"] == {"current": "lapsed", "instructed_by": c.buyer}
    assert f"{c.buyer}, who instructed it, is revoked" in err["message"]
    assert w.get("payments/x/withdrawal:w1")["amount"] == 4_000
    # The holder cannot sign any more; neither the bank nor a stranger cancels for it.
    for who in (c.bank, c.stranger):
        err = w.fail("forbidden", who, "payments", "cancel_withdrawal", {"instruction": "w1"})
        assert err["details"] == {"account": c.buyer}
    res = w.ok(w.admin, "payments", "cancel_withdrawal",
               {"instruction": "w1", "reason": "holder revoked"})
    assert res == {"instruction": "w1", "state": "cancelled", "balance": 10_000}
    assert w.get("payments/x/withdrawal:w1")["amount"] == 0
    assert w.tables["withdrawals"][("w1",)]["state"] == "cancelled"
    assert w.tables["balances"][(c.buyer, "EUR")]["balance"] == 10_000
    err = w.fail("invalid_state", w.admin, "payments", "cancel_withdrawal",
                 {"instruction": "w1"})
    assert err["details"] == {"current": "cancelled"}
    assert read_supply(w.read, "EUR") == 10_000 == w.money_in_ledger("EUR")


def test_an_admin_cancels_only_a_lapsed_instruction(v3: Cast) -> None:
    """A live instruction is its holder's business: the admin gets ``forbidden`` and the
    bank still pays it."""
    w, c = v3.w, v3
    _instruct(w, c.buyer, "w1", 4_000, c.bank)
    err = w.fail("forbidden", w.admin, "payments", "cancel_withdrawal", {"instruction": "w1"})
    assert err["details"] == {"account": c.buyer}
    assert "has not lapsed" in err["message"]
    assert w.ok(c.bank, "payments", "withdraw", {"instruction": "w1"})["amount"] == 4_000
    err = w.fail("invalid_state", w.admin, "payments", "cancel_withdrawal",
                 {"instruction": "w1"})
    assert err["details"] == {"current": "paid"}


def test_an_organisations_instruction_lapses_with_its_member(v3: Cast) -> None:
    """A revoked officer's instruction for its authority's duties is not paid; a colleague
    cancels it and instructs anew, which the bank pays."""
    w, c = v3.w, v3
    first, second, acct, due = _authority_of_two(c)
    _instruct(w, first, "m1", due - 100, c.bank, account=acct)
    _instruct(w, second, "m2", 100, c.bank, account=acct)
    w.ok(w.admin, "identity", "revoke", {"did": first, "reason": "left the service"})
    err = w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "m1"})
    assert err["details"] == {"current": "lapsed", "instructed_by": first}
    # The colleague's own instruction still stands.
    assert w.ok(c.bank, "payments", "withdraw", {"instruction": "m2"})["balance"] == 0
    assert w.ok(second, "payments", "cancel_withdrawal", {"instruction": "m1"})[
        "balance"] == due - 100
    _instruct(w, second, "m3", due - 100, c.bank, account=acct)
    assert w.ok(c.bank, "payments", "withdraw", {"instruction": "m3"})["balance"] == 0
    assert read_supply(w.read, "EUR") == 10_000 == w.money_in_ledger("EUR")


def test_an_officer_left_with_machine_roles_no_longer_instructs_for_its_organisation(
        v3: Cast) -> None:
    """Roles changed to only ``device``: that member could not give the instruction now,
    so it lapses (and stands again if the roles come back); an admin may cancel it."""
    w, c = v3.w, v3
    first, _, acct, due = _authority_of_two(c)
    _instruct(w, first, "m1", due, c.bank, account=acct)
    w.ok(w.admin, "identity", "set_roles", {"did": first, "roles": ["device"]})
    err = w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "m1"})
    assert err["details"] == {"current": "lapsed", "instructed_by": first}
    assert "holds only the roles device" in err["message"] and acct in err["message"]
    w.ok(w.admin, "identity", "set_roles", {"did": first, "roles": ["customs"]})
    w.fail("forbidden", w.admin, "payments", "cancel_withdrawal", {"instruction": "m1"})
    w.ok(w.admin, "identity", "set_roles", {"did": first, "roles": ["device"]})
    assert w.ok(w.admin, "payments", "cancel_withdrawal", {"instruction": "m1"})[
        "balance"] == due


def test_a_v2_ledger_keeps_paying_a_revoked_holders_instruction(cast: Cast) -> None:
    """Before the adoption of v3 the bank paid such instructions and the admin could not
    cancel them: those blocks re-execute as they were decided."""
    w, c = cast.w, cast
    adopt(w, 2)
    c.fund(c.buyer, 10_000)
    _instruct(w, c.buyer, "w1", 4_000, c.bank)
    _instruct(w, c.buyer, "w2", 1_000, c.bank)
    w.ok(w.admin, "identity", "revoke", {"did": c.buyer, "reason": "key stolen"})
    err = w.fail("forbidden", w.admin, "payments", "cancel_withdrawal", {"instruction": "w2"})
    assert err["message"] == (f"only the holder instructs a withdrawal from {c.buyer}: "
                              f"{w.admin} may only from {w.admin} or org:consortium")
    assert w.ok(c.bank, "payments", "withdraw", {"instruction": "w1"})["amount"] == 4_000
    # Adopting v3 stops the rest.
    adopt(w, 3)
    w.fail("invalid_state", c.bank, "payments", "withdraw", {"instruction": "w2"})
    w.ok(w.admin, "payments", "cancel_withdrawal", {"instruction": "w2"})
    assert w.balance(c.buyer) == 6_000
    assert read_supply(w.read, "EUR") == 6_000 == w.money_in_ledger("EUR")
