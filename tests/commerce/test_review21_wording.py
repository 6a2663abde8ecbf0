"""Review 21, wording: refusals that land in receipts change their words only under a new
rules version (payments v4, orders v5, identity v4, customs v5); a ledger under the older
versions keeps the exact old words, and one that adopts the new versions midway audits
clean. The schema's "missing argument" changes freely: the node refuses such a call at
admission, so no receipt holds it."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.contracts.builtin.payments import MAX_AMOUNT
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import method, prepare_call, role_refusal
from supplyledger.errors import ValidationError
from supplyledger.ledger.encoding import MAX_INT
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger

from .conftest import DAY, T0, Cast, TickClock, World, gtin
from .test_customs import Cx, customs_world, line
from .test_review12_withdraw import _authority_of_two

NEW = {"identity": 4, "payments": 4, "orders": 5, "customs": 5}
OLD = {name: v - 1 for name, v in NEW.items()}


def _adopt(w: World, contract: str, version: int) -> None:
    w.ok(w.admin, "rules", "adopt", {"contract": contract, "version": version})


def _money(minor: int, major: str, ccy: str = "EUR") -> str:
    return f"{minor} {ccy} minor units ({major} {ccy})"


# -- payments v4: who may cancel a withdrawal instruction ----------------------------------

def _cancel_refusals(cast: Cast, payments: int) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A stranger cancelling the buyer's instruction w1 (its own account) and o1, an
    officer's for its organisation's account (customs duties); the organisation."""
    w, c = cast.w, cast
    officer, _, acct, _ = _authority_of_two(c)
    _adopt(w, "payments", payments)
    c.fund(c.buyer, 1_000)
    w.ok(c.buyer, "payments", "instruct_withdrawal",
         {"id": "w1", "currency": "EUR", "amount": 100, "bank": c.bank})
    w.ok(officer, "payments", "instruct_withdrawal",
         {"id": "o1", "currency": "EUR", "amount": 100, "bank": c.bank, "account": acct})
    org = acct[4:]
    own = w.fail("forbidden", c.stranger, "payments", "cancel_withdrawal", {"instruction": "w1"})
    org_acct = w.fail("forbidden", c.stranger, "payments", "cancel_withdrawal",
                      {"instruction": "o1"})
    return own, org_acct, org


def test_v4_a_refused_cancellation_says_who_may_cancel(cast: Cast) -> None:
    c = cast
    own, org_acct, org = _cancel_refusals(cast, 4)
    assert own == {"code": "forbidden", "details": {"account": c.buyer, "instruction": "w1"},
                   "message": f"withdrawal instruction w1 of {c.buyer} is cancelled by its "
                              f"holder {c.buyer}, or by a consortium admin once it has "
                              f"lapsed: {c.stranger} is neither"}
    assert org_acct["message"] == (
        f"withdrawal instruction o1 of org:{org} is cancelled by a member of organisation "
        f"{org} that is more than a machine key, or by a consortium admin once it has "
        f"lapsed: {c.stranger} is neither")
    # the holder still cancels, and instructing keeps its own words
    assert c.w.ok(c.buyer, "payments", "cancel_withdrawal", {"instruction": "w1"})[
        "balance"] == 1_000
    err = c.w.fail("forbidden", c.stranger, "payments", "instruct_withdrawal",
                   {"id": "w2", "currency": "EUR", "amount": 1, "bank": c.bank,
                    "account": c.buyer})
    assert err["message"].startswith(f"only the holder instructs a withdrawal from {c.buyer}")


@pytest.mark.parametrize("payments", [2, 3])
def test_older_payments_rules_keep_the_instructing_words(cast: Cast, payments: int) -> None:
    c = cast
    own, org_acct, org = _cancel_refusals(cast, payments)
    theirs = c.w.get(f"identity/p/{c.stranger}")["org"]
    assert own == {"code": "forbidden", "details": {"account": c.buyer},
                   "message": f"only the holder instructs a withdrawal from {c.buyer}: "
                              f"{c.stranger} may only from {c.stranger} or org:{theirs}"}
    assert org_acct["message"].startswith(f"only the holder instructs a withdrawal from "
                                          f"org:{org}: ")


# -- orders v5: an overflowing total carries its amounts -----------------------------------

def _overflow(cast: Cast, orders: int, price: int, qty: int) -> dict[str, Any]:
    _adopt(cast.w, "orders", orders)
    cast.fund(cast.buyer, 50_000)
    batch = cast.w.batch(cast.seller, 1)
    return cast.w.fail("invalid_amount", cast.buyer, "orders", "place", {
        "id": "o-1", "seller": cast.seller, "batch": batch, "quantity": qty,
        "unit_price": price, "freight": 7, "currency": "EUR", "earliest": cast.w.time,
        "latest": cast.w.time + DAY})


BIG = MAX_AMOUNT * 1_000 + 7  # past 2^53 - 1


def test_v5_an_overflow_past_the_exact_range_names_its_amounts(cast: Cast) -> None:
    assert BIG > MAX_INT
    err = _overflow(cast, 5, MAX_AMOUNT, 1_000)
    assert err == {"code": "invalid_amount", "message": (
        f"order o-1: price x quantity + freight = {MAX_AMOUNT} x 1000 + 7 = {BIG} EUR minor "
        f"units, more than {MAX_AMOUNT}"), "details": {
        "arg": "quantity", "total": str(BIG), "maximum": MAX_AMOUNT,
        "unit_price": MAX_AMOUNT, "quantity": 1_000, "freight": 7, "currency": "EUR"}}


def test_v5_a_storable_total_stays_an_integer(cast: Cast) -> None:
    over = 10 * (MAX_AMOUNT // 5) + 7
    err = _overflow(cast, 5, MAX_AMOUNT // 5, 10)
    assert err["details"]["total"] == over and err["details"]["unit_price"] == MAX_AMOUNT // 5


def test_v4_drops_the_details_of_an_overflow_past_the_exact_range(cast: Cast) -> None:
    err = _overflow(cast, 4, MAX_AMOUNT, 1_000)
    assert "details" not in err and err["message"] == (
        f"order o-1: price x quantity + freight = {BIG} exceeds {MAX_AMOUNT} (details "
        f"dropped: integer {BIG} is outside the exact range ±(2**53-1))")


# -- identity v4: a role refusal names the roles in words ----------------------------------

@method(roles=("seller", "admin"), args={})
def _two(ctx: Any, a: Any) -> None:
    """A method two roles may call."""


def test_role_words_follow_the_identity_rules() -> None:
    held = frozenset({"customer"})
    new = role_refusal("shop", _two, held, 4)
    assert new is not None and new.message == "shop._two needs the role admin or seller"
    assert new.details == {"required": ["admin", "seller"], "held": ["customer"]}
    old = role_refusal("shop", _two, held, lambda: 3)
    assert old is not None
    assert old.message == "shop._two needs one of the roles ['admin', 'seller']"


@pytest.mark.parametrize(("identity", "deposit", "certify"), [
    (4, "payments.deposit needs the role settlement",
     "products.certify needs the role auditor, customs or inspector"),
    (3, "payments.deposit needs one of the roles ['settlement']",
     "products.certify needs one of the roles ['auditor', 'customs', 'inspector']"),
    (1, "payments.deposit needs one of the roles ['settlement']",
     "products.certify needs one of the roles ['auditor', 'customs', 'inspector']")])
def test_role_denied_receipts_under_each_identity_version(
        cast: Cast, identity: int, deposit: str, certify: str) -> None:
    w, c = cast.w, cast
    if identity > 1:
        _adopt(w, "identity", identity)
    batch = w.batch(c.seller, 1)
    err = w.fail("role_denied", c.buyer, "payments", "deposit",
                 {"account": c.buyer, "currency": "EUR", "amount": 1})
    assert err == {"code": "role_denied", "message": deposit,
                   "details": {"required": ["settlement"], "held": ["customer"]}}
    err = w.fail("role_denied", c.buyer, "products", "certify", {
        "batch": batch, "certificate": "c1", "scheme": "organic",
        "valid_from": "2026-01-01", "valid_until": "2027-01-01"})
    assert err["message"] == certify


# -- schema: quoted, at admission only -------------------------------------------------------

def test_a_missing_argument_is_quoted() -> None:
    contracts = load_builtin()
    _, err = prepare_call(contracts, "identity", "register_org",
                          {"id": "acme", "roles": ["supplier"]})
    assert err == {"code": "validation_error", "message": "missing argument 'name'",
                   "details": {"arg": "name"}}
    _, err = prepare_call(contracts, "orders", "place", {
        "id": "o", "seller": "s", "product": "40063810000" "00", "quantity": 1,
        "unit_price": 1, "freight": 0, "currency": "EUR", "earliest": T0, "latest": T0,
        "customer_data": {"recipients": ["x"]}})
    assert err is not None and err["message"] == "missing argument 'customer_data.commitment'"


def test_payments_v1_withdraw_keeps_its_receipt_words(cast: Cast) -> None:
    """v1's ``withdraw`` checks its arguments in the contract body, so its words are in
    receipts: they stay as v1 recorded them (no later version runs that check)."""
    err = cast.w.fail("validation_error", cast.bank, "payments", "withdraw",
                      {"account": cast.buyer, "currency": "EUR"})
    assert err["message"] == "missing argument amount"


# -- customs v5: amounts with currency and unit ----------------------------------------------

def _customs_refusals(cast: Cast, customs: int) -> dict[str, str]:
    cx: Cx = customs_world(cast)
    w, c = cx.w, cx.c
    _adopt(w, "customs", customs)
    base = {"id": "x", "origin": "CN", "destination": "DE", "incoterm": "DDP"}
    w.ok(cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "2402", "currency": "EUR", "duty_bp": 50_000,
        "vat_bp": 1900, "de_minimis": 0, "effective_from": T0})
    w.ok(c.bank, "customs", "set_rate",
         {"base": "KWD", "quote": "EUR", "rate": 2_900_000_000, "time": T0})
    msgs = {}
    for case, lines in (("total", [line("611020", 6 * 10**14), line("611020", 6 * 10**14)]),
                        ("taxes", [line("240220", 2 * 10**14)]),
                        ("convert", [line("611020", MAX_AMOUNT // 2, "KWD")])):
        msgs[case] = w.fail("invalid_amount", c.seller, "customs", "declare",
                            {**base, "lines": lines})["message"]
    cx.dispatched()  # order o1: 10 x 1000 + 500 EUR
    msgs["value"] = w.fail("value_mismatch", c.seller, "customs", "declare", {
        **base, "order": "o1", "lines": [line("611020", 9_000)]})["message"]
    assert cx.declare("d1", [line("611020", 50_000)])["ok"]
    msgs["clear"] = w.fail("invalid_state", cx.de, "customs", "clear",
                           {"declaration": "d1"})["message"]
    return msgs


def test_v5_customs_refusals_state_currency_and_unit(cast: Cast) -> None:
    msgs = _customs_refusals(cast, 5)
    most = _money(MAX_AMOUNT, "10000000000000.00")
    assert msgs == {
        "total": f"the declaration's customs value {_money(12 * 10**14, '12000000000000.00')} "
                 f"exceeds {most}",
        "taxes": f"duty {_money(10**15, '10000000000000.00')} + VAT "
                 f"{_money(228 * 10**12, '2280000000000.00')} exceed {most}",
        "convert": f"line 0: {_money(MAX_AMOUNT // 2, '500000000000.000', 'KWD')} is "
                   f"{_money(145 * 10**13, '14500000000000.00')}, more than {most}",
        "value": f"declared value {_money(9_000, '90.00')} is not order o1's price "
                 f"{_money(10_000, '100.00')} (nor {_money(10_500, '105.00')} with its "
                 "freight): customs value is the transaction value",
        "clear": f"declaration d1 is assessed: {_money(14_260, '142.60')} of duties and VAT "
                 "must be paid before clearance"}


def test_v4_customs_refusals_keep_the_old_words(cast: Cast) -> None:
    msgs = _customs_refusals(cast, 4)
    assert msgs == {
        "total": f"the declaration's customs value {12 * 10**14} EUR exceeds {MAX_AMOUNT} "
                 "minor units",
        "taxes": f"duty {10**15} + VAT {228 * 10**12} EUR exceed {MAX_AMOUNT} minor units",
        "convert": f"line 0: {MAX_AMOUNT // 2} KWD is {145 * 10**13} EUR, more than "
                   f"{MAX_AMOUNT} minor units",
        "value": "declared value 9000 EUR is not order o1's price 10000 EUR (nor 10500 with "
                 "its freight): customs value is the transaction value",
        "clear": "declaration d1 is assessed: 14260 EUR of duties and VAT must be paid "
                 "before clearance"}


# -- on a real node: new ledgers start at the new versions; adopting midway audits clean ------

def _error(c: Consortium, who: Party | Any, contract: str, method_name: str,
           args: dict[str, Any]) -> dict[str, Any]:
    r = c.call(who, contract, method_name, args)
    assert not r.ok and r.error is not None, r
    return dict(r.error)


def _parties(c: Consortium) -> dict[str, Party]:
    for org, roles in (("bank", ["settlement"]), ("shop", ["customer"]),
                       ("other", ["customer"]), ("maker", ["manufacturer"]),
                       ("de", ["customs"])):
        c.org(org, roles)
        c.member(org, org, roles)
    return c.parties


def _refusals(c: Consortium, p: dict[str, Party], n: int) -> dict[str, dict[str, Any]]:
    """One refusal of each kind this review rewords; ``n`` keeps ids apart."""
    bank, shop, other, maker, de = (p[k] for k in ("bank", "shop", "other", "maker", "de"))
    c.ok(bank, "payments", "deposit", {"account": shop.did, "currency": "EUR",
                                       "amount": 1_000})
    c.ok(shop, "payments", "instruct_withdrawal",
         {"id": f"w{n}", "currency": "EUR", "amount": 100, "bank": "bank"})
    batch = c.ok(maker, "products", "create_batch", {"gtin": GTIN, "lot": f"L{n}"})["batch"]
    c.ok(maker, "products", "declare_for_sale", {"id": batch})
    return {
        "role": _error(c, shop, "payments", "deposit",
                       {"account": shop.did, "currency": "EUR", "amount": 1}),
        "cancel": _error(c, other, "payments", "cancel_withdrawal",
                         {"instruction": f"w{n}"}),
        "overflow": _error(c, shop, "orders", "place", {
            "id": f"o{n}", "seller": maker.did, "batch": batch, "quantity": 1_000,
            "unit_price": MAX_AMOUNT, "freight": 7, "currency": "EUR",
            "earliest": c.clock() + DAY, "latest": c.clock() + 2 * DAY}),
        "clear": _clear_refusal(c, maker, de, n),
    }


GTIN = gtin(1)


def _clear_refusal(c: Consortium, maker: Party, de: Party, n: int) -> dict[str, Any]:
    c.ok(maker, "customs", "declare", {"id": f"d{n}", "origin": "CN", "destination": "DE",
                                       "incoterm": "DDP", "lines": [line("611020", 50_000)]})
    return _error(c, de, "customs", "clear", {"declaration": f"d{n}"})


def _customs_setup(c: Consortium, p: dict[str, Party]) -> None:
    c.ok(c.admin, "customs", "appoint", {"country": "DE", "org": "de", "currency": "EUR"})
    c.ok(p["de"], "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "61", "currency": "EUR", "duty_bp": 1200,
        "vat_bp": 1900, "de_minimis": 0, "effective_from": c.clock()})
    c.ok(p["maker"], "products", "create_product", {"gtin": GTIN, "name": "thing"})


def test_a_ledger_adopting_the_new_wording_midway_audits_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    older = {n: replace(k, versions=tuple(v for v in k.versions if v <= OLD[n]))
             if n in OLD else k for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=older))
    with Consortium(tmp_path / "ledger", chain="commerce", clock=TickClock()) as c:
        p = _parties(c)
        _customs_setup(c, p)
        before = _refusals(c, p, 1)
        for name, version in NEW.items():
            c.ok(c.admin, "rules", "adopt", {"contract": name, "version": version})
        after = _refusals(c, p, 2)
    assert before["role"]["message"] == "payments.deposit needs one of the roles ['settlement']"
    assert after["role"]["message"] == "payments.deposit needs the role settlement"
    assert before["cancel"]["message"].startswith("only the holder instructs a withdrawal")
    assert after["cancel"]["message"].startswith("withdrawal instruction w2 of ")
    assert "details dropped" in before["overflow"]["message"]
    assert after["overflow"]["details"]["total"] == str(BIG)
    assert before["clear"]["message"] == ("declaration d1 is assessed: 16640 EUR of duties "
                                          "and VAT must be paid before clearance")
    assert after["clear"]["message"] == (f"declaration d2 is assessed: "
                                         f"{_money(16_640, '166.40')} of duties and VAT must "
                                         "be paid before clearance")
    rows = c.rows("SELECT contract, version FROM rules_adopted ORDER BY contract, version")
    assert {(n, v) for n, v in rows if n in NEW} == {*OLD.items(), *NEW.items()}
    report = run_audit(c.dir, workers=0)
    assert report.ok, report.findings[:3]


def test_a_new_ledger_starts_at_the_new_wording(tmp_path: Path) -> None:
    """Genesis names each contract's newest rules; a call missing an argument is refused
    at admission, so its words are in no receipt."""
    with Consortium(tmp_path / "ledger", chain="commerce", clock=TickClock()) as c:
        in_force = dict(c.rows("SELECT contract, MAX(version) FROM rules_adopted GROUP BY 1"))
        # (payments v5, orders v6, customs v6 and identity v5 and v6, newer than this
        # test, refuse stateless errors before execution: reviews 22 and 24)
        assert {n: in_force.get(n) for n in NEW} == {**NEW, "payments": 5, "orders": 6,
                                                     "customs": 6, "identity": 6}
        txs = c.rows("SELECT COUNT(*) FROM txs")
        with pytest.raises(ValidationError, match="missing argument 'name'"):
            c.ok(c.admin, "identity", "register_org", {"id": "acme", "roles": ["supplier"]})
        assert c.rows("SELECT COUNT(*) FROM txs") == txs
        p = _parties(c)
        assert _error(c, p["shop"], "payments", "deposit", {
            "account": p["shop"].did, "currency": "EUR", "amount": 1})["message"] == (
            "payments.deposit needs the role settlement")
