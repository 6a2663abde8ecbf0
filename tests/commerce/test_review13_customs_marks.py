"""Review 13, customs rules v4: a tariff or exchange-rate version can no longer take effect
behind an assessment already made.

A transaction's time is its signer's, within the node's window around its clock (±5 min by
default). Under v1-v3 a version starts at the later of its requested time and its
transaction's, so a publisher signing minutes in the past put a new version in force from
before declarations already assessed with the previous one: state and the tables then said
another rate applied than the one the assessment used. Under v4 every assessment raises a
high-water mark (per country for tariffs, per rate version for exchange rates) and a new
version starts after it. v3 ledgers re-execute as they were decided until an admin adopts
v4."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.bench.consortium import Consortium
from supplyledger.cli.main import app
from supplyledger.contracts.builtin._customs_model import in_force
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit

from .conftest import DAY, T0, Cast, World
from .test_customs import USD_EUR, Cx, appoint, customs_world, line

MIN = 60_000
NOW = T0 + DAY  # the node's clock when the calls below are signed
AHEAD = NOW + 4 * MIN  # a declarant's time, within the window ahead of the clock
BEHIND = NOW - 4 * MIN  # a publisher's time, within the window behind it


def _adopt(w: World, version: int) -> None:
    w.ok(w.admin, "rules", "adopt", {"contract": "customs", "version": version})


def _declare(cx: Cx, did: str, lines: list[dict[str, Any]], at: int) -> dict[str, Any]:
    res: dict[str, Any] = cx.w.ok(cx.c.seller, "customs", "declare", {
        "id": did, "origin": "CN", "destination": "DE", "incoterm": "DDP", "lines": lines},
        time=at)
    return res


def _set_tariff(cx: Cx, prefix: str, duty: int, at: int, who: str | None = None) -> int:
    """Publish a DE tariff signed at ``at`` and requested from then; the start used."""
    res = cx.w.ok(who or cx.de, "customs", "set_tariff", {
        "country": "DE", "hs_prefix": prefix, "currency": "EUR", "duty_bp": duty,
        "vat_bp": 1900, "de_minimis": 15_000, "effective_from": at}, time=at)
    start: int = res["effective_from"]
    return start


def _set_rate(cx: Cx, base: str, rate: int, at: int) -> int:
    res = cx.w.ok(cx.c.bank, "customs", "set_rate",
                  {"base": base, "quote": "EUR", "rate": rate, "time": at}, time=at)
    start: int = res["time"]
    return start


def _table_duty(w: World, prefix: str, at: int) -> int | None:
    """The duty the ``customs_tariffs`` table says was in force for DE ``prefix`` at ``at``."""
    rows = [r for r in w.tables["customs_tariffs"].values()
            if (r["country"], r["prefix"]) == ("DE", prefix) and r["effective_from"] <= at]
    return max(rows, key=lambda r: r["effective_from"])["duty_bp"] if rows else None


def _table_rate(w: World, base: str, at: int) -> int | None:
    rows = [r for r in w.tables["fx_rates"].values()
            if (r["base"], r["quote"]) == (base, "EUR") and r["time"] <= at]
    return max(rows, key=lambda r: r["time"])["rate"] if rows else None


def _state(w: World, key: str, at: int) -> dict[str, Any]:
    """The version state ``customs/<key>`` says was in force at ``at``."""
    v = in_force(w.get(f"customs/{key}"), at)
    assert v is not None, (key, at)
    return v


def _clear(cx: Cx, did: str, due: int) -> dict[str, Any]:
    cx.c.fund(cx.c.seller, due)
    cx.w.ok(cx.c.seller, "customs", "pay", {"declaration": did})
    res: dict[str, Any] = cx.w.ok(cx.de, "customs", "clear", {"declaration": did})
    return res


@pytest.fixture
def cx4(cast: Cast) -> Cx:
    cx = customs_world(cast)
    _adopt(cx.w, 4)
    return cx


def test_v4_a_back_dated_tariff_starts_after_the_assessment_made_before_it(cx4: Cx) -> None:
    cx, w = cx4, cx4.w
    d1 = _declare(cx, "d1", [line("6109.10.00", 100_000)], AHEAD)
    assert d1["lines"][0]["tariff"]["duty_bp"] == 1200
    assert w.get("customs/c/DE")["tariffs_used"] == AHEAD
    # Signed 4 minutes behind the clock, after d1 was assessed 4 minutes ahead of it: a
    # new rate for the prefix d1 matched, a longer one that would have matched instead,
    # and another prefix of the country (the mark is the country's).
    for prefix in ("610910", "61091000", "8471"):
        assert _set_tariff(cx, prefix, 5_000, BEHIND) == AHEAD + 1, prefix
    # State and the tables still say d1's rate was in force at d1's time.
    assert _state(w, "t/DE/610910", AHEAD)["duty_bp"] == 1200
    assert in_force(w.get("customs/t/DE/61091000"), AHEAD) is None
    assert _table_duty(w, "610910", AHEAD) == 1200 and _table_duty(w, "61091000", AHEAD) is None
    published = [e for t, e in w.events if t == "customs.tariff_set"][-3:]
    assert {e["effective_from"] for e in published} == {AHEAD + 1}
    # Paying and clearing collect what d1 was assessed at; it is never re-assessed.
    res = _clear(cx, "d1", d1["due"])
    assert res["collected"] == d1["due"]
    assert w.get("customs/d/d1")["assessment"]["lines"] == d1["lines"]
    assert w.tables["customs_declarations"][("d1",)]["duty"] == d1["duty"]
    # The new versions apply from their start on.
    d2 = _declare(cx, "d2", [line("6109.10.00", 100_000)], AHEAD + 1)
    assert d2["lines"][0]["tariff"] == {"prefix": "61091000", "from": AHEAD + 1,
                                        "duty_bp": 5_000, "vat_bp": 1900,
                                        "de_minimis": 15_000}


def test_v4_a_back_dated_rate_starts_after_the_assessment_that_converted_at_it(
        cx4: Cx) -> None:
    cx, w = cx4, cx4.w
    d1 = _declare(cx, "d1", [line("610910", 100_000, "USD")], AHEAD)
    assert d1["lines"][0]["fx"]["rate"] == USD_EUR
    assert _set_rate(cx, "USD", 1_000_000_000, BEHIND) == AHEAD + 1
    assert _state(w, "fx/USD/EUR", AHEAD)["rate"] == USD_EUR
    assert w.get("customs/fx/USD/EUR")[0]["used"] == AHEAD
    assert _table_rate(w, "USD", AHEAD) == USD_EUR
    assert _table_rate(w, "USD", AHEAD + 1) == 1_000_000_000
    # A pair no assessment used is not held back: the mark is the pair's.
    assert _set_rate(cx, "GBP", 1_170_000_000, BEHIND) == BEHIND
    # A refused declaration (no tariff for chapter 99) raises no mark: its writes are
    # undone with the rest, so the version from AHEAD + 1, never used, is still corrected
    # in place by a publication requested before it.
    w.fail("not_found", cx.c.seller, "customs", "declare", {
        "id": "d9", "origin": "CN", "destination": "DE", "incoterm": "DDP",
        "lines": [line("610910", 10, "USD"), line("990000", 10)]}, time=AHEAD + 2)
    assert _set_rate(cx, "USD", 990_000_000, BEHIND) == AHEAD + 1
    assert [v["rate"] for v in w.get("customs/fx/USD/EUR")] == [USD_EUR, 990_000_000]
    assert _clear(cx, "d1", d1["due"])["collected"] == d1["due"]
    assert w.get("customs/d/d1")["assessment"]["lines"][0]["fx"] == d1["lines"][0]["fx"]


def test_v3_keeps_the_back_dated_start_until_v4_is_adopted_mid_ledger(cast: Cast) -> None:
    """Before the adoption, blocks re-execute as they were decided: the back-dated versions
    start at their transactions' times. After it, the next assessment sets the marks (those
    made under v3 left none) and an authority appointed since is held to them too."""
    cx = customs_world(cast)
    w = cx.w
    _adopt(w, 3)
    _declare(cx, "d1", [line("610910", 100_000, "USD")], AHEAD)
    assert _set_tariff(cx, "610910", 5_000, BEHIND) == BEHIND
    assert _set_rate(cx, "USD", 1_000_000_000, BEHIND) == BEHIND
    assert _state(w, "t/DE/610910", AHEAD)["duty_bp"] == 5_000
    assert "tariffs_used" not in w.get("customs/c/DE")
    assert all("used" not in v for v in w.get("customs/fx/USD/EUR"))

    w.time = NOW + DAY
    _adopt(w, 4)
    # v3's assessment left no mark: still the transaction's time.
    assert _set_tariff(cx, "8471", 100, w.time - 4 * MIN) == w.time - 4 * MIN
    later = w.time + 4 * MIN
    d2 = _declare(cx, "d2", [line("610910", 100_000, "USD")], later)
    assert d2["lines"][0]["tariff"]["duty_bp"] == 5_000
    # The country handed to another authority: the mark stays with the country.
    fr_org = w.get(f"identity/p/{cx.fr}")["org"]
    appoint(w, "DE", fr_org)
    assert w.get("customs/c/DE")["tariffs_used"] == later
    assert _set_tariff(cx, "610910", 700, w.time - 4 * MIN, who=cx.fr) == later + 1
    assert _set_rate(cx, "USD", 900_000_000, w.time - 4 * MIN) == later + 1
    assert _state(w, "t/DE/610910", later)["duty_bp"] == 5_000
    assert _state(w, "fx/USD/EUR", later)["rate"] == 1_000_000_000


# -- on a real node: a new ledger runs v4, and admits times within its window ------------------

@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Consortium, dict[str, Any]]]:
    cons = Consortium(tmp_path_factory.mktemp("customs4") / "ledger", chain="customs",
                      clock=lambda: T0)
    for org, roles in (("bank", ["settlement"]), ("seller", ["supplier"]),
                       ("zoll", ["customs"])):
        cons.org(org, roles)
        cons.member(org, org, roles)
    p = cons.parties
    cons.ok(cons.admin, "customs", "appoint", {"country": "DE", "org": "zoll",
                                               "currency": "EUR"})
    cons.ok(cons.admin, "customs", "appoint_rates", {"quote": "EUR", "org": "bank"})
    cons.ok(p["zoll"], "customs", "set_tariff", {
        "country": "DE", "hs_prefix": "6109", "currency": "EUR", "duty_bp": 1200,
        "vat_bp": 1900, "de_minimis": 15_000, "effective_from": T0})
    cons.ok(p["bank"], "customs", "set_rate",
            {"base": "USD", "quote": "EUR", "rate": USD_EUR, "time": T0})
    declared = cons.ok(p["seller"], "customs", "declare", {
        "id": "n1", "origin": "VN", "destination": "DE", "incoterm": "DDP",
        "lines": [line("610910", 30_000, "USD")]})
    # Both publishers sign 4 minutes behind the node's clock, which admits it.
    behind = T0 - 4 * MIN
    replies = {}
    for n, (who, method, args) in enumerate((
            ("zoll", "set_tariff", {"country": "DE", "hs_prefix": "6109", "currency": "EUR",
                                    "duty_bp": 3_000, "vat_bp": 1900, "de_minimis": 15_000,
                                    "effective_from": behind}),
            ("bank", "set_rate", {"base": "USD", "quote": "EUR", "rate": 10**9,
                                  "time": behind}))):
        tx = make_tx(p[who].key, chain=cons.chain, contract="customs", method=method,
                     args=args, time_ms=behind, nonce=f"behind-{n}")
        r = cons.node.submit(tx.raw).result(60)
        assert r.ok, r.error
        replies[method] = r.result
    cons.stop()
    yield cons, {"declared": declared, **replies}


def test_a_new_ledger_runs_v4_and_its_node_starts_back_dated_versions_after_the_assessment(
        node: tuple[Consortium, dict[str, Any]]) -> None:
    cons, out = node
    assert out["declared"]["lines"][0]["tariff"]["duty_bp"] == 1200
    assert out["set_tariff"]["effective_from"] == T0 + 1
    assert out["set_rate"]["time"] == T0 + 1
    assert cons.rows("SELECT effective_from, duty_bp FROM customs_tariffs ORDER BY 1") == [
        (T0, 1200), (T0 + 1, 3_000)]
    assert cons.rows("SELECT time, rate FROM fx_rates ORDER BY 1") == [
        (T0, USD_EUR), (T0 + 1, 10**9)]
    res = CliRunner().invoke(app, ["rules", "--data", str(cons.dir), "--json"])
    assert res.exit_code == 0, res.output
    customs = next(r for r in json.loads(res.output)["contracts"] if r["contract"] == "customs")
    # (customs v5 and v6, newer than this test, change only the words of refusals and
    # refuse a non-ISO currency before execution)
    assert (customs["in_force"], customs["implemented"]) == (6, [1, 2, 3, 4, 5, 6])
    report = run_audit(cons.dir, workers=0)
    assert report.ok, report.findings[:3]
