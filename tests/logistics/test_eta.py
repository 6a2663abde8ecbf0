"""ETA (paper 000 eq. 5 generalised): hand-computed cases in integer milliseconds and metres."""

from __future__ import annotations

from typing import Any

import pytest

from supplyledger.errors import ValidationError
from supplyledger.logistics.eta import (
    EtaLeg,
    GeoPoint,
    Progress,
    eta,
    haversine_m,
    is_late,
    leg_duration_ms,
    progress_from_position,
    travel_ms,
)

NOW = 1_700_000_000_000  # epoch ms
HOUR = 3_600_000
ORIGIN, EAST = GeoPoint("0", "0"), GeoPoint("0", "1")


def test_eq5_single_leg() -> None:
    # 120 km at 60 km/h slowed by traffic factor 0.8: 120 / (60 x 0.8) = 2.5 h = 9 000 000 ms
    assert travel_ms(120_000, 60_000, "0.8") == 9_000_000
    leg = EtaLeg("L1", ORIGIN, EAST, mode="road", distance_m=120_000, traffic_factor="0.8")
    assert leg_duration_ms(leg) == 9_000_000
    assert eta([leg], Progress(0, 120_000), NOW) == NOW + 9_000_000


def test_multi_leg_with_dwell() -> None:
    legs = [
        # road 120 km at the nominal 60 km/h = 2 h, then 30 min sorting at the hub
        EtaLeg("road", ORIGIN, EAST, "road", distance_m=120_000, dwell_ms=1_800_000),
        # rail 300 km at the nominal 50 km/h = 6 h
        EtaLeg("rail", EAST, GeoPoint("0", "4"), "rail", distance_m=300_000),
    ]
    # halfway along the road leg: 60 km / 60 km/h = 1 h + 0.5 h dwell + 6 h rail = 7.5 h
    assert eta(legs, Progress(0, 60_000), NOW) == NOW + 27_000_000
    # on the rail leg with 100 km to go: 100 / 50 = 2 h
    assert eta(legs, Progress(1, 100_000), NOW) == NOW + 2 * HOUR
    # not yet started: 2 h + 0.5 h + 6 h
    assert eta(legs, Progress(0, 120_000), NOW) == NOW + 8 * HOUR + HOUR // 2


def test_speed_override_and_rounding() -> None:
    # 10 km at 7 km/h = 1.428571... h = 5 142 857.14 ms -> 5 142 857 (half-even)
    leg = EtaLeg("bike", ORIGIN, EAST, distance_m=10_000, speed_m_per_h="7000")
    assert leg_duration_ms(leg) == 5_142_857


def test_haversine() -> None:
    # one degree along the equator: 6 371 008.8 m x pi / 180 = 111 195.08 m
    assert haversine_m(ORIGIN, EAST) == 111_195
    # Shanghai -> Beijing great circle, about 1 067 km (published: ~1 067-1 068 km)
    shanghai, beijing = GeoPoint("31.2304", "121.4737"), GeoPoint("39.9042", "116.4074")
    assert abs(haversine_m(shanghai, beijing) - 1_067_300) < 2_000


def test_eta_from_position_reading() -> None:
    # leg along the equator from 0 deg to 1 deg, 140 km by road; a reading at lon 0.25 (a
    # little north of the road) is a quarter of the way: 0.75 x 140 km = 105 km to go,
    # 105 km at 60 km/h = 1.75 h = 6 300 000 ms.
    leg = EtaLeg("L1", ORIGIN, EAST, distance_m=140_000)
    reading = GeoPoint("0.01", "0.25")
    assert progress_from_position([leg], reading) == Progress(0, 105_000)
    assert eta([leg], reading, NOW) == NOW + 6_300_000


def test_position_picks_nearest_leg_and_never_goes_back() -> None:
    legs = [
        EtaLeg("west", ORIGIN, EAST, distance_m=111_195),
        EtaLeg("north", EAST, GeoPoint("1", "1"), distance_m=100_000),
    ]
    # halfway up the second leg: half of its 100 km route
    assert progress_from_position(legs, GeoPoint("0.5", "1")) == Progress(1, 50_000)
    # a reading before the origin clamps to the start of the first leg
    assert progress_from_position(legs, GeoPoint("0", "-0.2")) == Progress(0, 111_195)
    # the shipment is known to be on leg 1: a stray reading near leg 0 does not move it back
    assert progress_from_position(legs, GeoPoint("0", "0.3"), from_leg=1).leg_index == 1


def test_is_late() -> None:
    assert is_late(NOW + 1, NOW)
    assert not is_late(NOW, NOW)
    assert not is_late(NOW + 10 * 60_000, NOW, grace_ms=15 * 60_000)


@pytest.mark.parametrize("bad", [
    lambda: travel_ms(1_000, 60_000, 0.8),  # type: ignore[arg-type]  # float factor
    lambda: travel_ms(1_000, 0),
    lambda: travel_ms(-1, 60_000),
    lambda: eta([], Progress(0, 0), NOW),
    lambda: eta([EtaLeg("L", ORIGIN, EAST, distance_m=10)], Progress(0, 11), NOW),
    lambda: eta([EtaLeg("L", ORIGIN, EAST, distance_m=10)], Progress(1, 0), NOW),
    lambda: leg_duration_ms(EtaLeg("L", ORIGIN, EAST, mode="hyperloop")),
    lambda: haversine_m(GeoPoint("91", "0"), ORIGIN),
    lambda: haversine_m(GeoPoint(1.5, "0"), ORIGIN),  # type: ignore[arg-type]
])
def test_bad_inputs_rejected(bad: Any) -> None:
    with pytest.raises(ValidationError):
        bad()
