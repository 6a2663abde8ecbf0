"""customs: tariffs by longest HS prefix, exchange rates, declarations assessed line by line
with one rounding rule, duties paid into escrow, the authority's decisions, money conserved,
and the same on a real node whose projections the audit rebuilds clean."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplyledger.bench.consortium import Consortium
from supplyledger.contracts.builtin._customs_model import TRANSITIONS, half_up, hs_code
from supplyledger.contracts.builtin.payments import MAX_AMOUNT, read_supply
from supplyledger.errors import ValidationError
from supplyledger.ledger.crypto import generate
from supplyledger.node.audit import run_audit
from supplyledger.store.sqlite import DB_NAME

from .conftest import DAY, T0, Cast, World

EXACT = Context(prec=80)  # enough digits for any quotient these tests round
USD_EUR = 920_000_000  # 1 USD cent = 0.92 EUR cents


def ref(x: Decimal) -> int:
    """The documented rule, computed independently: half-up to an integer."""
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=EXACT))


@dataclass
class Cx:
    """A cast plus German and French customs authorities and published data."""

    c: Cast
    de: str  # officer of the German authority
    de2: str  # another officer of the same organisation
    fr: str  # officer of the French authority
    de_org: str

    @property
    def w(self) -> World:
        return self.c.w

    def dispatched(self, funds: int = 50_000) -> str:
        """Order o1 of a fresh batch of the seller's, dispatched with the carrier; the batch."""
        c = self.c
        c.fund(c.buyer, funds)
        b = self.w.batch(c.seller, 1)
        assert c.place("o1", b)["ok"]
        self.w.ok(c.seller, "orders", "dispatch",
                  {"order": "o1", "transporter": c.carrier, "transport_no": "TN-1"})
        return b

    def declare(self, did: str, lines: list[dict[str, Any]], *, signer: str | None = None,
                **extra: Any) -> dict[str, Any]:
        args = {"id": did, "origin": "CN", "destination": "DE", "lines": lines,
                "incoterm": "DDP", **extra}
        return self.w.call(signer or self.c.seller, "customs", "declare", args)


def line(hs: str, value: int, ccy: str = "EUR", qty: int = 1) -> dict[str, Any]:
    return {"hs": hs, "description": f"goods {hs}", "quantity": qty, "value": value,
            "currency": ccy}


def appoint(w: World, cc: str, org: str, ccy: str = "EUR") -> dict[str, Any]:
    return w.ok(w.admin, "customs", "appoint", {"country": cc, "org": org, "currency": ccy})


def appoint_rates(w: World, quote: str, org: str) -> dict[str, Any]:
    return w.ok(w.admin, "customs", "appoint_rates", {"quote": quote, "org": org})


def tariff(w: World, who: str, prefix: str, duty: int, vat: int, *, cc: str = "DE",
           ccy: str = "EUR", de_minimis: int = 15_000, at: int = T0) -> dict[str, Any]:
    return w.call(who, "customs", "set_tariff", {
        "country": cc, "hs_prefix": prefix, "currency": ccy, "duty_bp": duty, "vat_bp": vat,
        "de_minimis": de_minimis, "effective_from": at})


def customs_world(cast: Cast) -> Cx:
    """German and French authorities, DE tariffs for 61, 610910 and 8471, a USD/EUR rate."""
    w = cast.w
    de = w.participant("customs")
    de_org = w.get(f"identity/p/{de}")["org"]
    key = generate("ed25519")
    de2 = w.ok(w.admin, "identity", "register_member", {
        "org": de_org, "public_key": key.public.b64, "name": "officer 2",
        "roles": ["customs"]})["did"]
    fr = w.participant("customs")
    for cc, officer in (("DE", de), ("FR", fr)):
        appoint(w, cc, w.get(f"identity/p/{officer}")["org"])
    for prefix, duty, vat in (("61", 800, 1900), ("610910", 1200, 1900), ("8471", 0, 1000)):
        assert tariff(w, de, prefix, duty, vat)["ok"]
    appoint_rates(w, "EUR", w.get(f"identity/p/{cast.bank}")["org"])
    w.ok(cast.bank, "customs", "set_rate",
         {"base": "USD", "quote": "EUR", "rate": USD_EUR, "time": T0})
    return Cx(cast, de, de2, fr, de_org)


@pytest.fixture
def cx(cast: Cast) -> Cx:
    return customs_world(cast)


# -- pure parts ---------------------------------------------------------------------------------

@given(st.integers(0, 10**30), st.integers(1, 10**12))
def test_half_up_is_the_documented_rule(num: int, den: int) -> None:
    assert half_up(num, den) == ref(EXACT.divide(Decimal(num), Decimal(den)))


def test_hs_codes_are_normalised_and_checked() -> None:
    assert hs_code("8471.30", "hs", min_digits=6) == "847130"
    assert hs_code("6109 10 00", "hs", min_digits=6) == "61091000"
    assert hs_code("61", "p", min_digits=2) == "61"
    fullwidth = "\uff18\uff14\uff17\uff11\uff13\uff10"  # isdigit(), yet not ASCII
    for bad in ("84713", "0012345", "ab1234", "847130123456", "8471", fullwidth):
        with pytest.raises(ValidationError, match="not an HS code"):
            hs_code(bad, "hs", min_digits=6)


# -- tariffs and rates --------------------------------------------------------------------------

def test_the_appointed_authority_publishes_and_others_are_refused(cx: Cx) -> None:
    w = cx.w
    assert w.get("customs/c/DE") == {"country": "DE", "authority": cx.de_org,
                                     "currency": "EUR", "since": T0}
    assert tariff(w, cx.de2, "62", 1200, 1900)["ok"]  # same organisation, other officer
    err = w.fail("forbidden", cx.fr, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "62", "currency": "EUR", "duty_bp": 0, "vat_bp": 0,
        "de_minimis": 0, "effective_from": T0})
    assert err["details"]["authority"] == cx.de_org
    assert tariff(w, cx.fr, "62", 1200, 2000, cc="FR")["ok"]
    assert tariff(w, cx.de, "62", 1, 1, ccy="USD")["error"]["code"] == "validation_error"
    assert tariff(w, cx.c.seller, "62", 1, 1, cc="IT")["error"]["code"] == "role_denied"
    # Nobody becomes an authority by publishing first: only an admin appoints one.
    err = tariff(w, cx.fr, "62", 1, 1, cc="IT")["error"]
    assert err["code"] == "not_found" and "appoints" in err["message"]
    fr_org = w.get(f"identity/p/{cx.fr}")["org"]
    assert w.call(cx.fr, "customs", "appoint", {"country": "IT", "org": fr_org,
                                                "currency": "EUR"})["error"]["code"] == \
        "role_denied"
    for org, ccy, code in (("nope", "EUR", "not_found"),
                           (w.get(f"identity/p/{cx.c.seller}")["org"], "EUR", "forbidden"),
                           (fr_org, "USD", "validation_error")):  # DE's currency is fixed
        r = w.call(w.admin, "customs", "appoint", {"country": "DE", "org": org,
                                                   "currency": ccy})
        assert r["error"]["code"] == code, (org, r)
    # The admin hands DE over: the new authority publishes, the old one no longer does.
    appoint(w, "DE", fr_org)
    assert tariff(w, cx.fr, "63", 500, 1900)["ok"]
    assert w.fail("forbidden", cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "64", "currency": "EUR", "duty_bp": 0, "vat_bp": 0,
        "de_minimis": 0, "effective_from": T0})["details"]["authority"] == fr_org
    for bad_prefix in ("6", "123", "00", "12345678901"):
        assert tariff(w, cx.fr, bad_prefix, 1, 1, cc="FR")["error"]["code"] == \
            "validation_error"
    assert tariff(w, cx.fr, "62", 1, 10_001, cc="FR")["error"]["code"] == "validation_error"
    assert tariff(w, cx.fr, "62", 1, 1, cc="FR", de_minimis=-1)["error"]["code"] == \
        "invalid_amount"


def test_tariff_versions_apply_from_their_time_and_longest_prefix_wins(cx: Cx) -> None:
    w = cx.w
    assert tariff(w, cx.de, "610910", 1500, 1900, at=T0 + DAY)["ok"]  # scheduled
    assert tariff(w, cx.de, "61091000", 0, 700, at=T0 + 2 * DAY)["ok"]  # more specific, later

    def matched(did: str, at: int) -> dict[str, Any]:
        r = w.call(cx.c.seller, "customs", "declare", {
            "id": did, "origin": "CN", "destination": "DE", "incoterm": "DAP",
            "lines": [line("6109.10.00", 100_000)]}, time=at)
        assert r["ok"], r
        t: dict[str, Any] = r["result"]["lines"][0]["tariff"]
        return t

    assert matched("v0", T0 + DAY - 1) == {"prefix": "610910", "from": T0,
                                               "duty_bp": 1200, "vat_bp": 1900,
                                               "de_minimis": 15_000}
    assert matched("v1", T0 + DAY)["duty_bp"] == 1500
    assert matched("v2", T0 + 2 * DAY)["prefix"] == "61091000"
    # Republishing at the same time corrects that version.
    assert tariff(w, cx.de, "61091000", 300, 700, at=T0 + 2 * DAY)["ok"]
    assert matched("v3", T0 + 3 * DAY)["duty_bp"] == 300
    rows = sorted((r["prefix"], r["effective_from"], r["duty_bp"])
                  for r in w.tables["customs_tariffs"].values() if r["country"] == "DE")
    assert ("61091000", T0 + 2 * DAY, 300) in rows and ("610910", T0 + DAY, 1500) in rows


def test_a_version_cannot_rewrite_what_was_in_force(cx: Cx) -> None:
    """A tariff or rate dated before its publication takes effect when published: the
    version an assessment used stays the one state and the tables say was in force."""
    w, c = cx.w, cx.c
    w.time = T0 + DAY
    a = cx.declare("d1", [line("610910", 100_000, "USD")])["result"]
    w.time = T0 + 2 * DAY
    # Back-dated to before d1, and a "correction" of the version d1 used: both from now.
    for at in (T0 + DAY - 1, T0):
        r = tariff(w, cx.de, "610910", 5_000, 1900, at=at)
        assert r["ok"] and r["result"]["effective_from"] == T0 + 2 * DAY, r
        r = w.call(c.bank, "customs", "set_rate",
                   {"base": "USD", "quote": "EUR", "rate": 1, "time": at})
        assert r["ok"] and r["result"]["time"] == T0 + 2 * DAY, r
    assert w.get("customs/d/d1")["assessment"]["due"] == a["due"]  # frozen anyway
    tariffs = sorted((r["effective_from"], r["duty_bp"])
                     for r in w.tables["customs_tariffs"].values() if r["prefix"] == "610910")
    assert tariffs == [(T0, 1200), (T0 + 2 * DAY, 5_000)]
    rates = sorted((r["time"], r["rate"]) for r in w.tables["fx_rates"].values())
    assert rates == [(T0, USD_EUR), (T0 + 2 * DAY, 1)]
    assert [v["from"] for v in w.get("customs/t/DE/610910")] == [T0, T0 + 2 * DAY]
    assert cx.declare("d2", [line("610910", 100_000)])["result"]["lines"][0]["tariff"][
        "duty_bp"] == 5_000


def test_versions_are_pruned_and_bounded(cx: Cx) -> None:
    w = cx.w
    for k in range(1, 8):  # 7 scheduled + 1 current = 8, the most kept
        assert tariff(w, cx.de, "8471", 0, k, at=T0 + k * DAY)["ok"]
    err = w.fail("invalid_state", cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "8471", "currency": "EUR", "duty_bp": 0, "vat_bp": 9,
        "de_minimis": 0, "effective_from": T0 + 9 * DAY})
    assert err["details"]["current"] == "8 versions"
    # Once time has passed, superseded versions go and there is room again.
    w.time = T0 + 6 * DAY
    assert tariff(w, cx.de, "8471", 0, 9, at=T0 + 9 * DAY)["ok"]
    assert w.get("customs/t/DE/8471")[0]["from"] == T0 + 5 * DAY


def test_rates_are_published_by_the_appointed_settlement_org(cx: Cx) -> None:
    w, c = cx.w, cx.c
    rate = {"base": "GBP", "quote": "EUR", "rate": 1_170_000_000, "time": T0}
    w.fail("role_denied", cx.de, "customs", "set_rate", rate)
    w.fail("forbidden", w.participant("settlement"), "customs", "set_rate", rate)
    w.fail("validation_error", c.bank, "customs", "set_rate", {**rate, "quote": "GBP"})
    w.fail("validation_error", c.bank, "customs", "set_rate", {**rate, "rate": 0})
    w.fail("validation_error", c.bank, "customs", "set_rate", {**rate, "rate": 1.17})
    assert w.ok(c.bank, "customs", "set_rate", rate)["pair"] == "GBP/EUR"
    assert w.tables["fx_rates"][("GBP", "EUR", T0)]["rate"] == 1_170_000_000


# -- declaring ----------------------------------------------------------------------------------

def test_declaration_is_assessed_line_by_line_and_explained(cx: Cx) -> None:
    r = cx.declare("d1", [line("6109.10.00", 10_001, "USD", qty=40), line("611020", 10_005),
                          line("847130", 12_345)])
    assert r["ok"], r
    a = r["result"]
    # Independently: value -> EUR, duty on it, VAT on value + duty, each half-up.
    v0 = ref(Decimal(10_001) * Decimal("0.92"))  # 9200.92 -> 9201
    d0, d1 = ref(Decimal(v0) * Decimal("0.12")), ref(Decimal(10_005) * Decimal("0.08"))
    vat = [ref((Decimal(v0) + d0) * Decimal("0.19")), ref((Decimal(10_005) + d1) *
           Decimal("0.19")), ref(Decimal(12_345) * Decimal("0.10"))]
    assert vat[2] == 1235  # 1234.5 rounds up, not to even
    assert [ln["customs_value"] for ln in a["lines"]] == [v0, 10_005, 12_345]
    assert [ln["duty"] for ln in a["lines"]] == [d0, d1, 0]
    assert [ln["vat"] for ln in a["lines"]] == vat
    assert a["value"] == v0 + 10_005 + 12_345
    assert (a["duty"], a["vat"], a["due"]) == (d0 + d1, sum(vat), d0 + d1 + sum(vat))
    assert a["currency"] == "EUR" and "half-up" in a["rounding"]
    first = a["lines"][0]
    assert first["hs"] == "61091000" and first["tariff"]["prefix"] == "610910"
    assert first["fx"] == {"rate": USD_EUR, "scale": 10**9, "decimal": "0.920000000",
                           "from": T0, "pair": "USD/EUR"}
    assert a["lines"][1]["tariff"]["prefix"] == "61" and a["lines"][1]["fx"] is None
    row = cx.w.tables["customs_declarations"][("d1",)]
    assert (row["state"], row["declarant"], row["duty"], row["vat"], row["currency"],
            row["destination"], row["authority"]) == (
        "assessed", cx.c.seller, a["duty"], a["vat"], "EUR", "DE", cx.de_org)
    stored = cx.w.get("customs/d/d1")["assessment"]
    assert stored == {k: v for k, v in a.items() if k not in ("declaration", "state")}


def test_de_minimis_waives_duty_but_not_vat(cx: Cx) -> None:
    a = cx.declare("small", [line("611020", 14_999)])["result"]
    assert a["lines"][0]["duty_waived"] and a["duty"] == 0
    assert a["vat"] == ref(Decimal(14_999) * Decimal("0.19"))
    # The threshold applies to the whole declaration, not line by line.
    b = cx.declare("two", [line("611020", 7_500), line("611020", 7_500)])["result"]
    assert b["duty"] == 2 * 600 and not any(ln["duty_waived"] for ln in b["lines"])


def test_declare_refusals_write_nothing(cx: Cx) -> None:
    w, c = cx.w, cx.c
    ok_lines = [line("611020", 1_000)]
    base = {"id": "x", "origin": "CN", "destination": "DE", "incoterm": "DDP",
            "lines": ok_lines}
    w.fail("not_found", c.seller, "customs", "declare", {**base, "destination": "US"})
    e = w.fail("not_found", c.seller, "customs", "declare", {**base, "lines": [
        line("611020", 1_000), line("950300", 1_000)]})
    assert "no tariff" in e["message"] and e["details"]["hs"] == "950300"
    e = w.fail("not_found", c.seller, "customs", "declare",
               {**base, "lines": [line("611020", 1_000, "JPY")]})
    assert "JPY->EUR" in e["message"]
    for bad_hs in ("6110", "611020a", "001020", "61102"):
        w.fail("validation_error", c.seller, "customs", "declare",
               {**base, "lines": [line(bad_hs, 1_000)]})
    w.fail("validation_error", c.seller, "customs", "declare", {**base, "lines": []})
    w.fail("validation_error", c.seller, "customs", "declare",
           {**base, "lines": [line("611020", 1)] * 51})
    w.fail("validation_error", c.seller, "customs", "declare", {**base, "origin": "DE"})
    w.fail("validation_error", c.seller, "customs", "declare", {**base, "incoterm": "XYZ"})
    w.fail("validation_error", c.seller, "customs", "declare", {**base, "destination": "de"})
    # Overflow (and zero): one value, the total, the taxes on it, a conversion.
    w.ok(cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "2402", "currency": "EUR", "duty_bp": 50_000,
        "vat_bp": 1900, "de_minimis": 0, "effective_from": T0})
    for lines in ([line("611020", MAX_AMOUNT + 1)], [line("611020", 0)],
                  [line("611020", 6 * 10**14), line("611020", 6 * 10**14)],
                  [line("240220", 2 * 10**14)]):
        w.fail("invalid_amount", c.seller, "customs", "declare", {**base, "lines": lines})
    w.ok(c.bank, "customs", "set_rate",
         {"base": "KWD", "quote": "EUR", "rate": 2_900_000_000, "time": T0})
    e = w.fail("invalid_amount", c.seller, "customs", "declare",
               {**base, "lines": [line("611020", MAX_AMOUNT // 2, "KWD")]})
    assert "KWD" in e["message"]
    w.fail("role_denied", c.buyer, "customs", "declare", base)
    w.fail("role_denied", cx.de, "customs", "declare", base)
    assert cx.declare("x", ok_lines)["ok"]
    w.fail("already_exists", c.carrier, "customs", "declare", base)


def test_declaring_an_order_needs_a_party_to_it(cx: Cx) -> None:
    w, c = cx.w, cx.c
    b = cx.dispatched()
    lines = [line("611020", 10_000)]
    other = w.participant("supplier")
    assert cx.declare("x", lines, signer=other, order="o1")["error"]["code"] == "forbidden"
    assert cx.declare("x", lines, order="nope")["error"]["code"] == "not_found"
    assert cx.declare("x", lines, order="o1", batches=["urn:x"])["error"]["code"] == \
        "not_found"
    r = cx.declare("x", lines, signer=c.carrier, order="o1", batches=[b])
    assert r["ok"], r
    assert w.tables["customs_declarations"][("x",)]["order_id"] == "o1"
    assert w.get("customs/d/x")["batches"] == [b]


def test_goods_under_a_declaration_reach_the_buyer_only_once_cleared(cx: Cx) -> None:
    w, c = cx.w, cx.c
    cx.dispatched()
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    lines = [line("611020", 10_000)]  # the order's price: 10 x 1000
    d1 = cx.declare("d1", lines, order="o1")
    assert d1["ok"], d1
    # One declaration at a time per order, until the authority rejects it.
    err = cx.declare("d2", lines, order="o1", signer=c.carrier)["error"]
    assert (err["code"], err["details"]["declaration"]) == ("already_exists", "d1")
    err = w.fail("invalid_state", c.carrier, "orders", "deliver", {"order": "o1"})
    assert err["details"] == {"current": "in_transit", "declaration": "d1",
                              "customs": "assessed"}
    c.fund(c.seller, d1["result"]["due"])
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "invoice missing"})
    assert w.fail("invalid_state", c.carrier, "orders", "deliver",
                  {"order": "o1"})["details"]["customs"] == "rejected"
    d2 = cx.declare("d2", lines, order="o1")
    assert d2["ok"], d2
    w.ok(c.seller, "customs", "pay", {"declaration": "d2"})
    w.ok(cx.de, "customs", "hold", {"declaration": "d2", "reason": "inspection"})
    assert w.fail("invalid_state", c.carrier, "orders", "deliver",
                  {"order": "o1"})["details"]["customs"] == "held"
    w.ok(cx.de, "customs", "release", {"declaration": "d2"})
    w.ok(cx.de, "customs", "clear", {"declaration": "d2"})
    assert w.ok(c.carrier, "orders", "deliver", {"order": "o1"})["state"] == "delivered"


def test_custody_reaches_the_buyer_only_once_cleared(cx: Cx) -> None:
    """custody.propose is no way round the hold: custody of an order's goods under a
    declaration not cleared may go to a (bonded) warehouse, not to the buyer's side."""
    w, c = cx.w, cx.c
    b = cx.dispatched()
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    due = cx.declare("d1", [line("611020", 10_000)], order="o1")["result"]["due"]
    offer = {"batch": b, "to": c.buyer, "kind": "custody"}
    err = w.fail("invalid_state", c.carrier, "custody", "propose", offer)
    assert err["details"] == {"current": "assessed", "declaration": "d1", "order": "o1"}
    warehouse = w.participant("warehouse")
    prop = w.ok(c.carrier, "custody", "propose", {**offer, "to": warehouse})["proposal"]
    w.ok(warehouse, "custody", "accept", {"proposal": prop})
    w.fail("invalid_state", warehouse, "custody", "propose", offer)
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    w.ok(cx.de, "customs", "clear", {"declaration": "d1"})
    prop = w.ok(warehouse, "custody", "propose", offer)["proposal"]
    w.ok(c.buyer, "custody", "accept", {"proposal": prop})
    assert w.ok(c.carrier, "orders", "deliver", {"order": "o1"})["state"] == "delivered"


def test_a_bogus_declaration_cannot_keep_the_buyers_money(cx: Cx) -> None:
    """Decision: the hold protects the destination country, not a party. A declaration
    that blocks a delivery it should not (a seller's, to a country whose authority never
    decides) leaves the buyer and the transporter the dispute: the arbiter shares out the
    escrow, which never pays the seller without a delivery or a ruling."""
    w, c = cx.w, cx.c
    cx.dispatched(10_500)
    w.ok(c.carrier, "orders", "pickup", {"order": "o1"})
    assert tariff(w, cx.fr, "61", 0, 0, cc="FR")["ok"]
    assert cx.declare("bogus", [line("611020", 10_000)], order="o1", destination="FR")["ok"]
    w.fail("invalid_state", c.carrier, "orders", "deliver", {"order": "o1"})
    w.ok(c.buyer, "orders", "dispute", {"order": "o1", "reason": "seller blocks delivery"})
    w.ok(c.arbiter, "orders", "resolve", {"order": "o1", "refund": 10_000,
                                          "freight_paid": 500, "at_fault": "seller",
                                          "ownership": "seller"})
    assert (w.balance(c.buyer), w.balance(c.carrier), w.balance(c.seller)) == (10_000, 500, 0)


# -- paying and deciding ------------------------------------------------------------------------

def _declared(cx: Cx, did: str = "d1", value: int = 50_000) -> int:
    r = cx.declare(did, [line("611020", value)])
    assert r["ok"], r
    due: int = r["result"]["due"]
    return due


def test_pay_holds_the_duties_in_escrow(cx: Cx) -> None:
    w, c = cx.w, cx.c
    due = _declared(cx)
    e = w.fail("insufficient_funds", c.seller, "customs", "pay", {"declaration": "d1"})
    assert e["details"] == {"needed": due, "available": 0, "currency": "EUR"}
    c.fund(c.seller, due + 10)
    w.fail("forbidden", c.carrier, "customs", "pay", {"declaration": "d1"})
    w.fail("not_found", c.seller, "customs", "pay", {"declaration": "nope"})
    assert w.ok(c.seller, "customs", "pay", {"declaration": "d1"})["paid"] == due
    assert w.balance(c.seller) == 10
    assert w.get("payments/x/customs:d1")["amount"] == due
    e = w.fail("invalid_state", c.seller, "customs", "pay", {"declaration": "d1"})
    assert e["details"]["current"] == "paid"
    assert w.tables["balances"][("escrow:customs:d1", "EUR")]["balance"] == due
    assert w.tables["customs_declarations"][("d1",)]["paid"] == due


def test_clear_needs_payment_and_pays_the_authority(cx: Cx) -> None:
    w, c = cx.w, cx.c
    due = _declared(cx)
    e = w.fail("invalid_state", cx.de, "customs", "clear", {"declaration": "d1"})
    assert e["details"]["current"] == "assessed" and e["details"]["due"] == due
    c.fund(c.seller, due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    w.fail("forbidden", cx.fr, "customs", "clear", {"declaration": "d1"})
    w.fail("role_denied", c.seller, "customs", "clear", {"declaration": "d1"})
    res = w.ok(cx.de2, "customs", "clear", {"declaration": "d1"})
    acct = f"org:{cx.de_org}"
    assert res == {"declaration": "d1", "state": "cleared", "collected": due, "account": acct}
    assert w.balance(acct) == due and w.get("payments/x/customs:d1")["amount"] == 0
    for m in ("clear", "release"):
        e = w.fail("invalid_state", cx.de, "customs", m, {"declaration": "d1"})
        assert e["details"]["current"] == "cleared"
    for m in ("hold", "reject"):
        w.fail("invalid_state", cx.de, "customs", m, {"declaration": "d1", "reason": "r"})
    # The authority's bank pays its account out like any other.
    w.ok(c.bank, "payments", "withdraw", {"account": acct, "currency": "EUR", "amount": due})
    assert w.balance(acct) == 0
    hist = sorted((r["event"], r["state"]) for r in w.tables["customs_history"].values())
    assert hist == [("cleared", "cleared"), ("declared", "assessed"), ("paid", "paid")]


def test_nothing_due_clears_without_payment(cx: Cx) -> None:
    w, c = cx.w, cx.c
    w.ok(cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "4901", "currency": "EUR", "duty_bp": 0, "vat_bp": 0,
        "de_minimis": 0, "effective_from": T0})
    assert cx.declare("books", [line("490199", 3_000)])["result"]["due"] == 0
    e = w.fail("invalid_state", c.seller, "customs", "pay", {"declaration": "books"})
    assert "nothing is due" in e["message"]
    assert w.ok(cx.de, "customs", "clear", {"declaration": "books"})["collected"] == 0


def test_hold_release_and_reject_with_refund(cx: Cx) -> None:
    w, c = cx.w, cx.c
    due = _declared(cx, "d1")
    _declared(cx, "d2")
    c.fund(c.seller, 2 * due)
    w.ok(c.seller, "customs", "pay", {"declaration": "d1"})
    hold = {"declaration": "d1", "reason": "physical inspection"}
    w.fail("forbidden", cx.fr, "customs", "hold", hold)
    w.fail("validation_error", cx.de, "customs", "hold", {"declaration": "d1"})
    assert w.ok(cx.de, "customs", "hold", hold)["state"] == "held"
    for m in ("clear", "pay", "hold"):
        e = w.fail("invalid_state", c.seller if m == "pay" else cx.de, "customs", m,
                   {"declaration": "d1"} | ({"reason": "x"} if m == "hold" else {}))
        assert e["details"]["current"] == "held"
    assert w.ok(cx.de, "customs", "release", {"declaration": "d1"})["state"] == "paid"
    w.fail("invalid_state", cx.de, "customs", "release", {"declaration": "d1"})
    w.ok(cx.de, "customs", "hold", hold)
    res = w.ok(cx.de, "customs", "reject", {"declaration": "d1", "reason": "counterfeit"})
    assert res == {"declaration": "d1", "state": "rejected", "refunded": due}
    assert w.balance(c.seller) == 2 * due and w.balance(f"org:{cx.de_org}") == 0
    e = w.fail("invalid_state", cx.de, "customs", "clear", {"declaration": "d1"})
    assert e["details"]["current"] == "rejected"
    # An unpaid declaration: held from assessed, released back, rejected with no refund.
    w.ok(cx.de, "customs", "hold", {"declaration": "d2", "reason": "documents"})
    assert w.ok(cx.de, "customs", "release", {"declaration": "d2"})["state"] == "assessed"
    assert w.ok(cx.de, "customs", "reject", {"declaration": "d2", "reason": "no licence"}
                )["refunded"] == 0
    reasons = {(r["declaration"], r["event"]): r["reason"]
               for r in w.tables["customs_history"].values()}
    assert reasons[("d1", "rejected")] == "counterfeit"
    assert reasons[("d1", "held")] == "physical inspection"


# -- money is conserved -------------------------------------------------------------------------

ACTS = ("declare", "declare", "pay", "pay", "pay", "clear", "clear", "hold", "release",
        "reject", "deposit", "withdraw", "rate")
FUNDS = 10**10


class Sim:
    """Two authorities (DE in EUR, US in USD), a bank, a funded seller; counts the supply."""

    def __init__(self) -> None:
        w = self.w = World()
        self.bank, self.seller = w.participant("settlement"), w.participant("supplier")
        self.officer = {"DE": w.participant("customs"), "US": w.participant("customs")}
        self.supply: Counter[str] = Counter()
        for cc, ccy in (("DE", "EUR"), ("US", "USD")):
            appoint(w, cc, w.get(f"identity/p/{self.officer[cc]}")["org"], ccy)
            w.ok(self.officer[cc], "customs", "set_tariff", {
                "country": cc, "hs_prefix": "61", "currency": ccy, "duty_bp": 1200,
                "vat_bp": 1900, "de_minimis": 5_000, "effective_from": T0})
            self.money("deposit", self.seller, ccy, FUNDS)
        bank_org = w.get(f"identity/p/{self.bank}")["org"]
        for base, quote, rate in (("USD", "EUR", 920_000_000), ("EUR", "USD", 1_087_000_000)):
            appoint_rates(w, quote, bank_org)
            w.ok(self.bank, "customs", "set_rate",
                 {"base": base, "quote": quote, "rate": rate, "time": T0})
        self.decls: list[str] = []

    def money(self, act: str, account: str, ccy: str, amount: int) -> dict[str, Any]:
        r = self.w.call(self.bank, "payments", act,
                        {"account": account, "currency": ccy, "amount": amount})
        self.supply[ccy] += amount * (1 if act == "deposit" else -1) * r["ok"]
        return r

    def step(self, n: int, act: str, k: int, v: int) -> dict[str, Any]:
        w, ccy = self.w, ("EUR", "USD")[k // 2 % 2]
        if act == "declare":
            r = w.call(self.seller, "customs", "declare", {
                "id": f"d{n}", "origin": "CN", "destination": ("DE", "US")[k % 2],
                "incoterm": "DAP", "lines": [line("611020", 1 + v, ccy),
                                             line("610910", 7 + v % 1000)]})
            self.decls += [f"d{n}"] if r["ok"] else []
            return r
        if act in ("deposit", "withdraw"):
            authority = self.w.get(f"identity/p/{self.officer['DE']}")["org"]
            return self.money(act, (self.seller, f"org:{authority}")[k % 2], ccy, 1 + v)
        if act == "rate":
            return w.call(self.bank, "customs", "set_rate", {
                "base": "USD", "quote": "EUR", "rate": 1 + v * 100, "time": w.time})
        # Mostly a declaration the action is legal for, so runs reach deep; else any.
        states = ("paid",) if act == "clear" else TRANSITIONS[act][0]  # assessed: if none due
        legal = [d for d in self.decls if w.get(f"customs/d/{d}")["state"] in states]
        pool = legal if legal and k % 3 else self.decls
        d = pool[v % len(pool)] if pool else "none"
        if act == "pay":  # now and then by someone else
            return w.call(self.seller if k % 5 else self.bank, "customs", "pay",
                          {"declaration": d})
        dest = (w.get(f"customs/d/{d}") or {"destination": "DE"})["destination"]
        # Mostly an officer of the declaration's own authority, now and then the other one.
        officer = self.officer[dest if k % 4 else {"DE": "US", "US": "DE"}[dest]]
        return w.call(officer, "customs", act, {"declaration": d} | (
            {"reason": "r"} if act in ("hold", "reject") else {}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ACTS), st.integers(0, 9), st.integers(0, 10**7)),
                min_size=15, max_size=50))
def test_money_is_conserved_per_currency(steps: list[tuple[str, int, int]]) -> None:
    """Per currency, balances + escrows (the authorities' accounts included) always equal
    deposits minus withdrawals; an escrow holds a declaration's dues exactly while it is
    paid or held after paying, and nothing once cleared or rejected."""
    sim = Sim()
    w = sim.w
    for n, (act, k, v) in enumerate(steps):
        sim.step(n, act, k, v)
        w.time += 1
        for c in ("EUR", "USD"):
            assert w.money_in_ledger(c) == sim.supply[c] == read_supply(w.read, c)
    for d in sim.decls:
        rec, x = w.get(f"customs/d/{d}"), w.get(f"payments/x/customs:{d}")
        held = 0 if x is None else x["amount"]
        assert held == (rec["paid"] if rec["state"] in ("paid", "held") else 0)
        assert rec["paid"] in (0, rec["due"])


# -- on a real node, audited --------------------------------------------------------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Consortium, dict[str, str]]]:
    cons = Consortium(tmp_path_factory.mktemp("customs") / "ledger", chain="customs",
                      clock=lambda: T0)
    for org, roles in (("bank", ["settlement"]), ("seller", ["supplier"]),
                       ("zoll", ["customs"])):
        cons.org(org, roles)
        cons.member(org, org, roles)
    p = cons.parties
    cons.ok(p["bank"], "payments", "deposit",
            {"account": p["seller"].did, "currency": "EUR", "amount": 100_000})
    cons.ok(cons.admin, "customs", "appoint", {"country": "DE", "org": "zoll",
                                               "currency": "EUR"})
    cons.ok(p["zoll"], "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "6109", "currency": "EUR", "duty_bp": 1200,
        "vat_bp": 1900, "de_minimis": 15_000, "effective_from": T0})
    cons.ok(cons.admin, "customs", "appoint_rates", {"quote": "EUR", "org": "bank"})
    cons.ok(p["bank"], "customs", "set_rate",
            {"base": "USD", "quote": "EUR", "rate": USD_EUR, "time": T0})
    for did in ("n1", "n2"):
        cons.ok(p["seller"], "customs", "declare", {
            "id": did, "origin": "VN", "destination": "DE", "incoterm": "DDP",
            "lines": [line("610910", 30_000, "USD"), line("6109.90", 2_000)]})
        cons.ok(p["seller"], "customs", "pay", {"declaration": did})
    cons.ok(p["zoll"], "customs", "hold", {"declaration": "n1", "reason": "sample check"})
    cons.ok(p["zoll"], "customs", "release", {"declaration": "n1"})
    cons.ok(p["zoll"], "customs", "clear", {"declaration": "n1"})
    cons.ok(p["zoll"], "customs", "reject", {"declaration": "n2", "reason": "labelling"})
    r = cons.call(p["seller"], "customs", "clear", {"declaration": "n2"})
    assert not r.ok and r.error is not None and r.error["code"] == "role_denied"
    cons.stop()
    yield cons, {n: q.did for n, q in p.items()}


def _rows(d: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_node_projects_declarations_and_the_audit_rebuilds_them(
        node: tuple[Consortium, dict[str, str]]) -> None:
    cons, did = node
    decl = _rows(cons.dir, "SELECT id, state, duty, vat, paid FROM customs_declarations "
                           "ORDER BY id")
    v = ref(Decimal(30_000) * Decimal("0.92"))  # 27600 + 2000 EUR, above de minimis
    duty = ref(Decimal(v) * Decimal("0.12")) + ref(Decimal(2_000) * Decimal("0.12"))
    assert [r[:3] for r in decl] == [("n1", "cleared", duty), ("n2", "rejected", duty)]
    due = decl[0][3] + decl[0][2]
    assert decl[0][4] == due
    bal = dict(_rows(cons.dir, "SELECT account, balance FROM balances"))
    assert bal[did["seller"]] == 100_000 - due and bal["org:zoll"] == due
    assert bal["escrow:customs:n1"] == bal["escrow:customs:n2"] == 0
    kinds = dict(_rows(cons.dir, "SELECT account, kind FROM balances"))
    assert (kinds["org:zoll"], kinds["escrow:customs:n1"], kinds[did["seller"]]) == (
        "organisation", "escrow", "participant")
    hist = _rows(cons.dir, "SELECT event FROM customs_history WHERE declaration='n1' "
                           "ORDER BY height")
    assert [h[0] for h in hist] == ["declared", "paid", "held", "released", "cleared"]
    assert _rows(cons.dir, "SELECT COUNT(*) FROM customs_tariffs") == [(1,)]
    report = run_audit(cons.dir)
    assert report.ok, report.findings[:3]
    covered = {"customs_declarations", "customs_history", "customs_tariffs", "fx_rates",
               "balances"}
    assert covered.isdisjoint(u["table"] for u in report.uncovered_tables)
