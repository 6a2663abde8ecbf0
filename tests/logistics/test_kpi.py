"""KPIs, pure: periods in UTC, every KPI's definition on hand-made rows with hand-computed
values, empty periods, platform filters and tariff validation."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from supplyledger.errors import ValidationError
from supplyledger.logistics import periods as P
from supplyledger.logistics.kpi import (
    DIRECT,
    BreachFacts,
    KpiInput,
    OrderFacts,
    RatingFacts,
    ShipmentFacts,
    Tariff,
    compute,
    parse_tariffs,
)
from supplyledger.logistics.kpi_format import cells, money

H = 3_600_000
OCT = 1_790_812_800_000  # 2026-10-01T00:00Z
NOV = 1_793_491_200_000  # 2026-11-01T00:00Z
DEC = 1_796_083_200_000  # 2026-12-01T00:00Z
TARIFF = {"EUR": Tariff(storage_per_unit_day=24, handling_per_order=100, handling_per_unit=5)}


# -- periods ----------------------------------------------------------------------------------

def test_months_and_weeks_are_half_open_utc_intervals() -> None:
    nov = P.month("2026-11")
    assert (nov.start, nov.end) == (NOV, DEC)
    assert NOV in nov and DEC - 1 in nov and DEC not in nov and NOV - 1 not in nov
    # ISO week 1 of 2026 starts on Monday 2025-12-29.
    w1 = P.week("2026-W01")
    assert w1.start == 1_766_966_400_000 and w1.end == 1_767_571_200_000
    assert P.containing("week", 1_767_225_600_000) == w1  # 2026-01-01 is a Thursday of W01
    assert P.containing("month", DEC - 1) == nov
    rng = P.date_range("2026-11-03", "2026-11-03")
    assert rng.end - rng.start == 24 * H and rng.label == "2026-11-03..2026-11-03"


def test_span_lists_empty_periods_too() -> None:
    months = P.span("month", OCT + 5, DEC + 40 * 24 * H)
    assert [p.label for p in months] == ["2026-10", "2026-11", "2026-12", "2027-01"]
    assert all(a.end == b.start for a, b in itertools.pairwise(months))


@pytest.mark.parametrize(("fn", "arg"), [
    (P.month, "2026-13"), (P.month, "2026-1"), (P.month, "nov"), (P.week, "2026-W54"),
    (P.week, "2026W01"), (lambda a: P.date_range(a, "2026-11-01"), "2026-11-02"),
    (lambda a: P.date_range(a, "2026-11-01"), "1.11.2026"),
    (lambda a: P.containing(a, NOV), "year"),
])
def test_bad_period_labels_are_refused(fn: Any, arg: str) -> None:
    with pytest.raises(ValidationError):
        fn(arg)


# -- KPIs on hand-made rows --------------------------------------------------------------------

def order(oid: str, placed: int, **kw: Any) -> OrderFacts:
    base: dict[str, Any] = {"platform": "pA", "currency": "EUR", "quantity": 10,
                            "delivered": 0, "freight": 500, "state": "placed",
                            "latest": placed + 72 * H}
    return OrderFacts(id=oid, placed_at=placed, **{**base, **kw})


def rows(data: KpiInput, *labels: str, **kw: Any) -> list[dict[str, Any]]:
    out = compute(data, [P.month(x) for x in labels], tariffs=TARIFF, **kw)
    return [r for p in out for r in p["periods"]]


# Platform A in November: o1 on time in full, o2 short (final), o3 late, o4 overdue and
# undelivered, o5 cancelled, o6 due in December (not decided yet), o7 placed in October.
ORDERS = [
    order("o1", NOV + 1 * H, dispatched_at=NOV + 3 * H, delivered_at=NOV + 27 * H,
          delivered=10, on_time=1, state="completed", batch="b1",
          co2e_g=1200),
    order("o2", NOV + 2 * H, dispatched_at=NOV + 6 * H, delivered_at=NOV + 20 * H,
          delivered=8, on_time=1, state="delivered", quantity=10, batch="b2", co2e_g=301),
    order("o3", NOV + 3 * H, dispatched_at=NOV + 4 * H, delivered_at=NOV + 90 * H,
          delivered=10, on_time=0, latest=NOV + 80 * H, state="delivered", batch="b3"),
    order("o4", NOV + 4 * H, latest=NOV + 50 * H),
    order("o5", NOV + 5 * H, state="cancelled", latest=NOV + 40 * H),
    order("o6", DEC - 2 * H, latest=DEC + 70 * H),
    order("o7", OCT + 1 * H, dispatched_at=NOV + 1 * H, latest=NOV + 60 * H,
          delivered_at=NOV + 30 * H, delivered=10, on_time=1, state="completed", batch="b7"),
]
AS_OF = DEC - H
DATA = KpiInput(
    as_of=AS_OF, orders=ORDERS,
    ratings=[RatingFacts("o1", "pA", 5, NOV + 30 * H), RatingFacts("o2", "pA", 4, NOV + 31 * H),
             RatingFacts("o7", "pA", 4, NOV + 32 * H), RatingFacts("x", "pA", 1, OCT + H)],
    shipments=[ShipmentFacts("s1", "pA", NOV + 3 * H, (), ("o1",), NOV + 3 * H, NOV + 27 * H),
               ShipmentFacts("s2", "pA", NOV + 5 * H, ("b3",), ("o3",), NOV + 5 * H),
               ShipmentFacts("s3", "pA", NOV + 5 * H, (), ("o2",), NOV + 6 * H, NOV + 20 * H)],
    # b1's breach happened during transport; b7's only after delivery (not the carrier's).
    # bX is another lot in s3's van: the breach marks bX, not o2's lot b2.
    breaches=[BreachFacts("b1", None, NOV + 10 * H), BreachFacts("b3", "s2", NOV + 40 * H),
              BreachFacts("b7", None, NOV + 31 * H), BreachFacts("bX", "s3", NOV + 7 * H)],
    has_sensors=True, has_shipments=True, names={"pA": "Platform A"})


def test_order_counts_and_times_follow_their_own_events() -> None:
    oct_, nov = rows(DATA, "2026-10", "2026-11")
    assert oct_["orders"] == {"placed": 1, "cancelled": 0}
    assert nov["orders"] == {"placed": 6, "cancelled": 1}  # o1..o6 (o6 on 30 Nov)
    # o7 was placed in October but dispatched in November: its processing time is November's.
    assert oct_["processing_hours"] == {"n": 0, "median": None, "mean": None}
    # placed -> dispatched: o1 2 h, o2 4 h, o3 1 h, o7 (Nov 1 01:00 - Oct 1 01:00) = 744 h.
    assert nov["processing_hours"] == {"n": 4, "median": "3.00", "mean": "187.75"}
    # dispatched -> delivered: o1 24, o2 14, o3 86, o7 29 h -> median (24+29)/2.
    assert nov["delivery_hours"] == {"n": 4, "median": "26.50", "mean": "38.25"}


def test_otif_needs_on_time_and_in_full_over_decided_due_orders() -> None:
    nov = rows(DATA, "2026-11")[0]
    # Due in Nov and decided: o1 (ok), o2 (short), o3 (late), o4 (overdue), o7 (ok);
    # o5 is cancelled, o6 is due in December.
    assert nov["otif"] == {"n": 5, "hit": 2, "pct": "40.0"}
    # While o4's window is still open (as of 45 h) it is not decided, so not counted.
    undecided = KpiInput(as_of=NOV + 45 * H, orders=ORDERS)
    assert rows(undecided, "2026-11")[0]["otif"] == {"n": 4, "hit": 2, "pct": "50.0"}


def test_cost_per_order_is_measured_freight_plus_tariffs() -> None:
    nov = rows(DATA, "2026-11")[0]
    # Dispatched in Nov: o1, o2, o3, o7, 10 units each, freight 500 each.
    # storage = 24/unit/day x 10 x waited days: o1 2 h -> 20, o2 4 h -> 40, o3 1 h -> 10,
    # o7 744 h = 31 d -> 7440; mean (20+40+10+7440)/4 = 1877.5 -> 1878 (half-even: 1878).
    # handling = 100 + 5 x 10 = 150 each.
    assert nov["cost_per_order"] == [{
        "currency": "EUR", "n": 4, "freight": 500, "storage": 1878, "handling": 150,
        "total": 2528, "tariff": {"storage_per_unit_day": 24, "handling_per_order": 100,
                                  "handling_per_unit": 5}}]
    # No tariff for the currency: storage and handling are not assumed, cost is freight.
    bare = compute(DATA, [P.month("2026-11")], tariffs={})[0]["periods"][0]["cost_per_order"]
    assert bare[0]["tariff"] is None and (bare[0]["storage"], bare[0]["total"]) == (0, 500)


def test_excursions_count_breaches_up_to_delivery() -> None:
    nov = rows(DATA, "2026-11")[0]
    # Dispatched orders o1 (b1 breach in transit), o3 (b3 breach at 40 h < delivery 90 h),
    # o2 (its van s3 had a breach, but on lot bX, not on b2), o7 (b7 breach after delivery:
    # not counted) -> 2 of 4.
    assert nov["excursions"]["orders"] == {"n": 4, "hit": 2, "pct": "50.0"}
    # Shipments created in Nov: s1 carries o1 (lot b1), s2 carries b3, s3 had bX's breach
    # -> 3 of 3; without s3's breach 2 of 3.
    assert nov["excursions"]["shipments"] == {"n": 3, "hit": 3, "pct": "100.0"}
    fewer = dataclasses.replace(DATA, breaches=DATA.breaches[:3])
    assert rows(fewer, "2026-11")[0]["excursions"]["shipments"] == {
        "n": 3, "hit": 2, "pct": "66.7"}
    assert cells(nov)["excursions"] == "50.0 % (2/4)"
    no_sensors = rows(KpiInput(as_of=AS_OF, orders=ORDERS), "2026-11")[0]
    assert no_sensors["excursions"] is None and cells(no_sensors)["excursions"] == "n/a"
    assert cells(no_sensors)["co2e"] == "n/a"


@pytest.mark.parametrize(("departed", "arrived", "breach", "hit"), [
    (10, 20, (2, 5), False),     # in the warehouse, over before departure
    (10, 20, (2, 10), True),     # ends as the vehicle leaves: both ends count
    (10, 20, (2, None), True),   # began before departure and is still going on
    (10, 20, (15, 16), True),    # in transit
    (10, 20, (21, 22), False),   # after arrival (another carrier's or the buyer's)
    (10, None, (30, 31), True),  # still moving: the span runs to "now" (as_of = 40)
    (None, None, (1, None), False),  # never departed: it carried nothing yet
])
def test_a_lot_breach_counts_for_a_shipment_only_while_it_moved(
        departed: int | None, arrived: int | None, breach: tuple[int, int | None],
        hit: bool) -> None:
    at = {k: None if v is None else NOV + v * H
          for k, v in (("d", departed), ("a", arrived), ("s", breach[0]), ("e", breach[1]))}
    data = KpiInput(
        as_of=NOV + 40 * H, has_sensors=True, has_shipments=True,
        orders=[order("o9", NOV, batch="b9")],
        shipments=[ShipmentFacts("s9", "pA", NOV, (), ("o9",), at["d"], at["a"])],
        breaches=[BreachFacts("b9", None, NOV + breach[0] * H, at["e"])])
    assert rows(data, "2026-11")[0]["excursions"]["shipments"]["hit"] == int(hit)


def test_satisfaction_and_co2e_per_order() -> None:
    oct_, nov = rows(DATA, "2026-10", "2026-11")
    assert nov["satisfaction"] == {"n": 3, "mean": "4.33"}  # (5+4+4)/3
    assert oct_["satisfaction"] == {"n": 1, "mean": "1.00"}
    # Dispatched in Nov with emission data: o1 1200 g, o2 301 g -> 750.5 g; 4 dispatched.
    assert nov["co2e_per_order"] == {"n": 2, "of": 4, "total_g": 1501, "mean_g": "750.5"}
    assert rows(KpiInput(as_of=AS_OF, orders=ORDERS), "2026-11")[0]["co2e_per_order"] is None


def test_an_empty_period_has_no_values_not_zeros() -> None:
    dec = rows(DATA, "2026-12")[0]
    assert dec["orders"] == {"placed": 0, "cancelled": 0}
    assert dec["processing_hours"]["median"] is None and dec["otif"]["pct"] is None
    assert dec["cost_per_order"] == [] and dec["satisfaction"]["mean"] is None
    assert dec["excursions"]["orders"]["pct"] is None
    assert dec["co2e_per_order"]["mean_g"] is None
    shown = cells(dec)
    assert shown["processing"] == "—" and shown["otif"] == "—" and shown["cost"] == "—"


def test_platforms_are_separated_and_filterable() -> None:
    data = KpiInput(as_of=AS_OF, orders=[*ORDERS, order("b1", NOV, platform="pB"),
                                         order("d1", NOV, platform=None)],
                    names={"pA": "Platform A", "pB": "Platform B"})
    out = compute(data, [P.month("2026-11")], tariffs=TARIFF)
    assert [(p["platform"], p["name"]) for p in out] == [
        (DIRECT, "(direct sales)"), ("pA", "Platform A"), ("pB", "Platform B")]
    assert [p["periods"][0]["orders"]["placed"] for p in out] == [1, 6, 1]
    only = compute(data, [P.month("2026-11")], platforms=["pB"], tariffs=TARIFF)
    assert [p["platform"] for p in only] == ["pB"]
    nobody = compute(data, [P.month("2026-11")], platforms=["pZ"], tariffs=TARIFF)
    assert nobody[0]["periods"][0]["orders"]["placed"] == 0


def test_currencies_are_never_added() -> None:
    data = KpiInput(as_of=AS_OF, orders=[
        order("e", NOV, dispatched_at=NOV + H, freight=100),
        order("c", NOV, dispatched_at=NOV + H, freight=999, currency="CNY")])
    costs = compute(data, [P.month("2026-11")], tariffs={})[0]["periods"][0]["cost_per_order"]
    assert [(c["currency"], c["freight"]) for c in costs] == [("CNY", 999), ("EUR", 100)]


def test_money_uses_the_currency_exponent() -> None:
    assert money(123456, "CNY") == "CNY 1,234.56"
    assert money(5, "EUR") == "EUR 0.05"
    assert money(1500, "JPY") == "JPY 1,500"
    assert money(-1234, "KWD") == "KWD -1.234"


@pytest.mark.parametrize("bad", [
    [], {}, {"eur": {"storage_per_unit_day": 1, "handling_per_order": 1,
                     "handling_per_unit": 1}},
    {"EUR": {"storage_per_unit_day": 1, "handling_per_order": 1}},
    {"EUR": {"storage_per_unit_day": -1, "handling_per_order": 1, "handling_per_unit": 1}},
    {"EUR": {"storage_per_unit_day": 1.5, "handling_per_order": 1, "handling_per_unit": 1}},
    {"EUR": {"storage_per_unit_day": True, "handling_per_order": 1, "handling_per_unit": 1}},
])
def test_tariffs_must_be_whole_minor_units_per_iso_currency(bad: Any) -> None:
    with pytest.raises(ValidationError):
        parse_tariffs(bad)
    ok = parse_tariffs({"EUR": {"storage_per_unit_day": 1, "handling_per_order": 2,
                                "handling_per_unit": 3}})
    assert ok == {"EUR": Tariff(1, 2, 3)}
