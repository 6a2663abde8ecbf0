"""Who a shipment's emissions belong to: the split of each recorded shipment among the
platforms whose goods it carried, for the monthly report (:mod:`.emissions_report`). Pure.

ISO 14083 / GLEC allocate a transport chain element's emissions to the consignments on it
by transport activity (tonne-km); on one vehicle leg every consignment travels the same
distance, so that is by mass. Hence, per leg:

* the consignments aboard are the orders not yet unloaded (an order leaves at the end of
  its ``leg``; none = the last) with their recorded mass, plus the leg's cargo on no order
  (leg mass minus those orders), which belongs to the shipment's own platform (the one that
  created or planned it, or whose orders alone it carries) or else to no platform ("",
  which the reports name "(direct sales)");
* an order belongs to the platform it came through ("" for direct sales);
* the leg's integer grams (and its TTW grams, and the grams recomputed as a control) are
  split among the owners by mass with the largest-remainder rule (``emissions.allocate``),
  so the owners' shares of a leg add up to exactly the leg: no gram lost or created. The
  TTW grams are the factor table's, so they are known only where the table's factor gives
  the leg's recorded grams (not for a leg recorded under another table version).

This mirrors how the shipments contract allocated the per-order shares it recorded, so a
platform's share equals the sum of its orders' recorded shares up to a gram per leg.

Fallbacks, named in ``Split.basis`` because the report says which was used: ``"equal"``
when an order's mass is unknown (equal shares per order of the whole shipment, cargo on no
order ignored), ``"whole"`` when the shipment carries no order (all of it to its own
platform or to no platform). Both still add up exactly to the shipment's total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from supplyledger.logistics.emissions import FactorTable, FreightLeg, allocate, leg_emissions

__all__ = ["Carried", "LegIn", "Piece", "Split", "split_shipment"]


@dataclass(frozen=True)
class Carried:
    """One order on a shipment: its platform, mass and the leg where it is unloaded."""

    order: str
    platform: str | None
    mass_kg: int | None
    leg: int | None  # None: the last leg
    co2e_g: int  # the share recorded by the shipments contract


@dataclass(frozen=True)
class Piece:
    """One owner's share of one leg (``leg`` is -1 when the shipment has no leg rows)."""

    owner: str  # platform id, "" for none
    leg: int
    mode: str
    vehicle_class: str
    distance_m: int
    tonne_km: Decimal
    wtw_g: int
    ttw_g: int | None  # of the recomputed leg; None: no split, or not the recorded factor
    recomputed_g: int


@dataclass(frozen=True)
class Split:
    basis: str  # "mass" | "equal" | "whole"
    owners: tuple[str, ...]  # everyone with a share (even a zero-gram one), sorted
    pieces: tuple[Piece, ...]


class LegIn(Protocol):
    """What the split needs of a recorded leg (``emissions_report.LegRow`` fits)."""

    @property
    def idx(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def vehicle_class(self) -> str: ...
    @property
    def distance_m(self) -> int: ...
    @property
    def mass_kg(self) -> int: ...
    @property
    def co2e_g(self) -> int: ...


def _owner(platform: str | None) -> str:
    return platform or ""


def _divide(total: int, weights: dict[str, int]) -> dict[str, int]:
    """``allocate`` that tolerates all-zero weights (then equal shares)."""
    if not weights:
        return {}
    if sum(weights.values()) == 0:
        weights = dict.fromkeys(weights, 1)
    return allocate(total, weights)


def _weights(legs: Sequence[LegIn], carried: Sequence[Carried], k: int,
             rest_owner: str) -> dict[str, int]:
    last = len(legs) - 1
    w: dict[str, int] = {}
    aboard = 0
    for c in carried:
        if (last if c.leg is None else c.leg) >= k:
            w[_owner(c.platform)] = w.get(_owner(c.platform), 0) + (c.mass_kg or 0)
            aboard += c.mass_kg or 0
    rest = legs[k].mass_kg - aboard
    if rest > 0:
        w[rest_owner] = w.get(rest_owner, 0) + rest
    return {o: m for o, m in w.items() if m > 0}


def split_shipment(platform: str | None, co2e_g: int, legs: Sequence[LegIn],
                   carried: Sequence[Carried], factors: FactorTable) -> Split:
    """Split one shipment (its own platform, recorded total, legs and orders) into pieces
    whose grams add up to exactly ``co2e_g``."""
    rest_owner = _owner(platform)
    if not carried:
        basis = "whole"
    elif any(c.mass_kg is None or c.mass_kg <= 0 for c in carried):
        basis = "equal"
    else:
        basis = "mass"
    per_leg: list[dict[str, int]] = []  # owner -> mass weight, per leg
    for k in range(len(legs)):
        if basis == "mass":
            per_leg.append(_weights(legs, carried, k, rest_owner))
        elif basis == "equal":
            per_leg.append({})
            for c in carried:
                per_leg[k][_owner(c.platform)] = per_leg[k].get(_owner(c.platform), 0) + 1
        else:
            per_leg.append({rest_owner: 1})
    # A leg with nothing aboard (the empty run back) has no tonne-km and no grams: it goes
    # to the shipment's owners alike, so that it makes no one else an owner.
    owners = sorted({o for w in per_leg for o in w}) or [rest_owner]
    per_leg = [w or dict.fromkeys(owners, 1) for w in per_leg]
    if not legs:
        return _without_legs(co2e_g, carried, basis, rest_owner)
    # The legs' grams add up to the recorded total (the contract makes it so); should they
    # not, the total wins and is first split over the legs by their grams.
    leg_g = [leg.co2e_g for leg in legs]
    if sum(leg_g) != co2e_g:
        leg_g = list(_divide(co2e_g, {f"{i:06d}": g for i, g in enumerate(leg_g)}).values())
    pieces: list[Piece] = []
    for leg, grams, w in zip(legs, leg_g, per_leg, strict=True):
        again = leg_emissions(FreightLeg(str(leg.idx), leg.mode, leg.vehicle_class,
                                         leg.mass_kg * 1000, leg.distance_m), factors)
        wtw, rec = _divide(grams, w), _divide(again.wtw_g, w)
        # The table's TTW fits the leg's recorded grams only if its factor gives them
        # (a leg recorded under another table version may not): else unknown, not mixed.
        ttw = (_divide(again.ttw_g, w) if again.ttw_g is not None
               and again.wtw_g == grams else None)
        total_w = sum(w.values())
        leg_tkm = Decimal(leg.mass_kg * leg.distance_m) / 10**6
        for o in sorted(w):
            pieces.append(Piece(o, leg.idx, leg.mode, leg.vehicle_class, leg.distance_m,
                                leg_tkm * w[o] / total_w, wtw[o],
                                None if ttw is None else ttw[o], rec[o]))
    return Split(basis, tuple(sorted({p.owner for p in pieces})), tuple(pieces))


def _without_legs(co2e_g: int, carried: Sequence[Carried], basis: str,
                  rest_owner: str) -> Split:
    """No leg rows: the recorded total alone, by order mass, equally or whole (nothing to
    recompute, so ``recomputed_g`` is 0, as the control then shows)."""
    by: dict[str, int] = {}
    for c in carried:
        by[_owner(c.platform)] = by.get(_owner(c.platform), 0) + (
            (c.mass_kg or 0) if basis == "mass" else 1)
    shares = _divide(co2e_g, by or {rest_owner: 1})
    return Split(basis, tuple(sorted(shares)), tuple(
        Piece(o, -1, "", "", 0, Decimal(0), g, None, 0) for o, g in sorted(shares.items())))
