"""The split of one shipment among platforms (logistics/emissions_split.py): exact grams
(property), mass proportion on a leg, the unloading leg, and the named fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from supplyledger.logistics import periods as P
from supplyledger.logistics.emissions import load_factors
from supplyledger.logistics.emissions_report import LegRow, ShipmentRow, monthly_report
from supplyledger.logistics.emissions_split import Carried, Piece, split_shipment

FACTORS = load_factors()
VAN = ("road", "van_diesel_avg")
PLATFORMS = st.sampled_from([None, "pa", "pb", "pc"])


def _grams(pieces: Sequence[Piece]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in pieces:
        out[p.owner] = out.get(p.owner, 0) + p.wtw_g
    return out


@st.composite
def shipments(draw: st.DrawFn) -> tuple[str | None, int, list[LegRow], list[Carried]]:
    n_legs = draw(st.integers(0, 3))
    legs = [LegRow(i, *VAN, draw(st.integers(0, 500_000)), draw(st.integers(0, 30_000)),
                   draw(st.integers(0, 10**7))) for i in range(n_legs)]
    carried = [Carried(f"o{i}", draw(PLATFORMS), draw(st.none() | st.integers(0, 20_000)),
                       draw(st.none() | st.integers(0, max(0, n_legs - 1))), 0)
               for i in range(draw(st.integers(0, 5)))]
    # Usually the recorded total is the legs' sum (as the contract records it); sometimes not.
    total = draw(st.just(sum(leg.co2e_g for leg in legs)) | st.integers(0, 10**7))
    return draw(PLATFORMS), total, legs, carried


@settings(max_examples=300, deadline=None)
@given(shipments())
def test_no_gram_is_lost_or_created(s: tuple[str | None, int, list[LegRow], list[Carried]]
                                    ) -> None:
    platform, total, legs, carried = s
    split = split_shipment(platform, total, legs, carried, FACTORS)
    grams = _grams(split.pieces)
    assert sum(grams.values()) == total
    assert all(p.wtw_g >= 0 for p in split.pieces)
    assert set(grams) == set(split.owners)
    assert split.basis == ("whole" if not carried else "equal" if any(
        not c.mass_kg for c in carried) else "mass")
    if split.basis != "whole":  # only platforms of orders and the owner of cargo on none
        assert set(split.owners) <= {c.platform or "" for c in carried} | {platform or ""}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**8), st.lists(st.tuples(PLATFORMS, st.integers(1, 10**5)),
                                       min_size=1, max_size=6))
def test_one_leg_is_split_by_mass_within_a_gram(
        grams: int, orders: list[tuple[str | None, int]]) -> None:
    mass = sum(m for _, m in orders)
    carried = [Carried(f"o{i}", p, m, None, 0) for i, (p, m) in enumerate(orders)]
    split = split_shipment(None, grams, [LegRow(0, *VAN, 1000, mass, grams)], carried,
                           FACTORS)
    got = _grams(split.pieces)
    for owner, g in got.items():
        exact = Decimal(grams) * sum(m for p, m in orders if (p or "") == owner) / mass
        assert abs(g - exact) < 1
    assert sum(got.values()) == grams and split.basis == "mass"


def test_an_order_unloaded_early_shares_only_the_legs_it_rode() -> None:
    legs = [LegRow(0, *VAN, 10_000, 300, 900), LegRow(1, *VAN, 10_000, 200, 400)]
    carried = [Carried("a", "pa", 100, 0, 0), Carried("b", "pb", 200, None, 0)]
    split = split_shipment(None, 1300, legs, carried, FACTORS)
    assert _grams(split.pieces) == {"pa": 300, "pb": 600 + 400}
    assert {(p.owner, p.leg) for p in split.pieces} == {("pa", 0), ("pb", 0), ("pb", 1)}


def test_cargo_on_no_order_goes_to_the_shipments_platform_or_none() -> None:
    leg = [LegRow(0, *VAN, 10_000, 400, 1000)]
    orders = [Carried("a", "pa", 100, None, 0)]
    assert _grams(split_shipment("pa", 1000, leg, orders, FACTORS).pieces) == {"pa": 1000}
    assert _grams(split_shipment(None, 1000, leg, orders, FACTORS).pieces) == {
        "pa": 250, "": 750}


def test_an_empty_run_back_makes_no_one_else_an_owner() -> None:
    legs = [LegRow(0, *VAN, 10_000, 100, 782), LegRow(1, *VAN, 10_000, 0, 0)]
    split = split_shipment(None, 782, legs, [Carried("a", "pa", 100, 0, 0)], FACTORS)
    assert split.owners == ("pa",) and len(split.pieces) == 2


def test_unknown_masses_fall_back_to_equal_shares_per_order() -> None:
    leg = [LegRow(0, *VAN, 10_000, 400, 1001)]
    carried = [Carried("a", "pa", None, None, 0), Carried("b", "pa", 50, None, 0),
               Carried("c", "pb", 50, None, 0)]
    split = split_shipment("pa", 1001, leg, carried, FACTORS)
    assert split.basis == "equal" and _grams(split.pieces) == {"pa": 667, "pb": 334}


def test_no_orders_gives_the_whole_shipment_and_no_legs_the_recorded_total() -> None:
    leg = [LegRow(0, *VAN, 10_000, 400, 1000)]
    assert _grams(split_shipment(None, 1000, leg, [], FACTORS).pieces) == {"": 1000}
    whole = split_shipment("pb", 1000, leg, [], FACTORS)
    assert (whole.basis, _grams(whole.pieces)) == ("whole", {"pb": 1000})
    bare = split_shipment(None, 99, [], [Carried("a", "pa", 1, None, 0),
                                         Carried("b", "pb", 2, None, 0)], FACTORS)
    assert _grams(bare.pieces) == {"pa": 33, "pb": 66} and bare.pieces[0].leg == -1


def test_the_report_row_names_the_fallback() -> None:
    nov = P.month("2026-11")
    row = ShipmentRow("s", None, "created", nov.start, nov.start, 1001, FACTORS.version,
                      (LegRow(0, *VAN, 10_000, 400, 1001),),
                      (Carried("a", "pa", None, None, 0), Carried("b", "pb", 50, None, 0)))
    rep = monthly_report([row], nov, FACTORS)
    assert [(p["platform"], p["wtw_g"], p["allocation"]["equal"], p["shared_shipments"])
            for p in rep["platforms"]] == [("pa", 501, 1, 1), ("pb", 500, 1, 1)]
    assert (rep["totals"]["shipments"], rep["totals"]["wtw_g"]) == (1, 1001)
