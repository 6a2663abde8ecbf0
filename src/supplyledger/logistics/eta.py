"""Estimated time of arrival: paper 000 eq. 5 (T = d/v) generalised to multi-leg shipments.

    ETA = now + d_rem / (v_i * f_i) + dwell_i + sum_{j > i} (d_j / (v_j * f_j) + dwell_j)

where leg ``i`` is the one the shipment is on, ``v`` the nominal speed of the leg's mode (or a
per-leg override), ``f`` a traffic factor (1 = free flow, 0.5 = half speed) and ``dwell`` the
time spent at the leg's destination node (sorting, transshipment) before the next leg departs.

Why integers: times are epoch **milliseconds** and distances **metres**, the units the ledger
stores, so an ETA written into a block hashes the same everywhere. Speeds and factors are
decimal strings or ``Decimal``; the d/v division is done in ``Decimal`` and rounded half-even
to whole milliseconds. Only the position projection uses trigonometry (IEEE doubles); its
result is rounded to whole metres before it enters any ETA.

Nominal speeds are planning assumptions, not measurements: road 60 km/h (mixed trunk/urban),
rail 50 km/h (freight commercial speed), sea 30 km/h (about 16 knots), inland waterway
12 km/h, air 750 km/h (block speed). Override them per leg with ``speed_m_per_h``.

The dwell of the last leg is the stop at the shipment's destination, which starts on
arrival: :func:`eta` adds it only when asked (``final_dwell``), so an estimate of the arrival
and the arrival itself measure the same instant.

A position fix can be matched to the nearest point of the legs that a vehicle can have
reached since its last known progress (``reach``; :func:`drive_ms`: at most
:data:`MAX_SPEED_FACTOR` times each leg's speed, no dwell): on a route that ends where it
starts, a fix in the depot yard just after departure lies on the return leg too, and would
otherwise end the route at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from types import MappingProxyType

from supplyledger.errors import ValidationError

__all__ = [
    "EARTH_RADIUS_M",
    "MAX_SPEED_FACTOR",
    "MS_PER_HOUR",
    "NOMINAL_SPEED_M_PER_H",
    "EtaLeg",
    "GeoPoint",
    "Progress",
    "drive_ms",
    "eta",
    "haversine_m",
    "is_late",
    "leg_distance_m",
    "leg_duration_ms",
    "progress_from_position",
    "project_km",
    "travel_ms",
]

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean Earth radius
MS_PER_HOUR = 3_600_000
NOMINAL_SPEED_M_PER_H: Mapping[str, int] = MappingProxyType({
    "road": 60_000, "rail": 50_000, "sea": 30_000, "inland_waterway": 12_000, "air": 750_000,
})
# How much faster than its leg's speed a vehicle may have driven between two updates.
MAX_SPEED_FACTOR = 2
_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_KM_PER_DEG = EARTH_RADIUS_M / 1000 * math.pi / 180

Number = Decimal | str | int


def _dec(value: Number, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise ValidationError(f"{what} must be a Decimal, decimal string or int (no floats)")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError(f"{what} is not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValidationError(f"{what} must be finite")
    return number


@dataclass(frozen=True)
class GeoPoint:
    """WGS-84 latitude/longitude in degrees, as decimal strings or ``Decimal`` (IoT readings)."""

    lat: Number
    lon: Number

    def radians(self) -> tuple[float, float]:
        lat, lon = _dec(self.lat, "lat"), _dec(self.lon, "lon")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValidationError(f"position out of range: {self.lat}, {self.lon}")
        return math.radians(float(lat)), math.radians(float(lon))


@dataclass(frozen=True)
class EtaLeg:
    """A leg between two logistics nodes; ``distance_m=None`` uses the great-circle distance."""

    leg_id: str
    origin: GeoPoint
    destination: GeoPoint
    mode: str = "road"
    distance_m: int | None = None
    speed_m_per_h: Number | None = None
    traffic_factor: Number = 1
    dwell_ms: int = 0


@dataclass(frozen=True)
class Progress:
    """Where a shipment is: on leg ``leg_index`` with ``remaining_m`` metres of it to go."""

    leg_index: int
    remaining_m: int


def _angular(a: GeoPoint, b: GeoPoint) -> float:
    (lat1, lon1), (lat2, lon2) = a.radians(), b.radians()
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(
        (lon2 - lon1) / 2) ** 2
    return 2 * math.asin(min(1.0, math.sqrt(h)))


def _bearing(a: GeoPoint, b: GeoPoint) -> float:
    (lat1, lon1), (lat2, lon2) = a.radians(), b.radians()
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.atan2(y, x)


def haversine_m(a: GeoPoint, b: GeoPoint) -> int:
    """Great-circle distance in whole metres (haversine on the mean-radius sphere)."""
    return round(_angular(a, b) * EARTH_RADIUS_M)


def project_km(lat_e6: int, lon_e6: int, lat0_e6: int, lon0_e6: int) -> tuple[float, float]:
    """(x east, y north) in km from the origin on the plane tangent there (equirectangular:
    under 0.1 % distance error within ~100 km), for the routing model and its drawings."""
    k = math.cos(math.radians(lat0_e6 / 1e6))
    return ((lon_e6 - lon0_e6) / 1e6 * _KM_PER_DEG * k, (lat_e6 - lat0_e6) / 1e6 * _KM_PER_DEG)


def leg_distance_m(leg: EtaLeg) -> int:
    if leg.distance_m is None:
        return haversine_m(leg.origin, leg.destination)
    if isinstance(leg.distance_m, bool) or not isinstance(leg.distance_m, int):
        raise ValidationError(f"leg {leg.leg_id}: distance_m must be an int")
    if leg.distance_m < 0:
        raise ValidationError(f"leg {leg.leg_id}: negative distance")
    return leg.distance_m


def travel_ms(distance_m: int, speed_m_per_h: Number, traffic_factor: Number = 1) -> int:
    """Eq. 5, T = d / (v * f), in whole milliseconds (half-even)."""
    speed, factor = _dec(speed_m_per_h, "speed"), _dec(traffic_factor, "traffic factor")
    if speed <= 0 or factor <= 0:
        raise ValidationError("speed and traffic factor must be positive")
    if distance_m < 0:
        raise ValidationError("distance must not be negative")
    hours = _CTX.divide(Decimal(distance_m), _CTX.multiply(speed, factor))
    return int(_CTX.multiply(hours, Decimal(MS_PER_HOUR)).quantize(Decimal(1), ROUND_HALF_EVEN))


def _speed(leg: EtaLeg) -> Number:
    if leg.speed_m_per_h is not None:
        return leg.speed_m_per_h
    if leg.mode not in NOMINAL_SPEED_M_PER_H:
        raise ValidationError(f"leg {leg.leg_id}: unknown mode {leg.mode!r} and no speed given")
    return NOMINAL_SPEED_M_PER_H[leg.mode]


def leg_duration_ms(leg: EtaLeg) -> int:
    """Driving time of the whole leg (dwell excluded)."""
    return travel_ms(leg_distance_m(leg), _speed(leg), leg.traffic_factor)


def _check_dwell(leg: EtaLeg) -> int:
    if isinstance(leg.dwell_ms, bool) or not isinstance(leg.dwell_ms, int) or leg.dwell_ms < 0:
        raise ValidationError(f"leg {leg.leg_id}: dwell_ms must be a non-negative int")
    return leg.dwell_ms


def _segment(leg: EtaLeg, point: GeoPoint) -> tuple[float, float]:
    """(distance from point to the leg's great-circle segment in metres, fraction travelled)."""
    total = _angular(leg.origin, leg.destination)
    to_point = _angular(leg.origin, point)
    if total == 0.0:
        return to_point * EARTH_RADIUS_M, 1.0
    delta = _bearing(leg.origin, point) - _bearing(leg.origin, leg.destination)
    cross = math.asin(max(-1.0, min(1.0, math.sin(to_point) * math.sin(delta))))
    along = math.acos(max(-1.0, min(1.0, math.cos(to_point) / max(math.cos(cross), 1e-15))))
    if math.cos(delta) < 0:
        along = -along
    if along < 0:
        return to_point * EARTH_RADIUS_M, 0.0
    if along > total:
        return _angular(leg.destination, point) * EARTH_RADIUS_M, 1.0
    return abs(cross) * EARTH_RADIUS_M, along / total


def drive_ms(legs: Sequence[EtaLeg], a: Progress, b: Progress) -> int:
    """The least time a vehicle needs from ``a`` to ``b`` further along the route: at
    :data:`MAX_SPEED_FACTOR` times each leg's speed, never stopping (0 if ``b`` is not
    ahead of ``a``)."""
    if (b.leg_index, a.remaining_m) <= (a.leg_index, b.remaining_m):
        return 0
    if a.leg_index == b.leg_index:
        return travel_ms(a.remaining_m - b.remaining_m, _fast(legs[a.leg_index]))
    total = travel_ms(a.remaining_m, _fast(legs[a.leg_index]))
    for leg in legs[a.leg_index + 1:b.leg_index]:
        total += travel_ms(leg_distance_m(leg), _fast(leg))
    end = legs[b.leg_index]
    return total + travel_ms(max(0, leg_distance_m(end) - b.remaining_m), _fast(end))


def _fast(leg: EtaLeg) -> Decimal:
    return _dec(_speed(leg), "speed") * MAX_SPEED_FACTOR


def progress_from_position(
    legs: Sequence[EtaLeg], point: GeoPoint, *, from_leg: int = 0,
    reach: tuple[Progress, int] | None = None,
) -> Progress:
    """Project a position reading onto the nearest leg at or after ``from_leg``.

    ``from_leg`` (the last known leg) keeps a noisy reading from moving the shipment
    backwards; ``reach`` = (last progress, ms since) keeps it from jumping to a later leg
    further along than the vehicle can have driven meanwhile (:func:`drive_ms`). The
    fraction travelled along the great circle is applied to the leg's route distance, so
    road detours scale proportionally.
    """
    if not legs or not 0 <= from_leg < len(legs):
        raise ValidationError("legs must be non-empty and from_leg within range")
    best: tuple[float, Progress] | None = None
    for index in range(from_leg, len(legs)):
        off_route, fraction = _segment(legs[index], point)
        remaining = round(leg_distance_m(legs[index]) * (1.0 - fraction))
        here = Progress(leg_index=index, remaining_m=max(0, remaining))
        if index > from_leg and reach is not None and drive_ms(legs, reach[0], here) > reach[1]:
            continue
        if best is None or off_route < best[0]:
            best = (off_route, here)
    assert best is not None
    return best[1]


def eta(legs: Sequence[EtaLeg], where: Progress | GeoPoint, now_ms: int, *,
        final_dwell: bool = True) -> int:
    """ETA in epoch ms from the current progress (or a raw position reading) at ``now_ms``;
    with ``final_dwell`` false, of the arrival at the last leg's end (its dwell, the stop
    there, follows the arrival)."""
    if not legs:
        raise ValidationError("a shipment needs at least one leg")
    progress = where if isinstance(where, Progress) else progress_from_position(legs, where)
    if not 0 <= progress.leg_index < len(legs):
        raise ValidationError(f"leg index {progress.leg_index} out of range")
    current = legs[progress.leg_index]
    if not 0 <= progress.remaining_m <= leg_distance_m(current):
        raise ValidationError("remaining distance must lie within the current leg")
    total = travel_ms(progress.remaining_m, _speed(current), current.traffic_factor)
    total += _check_dwell(current)
    for leg in legs[progress.leg_index + 1:]:
        total += leg_duration_ms(leg) + _check_dwell(leg)
    if not final_dwell:
        total -= legs[-1].dwell_ms
    return now_ms + total


def is_late(eta_ms: int, promised_ms: int, *, grace_ms: int = 0) -> bool:
    """True when the ETA falls after the promised time plus any grace period."""
    return eta_ms > promised_ms + grace_ms
