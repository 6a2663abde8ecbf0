"""Emissions: hand-computed ISO 14083 cases, allocation, and factor-table validation."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplyledger.errors import ValidationError
from supplyledger.logistics.emissions import (
    Consignment,
    FreightLeg,
    SharedLeg,
    allocate,
    leg_emissions,
    load_factors,
    order_emissions,
    parse_factors,
    shipment_emissions,
)

TABLE = load_factors()


def within_0_1_percent(got: int, expected: float) -> bool:
    return abs(got - expected) <= abs(expected) * 0.001


@pytest.mark.parametrize(
    ("mode", "vehicle_class", "mass_g", "distance_m", "wtw", "ttw"),
    [
        # 12 t x 350 km = 4 200 t.km; WTW 4 200 x 95.02 = 399 084 g; TTW 4 200 x 77.03 = 323 526 g
        ("road", "artic_gt33t", 12_000_000, 350_000, 399_084, 323_526),
        # 250 kg x 18.4 km = 4.6 t.km; WTW 4.6 x 782.25 = 3 598.35 -> 3 598 g;
        # TTW 4.6 x 631.30 = 2 903.98 -> 2 904 g
        ("road", "van_diesel_avg", 250_000, 18_400, 3_598, 2_904),
        # same parcel by battery van: 4.6 x 297.09 = 1 366.614 -> 1 367 g; TTW = 0
        ("road", "van_bev_avg", 250_000, 18_400, 1_367, 0),
        # 20 t x 19 000 km = 380 000 t.km; WTW x 19.77 = 7 512 600 g; TTW x 16.12 = 6 125 600 g
        ("sea", "container_ship_avg", 20_000_000, 19_000_000, 7_512_600, 6_125_600),
        # 0.5 t x 9 000 km = 4 500 t.km; WTW x 666.46 = 2 999 070 g; TTW x 531.30 = 2 390 850 g
        ("air", "freight_long_haul", 500_000, 9_000_000, 2_999_070, 2_390_850),
        # 800 t x 500 km = 400 000 t.km; WTW x 34.70 = 13 880 000 g; no TTW split published
        ("rail", "freight_train_uk_avg", 800_000_000, 500_000, 13_880_000, None),
    ],
)
def test_hand_computed_legs(
    mode: str, vehicle_class: str, mass_g: int, distance_m: int, wtw: int, ttw: int | None
) -> None:
    result = leg_emissions(FreightLeg("L", mode, vehicle_class, mass_g, distance_m), TABLE)
    assert within_0_1_percent(result.wtw_g, wtw)
    assert result.wtw_g == wtw  # and exact, given the documented half-even rounding
    assert result.ttw_g == ttw
    assert result.factor_version == TABLE.version


def test_decimal_string_inputs_match_integers() -> None:
    as_ints = leg_emissions(FreightLeg("L", "road", "artic_gt33t", 12_000_000, 350_000), TABLE)
    as_text = leg_emissions(FreightLeg("L", "road", "artic_gt33t", "12000000", "350000.0"), TABLE)
    assert as_ints == as_text
    assert as_ints.tonne_km == Decimal(4200)


@pytest.mark.parametrize(("mass", "distance"), [(1.5, 10), (10, 2.5), ("1.5", 10), (-1, 10),
                                                (True, 10), ("abc", 10)])
def test_bad_quantities_rejected(mass: Any, distance: Any) -> None:
    with pytest.raises(ValidationError):
        leg_emissions(FreightLeg("L", "road", "artic_gt33t", mass, distance), TABLE)


def test_unknown_or_unsourced_class_rejected() -> None:
    with pytest.raises(ValidationError):
        TABLE.get("road", "spaceship")
    with pytest.raises(ValidationError):  # inland waterway left out: no confirmed source
        TABLE.get("inland_waterway", "motor_vessel")


def test_shipment_total_is_sum_of_rounded_legs() -> None:
    legs = [
        FreightLeg("first", "road", "van_diesel_avg", 250_000, 18_400),  # 3 598 / 2 904
        FreightLeg("trunk", "road", "artic_gt33t", 250_000, 1_200_000),  # 300 t.km: 28 506 / 23 109
    ]
    total = shipment_emissions(legs, TABLE)
    assert total.wtw_g == 3_598 + 28_506
    assert total.ttw_g == 2_904 + 23_109
    with_rail = shipment_emissions([*legs, FreightLeg("r", "rail", "freight_train_uk_avg",
                                                      250_000, 100_000)], TABLE)
    assert with_rail.ttw_g is None  # one leg without a TTW split makes the TTW total unknown


def test_order_allocation_by_tonne_km_share() -> None:
    # Rigid 7.5-17 t over 100 km: o1 2 t all the way (200 t.km), o2 1 t (100 t.km),
    # o3 1 t dropped after 50 km (50 t.km) -> 350 t.km x 456.08 = 159 628 g,
    # shared 200/350, 100/350, 50/350 -> 91 216, 45 608, 22 804 g.
    leg = SharedLeg("run-1", "road", "rigid_7.5_17t", 100_000, (
        Consignment("o1", 2_000_000), Consignment("o2", 1_000_000),
        Consignment("o3", 1_000_000, 50_000),
    ))
    shares = order_emissions([leg], TABLE)
    assert shares == {"o1": 91_216, "o2": 45_608, "o3": 22_804}
    assert sum(shares.values()) == 159_628


def test_allocation_sums_to_each_shipment_total() -> None:
    legs = [
        SharedLeg("a", "road", "van_diesel_avg", 23_456, (
            Consignment("o1", 1_234), Consignment("o2", 5_678), Consignment("o3", 999, 20_000))),
        SharedLeg("b", "sea", "container_ship_avg", 9_876_543, (
            Consignment("o1", 7_777_777), Consignment("o3", 3_333_333))),
    ]
    per_order = order_emissions(legs, TABLE)
    # Leg totals computed independently (mass x distance summed over consignments; the
    # FreightLeg below carries that gram-metre product as its mass over 1 m).
    leg_totals = [
        leg_emissions(FreightLeg("a", "road", "van_diesel_avg",
                                 (1_234 + 5_678) * 23_456 + 999 * 20_000, 1), TABLE).wtw_g,
        leg_emissions(FreightLeg("b", "sea", "container_ship_avg",
                                 7_777_777 + 3_333_333, 9_876_543), TABLE).wtw_g,
    ]
    assert sum(per_order.values()) == sum(leg_totals)


@given(st.integers(0, 10**12), st.dictionaries(st.text(min_size=1, max_size=4),
                                               st.integers(0, 10**9), min_size=1, max_size=8))
def test_allocate_is_exact_and_fair(total: int, weights: dict[str, int]) -> None:
    if sum(weights.values()) == 0:
        with pytest.raises(ValidationError):
            allocate(total, weights)
        return
    out = allocate(total, weights)
    assert sum(out.values()) == total
    weight_sum = sum(weights.values())
    for key, grams in out.items():
        assert abs(grams * weight_sum - total * weights[key]) < weight_sum  # within 1 g


def test_packaged_table_is_sourced_and_consistent() -> None:
    assert TABLE.version
    assert {f.mode for f in TABLE.factors} >= {"road", "rail", "sea", "air"}
    for factor in TABLE.factors:
        assert "conversion factors 2025" in factor.source
        assert factor.ttw_g_per_tkm is None or factor.ttw_g_per_tkm <= factor.wtw_g_per_tkm


def _document() -> dict[str, Any]:
    package = resources.files("supplyledger.logistics")
    text = (package / "data" / "emission_factors.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_load_factors_from_path(tmp_path: Path) -> None:
    path = tmp_path / "factors.json"
    path.write_text(json.dumps(_document()), encoding="utf-8")
    assert load_factors(path) == TABLE


@pytest.mark.parametrize("breakage", [
    lambda row: row.pop("source"),
    lambda row: row.update(source="  "),
    lambda row: row.update(wtw_g_per_tkm=95.02),  # a JSON float, not a decimal string
    lambda row: row.update(wtw_g_per_tkm="lots"),
    lambda row: row.update(ttw_g_per_tkm="999999"),  # TTW above WTW
    lambda row: row.update(mode="teleport"),
    lambda row: row.update(colour="red"),
])
def test_invalid_rows_rejected(breakage: Any) -> None:
    data = _document()
    breakage(data["factors"][0])
    with pytest.raises(ValidationError):
        parse_factors(data)


def test_duplicate_and_structural_errors_rejected(tmp_path: Path) -> None:
    data = _document()
    data["factors"].append(dict(data["factors"][0]))
    with pytest.raises(ValidationError):
        parse_factors(data)
    with pytest.raises(ValidationError):
        parse_factors({"version": "x", "factors": []})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_factors(broken)
