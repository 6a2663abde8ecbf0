"""Freight GHG emissions by the ISO 14083 / GLEC method: tonne-km x intensity per leg.

Why this shape: emission figures end up in hashed ledger records, so nothing here touches a
float. Masses come in as integer grams, distances as integer metres, intensities as decimal
strings (g CO2e per tonne-km, from the versioned table in ``data/emission_factors.json``).
Arithmetic is :class:`decimal.Decimal` with 40 significant digits, which is exact for every
realistic input (grams x metres x a 2-decimal intensity has far fewer digits).

Rounding rule (documented because totals must reconcile): each leg's grams are rounded
**once**, half-to-even, to an integer; a shipment total is the sum of its rounded legs; an
order's share of a shared leg is apportioned with the largest-remainder method so that the
order shares of a leg add up to exactly the leg's integer total.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from supplyledger.errors import ValidationError

__all__ = [
    "MODES",
    "Consignment",
    "EmissionFactor",
    "FactorTable",
    "FreightLeg",
    "LegEmissions",
    "SharedLeg",
    "ShipmentEmissions",
    "allocate",
    "leg_emissions",
    "load_factors",
    "order_emissions",
    "parse_factors",
    "shipment_emissions",
]

MODES = frozenset({"road", "rail", "sea", "inland_waterway", "air"})
_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_G_M_PER_TKM = 10**9  # 1 tonne-km = 1e6 g x 1e3 m
_FACTOR_KEYS = {"mode", "vehicle_class", "fuel", "wtw_g_per_tkm", "ttw_g_per_tkm", "source"}


@dataclass(frozen=True)
class EmissionFactor:
    """One row of the factor table; ``ttw`` is ``None`` when the source gives no split."""

    mode: str
    vehicle_class: str
    fuel: str
    wtw_g_per_tkm: Decimal
    ttw_g_per_tkm: Decimal | None
    source: str


@dataclass(frozen=True)
class FactorTable:
    """A validated, versioned factor table; results record ``version`` for audit."""

    version: str
    factors: tuple[EmissionFactor, ...]

    def get(self, mode: str, vehicle_class: str) -> EmissionFactor:
        for factor in self.factors:
            if factor.mode == mode and factor.vehicle_class == vehicle_class:
                return factor
        raise ValidationError(
            f"no emission factor for {mode}/{vehicle_class} in table {self.version}",
            mode=mode, vehicle_class=vehicle_class, version=self.version,
        )


def _decimal(value: Any, what: str, *, allow_null: bool = False) -> Decimal | None:
    if value is None and allow_null:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError(f"{what} is not a decimal: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(f"{what} must be finite and not negative: {value!r}")
    return number


def _text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{where}: '{key}' is missing or empty", field=key)
    return value


def parse_factors(data: Any) -> FactorTable:
    """Validate a decoded factor document; every row needs a non-empty ``source``."""
    if not isinstance(data, dict) or set(data) != {"version", "factors"}:
        raise ValidationError("factor table must be an object with 'version' and 'factors'")
    version = _text(data, "version", "factor table")
    rows = data["factors"]
    if not isinstance(rows, list) or not rows:
        raise ValidationError("'factors' must be a non-empty list")
    factors: list[EmissionFactor] = []
    seen: set[tuple[str, str]] = set()
    for index, row in enumerate(rows):
        where = f"factor #{index}"
        if not isinstance(row, dict):
            raise ValidationError(f"{where} is not an object")
        unknown = set(row) - _FACTOR_KEYS - {"notes"}
        if unknown:
            raise ValidationError(f"{where}: unknown keys {sorted(unknown)}")
        mode = _text(row, "mode", where)
        if mode not in MODES:
            raise ValidationError(f"{where}: unknown mode {mode!r}", mode=mode)
        vehicle_class = _text(row, "vehicle_class", where)
        if (mode, vehicle_class) in seen:
            raise ValidationError(f"{where}: duplicate {mode}/{vehicle_class}")
        seen.add((mode, vehicle_class))
        wtw = _decimal(row.get("wtw_g_per_tkm"), f"{where} wtw_g_per_tkm")
        ttw = _decimal(row.get("ttw_g_per_tkm"), f"{where} ttw_g_per_tkm", allow_null=True)
        assert wtw is not None
        if wtw == 0:
            raise ValidationError(f"{where}: wtw_g_per_tkm must be positive")
        if ttw is not None and ttw > wtw:
            raise ValidationError(f"{where}: tank-to-wheel exceeds well-to-wheel")
        factors.append(EmissionFactor(
            mode=mode, vehicle_class=vehicle_class, fuel=_text(row, "fuel", where),
            wtw_g_per_tkm=wtw, ttw_g_per_tkm=ttw, source=_text(row, "source", where),
        ))
    return FactorTable(version=version, factors=tuple(factors))


def load_factors(path: str | Path | None = None) -> FactorTable:
    """Read and validate a factor file; ``None`` means the table packaged with supplyledger."""
    try:
        if path is None:
            package = resources.files("supplyledger.logistics")
            text = (package / "data" / "emission_factors.json").read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValidationError(f"cannot read emission factor table: {exc}") from exc
    return parse_factors(data)


def _count(value: Any, what: str) -> int:
    """Accept ints (not bools/floats) and exact integral decimal strings; reject negatives."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(f"{what} must be an integer or decimal string")
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValidationError(f"{what} is not a decimal: {value!r}") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValidationError(f"{what} must be a whole number of units: {value!r}")
        count = int(number)
    else:
        count = value
    if count < 0:
        raise ValidationError(f"{what} must not be negative")
    return count


@dataclass(frozen=True)
class FreightLeg:
    """A leg carrying ``mass_g`` grams over ``distance_m`` metres (integers or digit strings)."""

    leg_id: str
    mode: str
    vehicle_class: str
    mass_g: int | str
    distance_m: int | str


@dataclass(frozen=True)
class LegEmissions:
    leg_id: str
    tonne_km: Decimal
    wtw_g: int
    ttw_g: int | None
    factor_version: str


@dataclass(frozen=True)
class ShipmentEmissions:
    legs: tuple[LegEmissions, ...]
    wtw_g: int
    ttw_g: int | None
    factor_version: str


def _grams(gram_metres: int, intensity: Decimal) -> int:
    exact = _CTX.divide(_CTX.multiply(Decimal(gram_metres), intensity), Decimal(_G_M_PER_TKM))
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _emissions(leg_id: str, factor: EmissionFactor, gram_metres: int, version: str) -> LegEmissions:
    ttw = None if factor.ttw_g_per_tkm is None else _grams(gram_metres, factor.ttw_g_per_tkm)
    return LegEmissions(
        leg_id=leg_id,
        tonne_km=_CTX.divide(Decimal(gram_metres), Decimal(_G_M_PER_TKM)),
        wtw_g=_grams(gram_metres, factor.wtw_g_per_tkm),
        ttw_g=ttw,
        factor_version=version,
    )


def leg_emissions(leg: FreightLeg, factors: FactorTable) -> LegEmissions:
    """WTW (and TTW when known) grams CO2e for one leg, rounded half-even to whole grams."""
    factor = factors.get(leg.mode, leg.vehicle_class)
    gram_metres = _count(leg.mass_g, "mass_g") * _count(leg.distance_m, "distance_m")
    return _emissions(leg.leg_id, factor, gram_metres, factors.version)


def shipment_emissions(legs: Sequence[FreightLeg], factors: FactorTable) -> ShipmentEmissions:
    """Sum of a shipment's rounded legs; TTW total is ``None`` if any leg lacks a split."""
    per_leg = tuple(leg_emissions(leg, factors) for leg in legs)
    ttws = [item.ttw_g for item in per_leg]
    ttw_total = None if any(t is None for t in ttws) else sum(t for t in ttws if t is not None)
    return ShipmentEmissions(
        legs=per_leg, wtw_g=sum(item.wtw_g for item in per_leg), ttw_g=ttw_total,
        factor_version=factors.version,
    )


def allocate(total_g: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split integer grams by integer weights (largest remainder; ties by key) - sums exactly."""
    if total_g < 0 or not weights or any(w < 0 for w in weights.values()):
        raise ValidationError("allocation needs a non-negative total and non-negative weights")
    weight_sum = sum(weights.values())
    if weight_sum == 0:
        raise ValidationError("allocation weights sum to zero")
    shares = {key: divmod(total_g * w, weight_sum) for key, w in weights.items()}
    out = {key: q for key, (q, _) in shares.items()}
    leftover = total_g - sum(out.values())
    by_remainder = sorted(shares, key=lambda key: (-shares[key][1], key))
    for key in by_remainder[:leftover]:
        out[key] += 1
    return out


@dataclass(frozen=True)
class Consignment:
    """One order's goods on a shared leg; ``distance_m=None`` means the whole leg."""

    order_id: str
    mass_g: int | str
    distance_m: int | str | None = None


@dataclass(frozen=True)
class SharedLeg:
    """A vehicle leg carrying several orders' consignments (consolidated freight)."""

    leg_id: str
    mode: str
    vehicle_class: str
    distance_m: int | str
    consignments: tuple[Consignment, ...]


def order_emissions(legs: Sequence[SharedLeg], factors: FactorTable) -> dict[str, int]:
    """WTW grams per order: each leg's total apportioned by the orders' tonne-km shares."""
    totals: dict[str, int] = {}
    for leg in legs:
        factor = factors.get(leg.mode, leg.vehicle_class)
        leg_distance = _count(leg.distance_m, "distance_m")
        weights: dict[str, int] = {}
        for item in leg.consignments:
            distance = leg_distance if item.distance_m is None else _count(
                item.distance_m, "distance_m")
            if distance > leg_distance:
                raise ValidationError(
                    f"consignment {item.order_id} travels beyond leg {leg.leg_id}")
            weights[item.order_id] = weights.get(item.order_id, 0) + (
                _count(item.mass_g, "mass_g") * distance)
        leg_total = _emissions(leg.leg_id, factor, sum(weights.values()), factors.version)
        for order_id, grams in allocate(leg_total.wtw_g, weights).items():
            totals[order_id] = totals.get(order_id, 0) + grams
    return totals
