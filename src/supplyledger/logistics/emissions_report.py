"""The monthly freight emissions report per platform (ISO 14083:2023 / GLEC), pure: rows of
recorded shipments in, a JSON-ready dict (or CSV) out. The SQL is ``store.kpi_rows``.

Which shipments count: those that *departed* in the month (UTC). A shipment is one
transport operation; ISO 14083 accounts for operations performed in the reporting period,
so shipments created but not yet departed are only counted (``planned``), never summed,
and one closed before departure (cancelled) is neither.

Whose emissions: a shipment is split among the platforms whose goods it carried, by the
mass of their goods on each leg (:mod:`.emissions_split`, ISO 14083 consignment
allocation), in whole grams that add up to the shipment. Goods of no platform (direct-sales
orders, cargo of a shipment no platform made) are "(direct sales)", as in the KPIs. A
shared shipment counts in each platform it served (``shared_shipments`` says how many of a
platform's were shared) but once in ``totals``; ``allocation`` counts the shipments split
by mass, equally (a mass unknown) or given whole (no orders).

What is reported, following the ISO 14083 reporting elements that apply to a shipper's
view of its transport chain (clause 13 / GLEC "reporting"):

* total GHG emissions, **well-to-wheel** (WTW = tank-to-wheel + well-to-tank), g CO2e, as
  recorded on the ledger by the shipments contract (``shipments.co2e_g``, the sum of its
  legs' integer grams), split into TTW and WTT where the factor gives the split (rail in the
  table does not) and gives the leg's recorded grams (a leg recorded under another table
  version may not); otherwise TTW/WTT are ``None``, never guessed;
* transport activity in tonne-km (mass x distance of each leg) and distance;
* the GHG intensity (g CO2e per tonne-km) overall and per transport mode and vehicle class;
* emissions per order (the orders' allocated shares, ``shipment_orders.co2e_g``; allocation
  by tonne-km, ISO 14083's default for consolidated freight);
* the method statement: boundaries, allocation, data type (default intensity values), the
  emission-factor table's version and the source of every factor used.

As a control, every leg is recomputed with :mod:`.emissions` from its recorded mass and
distance and the current factor table; ``check`` gives the recomputed total and its
deviation from the recorded one (zero unless the table changed since recording, which
``factor_versions`` then shows).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from supplyledger.logistics.emissions import FactorTable
from supplyledger.logistics.emissions_split import Carried, Split, split_shipment
from supplyledger.logistics.kpi import DIRECT_NAME
from supplyledger.logistics.periods import Period

__all__ = ["CSV_COLUMNS", "Carried", "LegRow", "ShipmentRow", "monthly_report", "to_csv"]

METHOD = {
    "standard": "ISO 14083:2023, GLEC Framework method (tonne-km x GHG intensity per leg)",
    "boundary": "well-to-wheel (tank-to-wheel + well-to-tank), CO2e (GWP100 as in the "
                "factor source)",
    "allocation": "per leg by tonne-km (mass x distance) of each order's consignment; a "
                  "shipment carrying several platforms' goods is split among them by the "
                  "mass of their goods on each leg (cargo on no order: the shipment's own "
                  "platform); equal shares per order when a mass is unknown, the whole "
                  "shipment to its platform (or none) when it carries no order",
    "data_type": "default GHG intensity values (modelled) from the versioned factor table; "
                 "distances and masses as recorded on the ledger per leg",
    "rounding": "each leg rounded once, half-even, to whole grams; a leg's shares by largest "
                "remainder, adding up to the leg; totals are sums of legs",
    "period": "shipments that departed in the month (UTC)",
}
BASES = ("mass", "equal", "whole")


@dataclass(frozen=True)
class LegRow:
    idx: int
    mode: str
    vehicle_class: str
    distance_m: int
    mass_kg: int
    co2e_g: int
    tonne_km: str | None = None  # as recorded (a decimal string)


@dataclass(frozen=True)
class ShipmentRow:
    id: str
    platform: str | None  # the shipment's own platform (created or planned it, or sole one)
    status: str
    created: int
    departed: int | None
    co2e_g: int
    factors: str | None
    legs: tuple[LegRow, ...]
    carried: tuple[Carried, ...] = ()  # the orders on it, with their platforms and masses


@dataclass(frozen=True)
class _Served:
    """One departed shipment as one owner sees it."""

    row: ShipmentRow
    split: Split

    @property
    def shared(self) -> bool:
        return len(self.split.owners) > 1


def _q(value: Decimal, places: str) -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def _intensity(grams: int, tkm: Decimal) -> str | None:
    return _q(Decimal(grams) / tkm, "0.01") if tkm else None


def _platform(owner: str, served: Sequence[_Served], planned: int, factors: FactorTable,
              used: dict[tuple[str, str], Any]) -> dict[str, Any]:
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"legs": 0, "shipments": set(), "tkm": Decimal(0), "distance_m": 0,
                 "wtw_g": 0, "ttw_g": 0, "recomputed_g": 0, "ttw_known": True})
    orders: dict[str, int] = defaultdict(int)
    total = 0
    legless = False  # grams with no leg rows: their TTW is unknown
    for sv in served:
        for piece in sv.split.pieces:
            if piece.owner != owner:
                continue
            total += piece.wtw_g
            if piece.leg < 0:  # no leg rows: the recorded total only
                legless = True
                continue
            g = groups[(piece.mode, piece.vehicle_class)]
            used[(piece.mode, piece.vehicle_class)] = factors.get(piece.mode,
                                                                  piece.vehicle_class)
            g["legs"] += 1
            g["shipments"].add(sv.row.id)
            g["tkm"] += piece.tonne_km
            g["distance_m"] += piece.distance_m
            g["wtw_g"] += piece.wtw_g
            g["recomputed_g"] += piece.recomputed_g
            if piece.ttw_g is None:
                g["ttw_known"] = False
            else:
                g["ttw_g"] += piece.ttw_g
        for c in sv.row.carried:
            if (c.platform or "") == owner:
                orders[c.order] += c.co2e_g
    by_mode = []
    for (mode, vclass), g in sorted(groups.items()):
        f = factors.get(mode, vclass)
        ttw = g["ttw_g"] if g["ttw_known"] else None
        by_mode.append({
            "mode": mode, "vehicle_class": vclass, "fuel": f.fuel, "legs": g["legs"],
            "shipments": len(g["shipments"]), "tonne_km": _q(g["tkm"], "0.001"),
            "distance_km": _q(Decimal(g["distance_m"]) / 1000, "0.001"),
            "wtw_g": g["wtw_g"], "ttw_g": ttw, "wtt_g": None if ttw is None else g["wtw_g"] - ttw,
            "intensity_g_per_tkm": _intensity(g["wtw_g"], g["tkm"]),
            "factor_wtw_g_per_tkm": str(f.wtw_g_per_tkm)})
    tkm = sum((g["tkm"] for g in groups.values()), Decimal(0))
    ttw_all = None if legless or any(m["ttw_g"] is None for m in by_mode) else sum(
        m["ttw_g"] for m in by_mode)
    recomputed = sum(g["recomputed_g"] for g in groups.values())
    order_total = sum(orders.values())
    return {
        "shipments": len(served), "shared_shipments": sum(sv.shared for sv in served),
        "planned": planned,
        "allocation": {b: sum(sv.split.basis == b for sv in served) for b in BASES},
        "tonne_km": _q(tkm, "0.001"),
        "distance_km": _q(Decimal(sum(g["distance_m"] for g in groups.values())) / 1000,
                          "0.001"),
        "wtw_g": total, "ttw_g": ttw_all, "wtt_g": None if ttw_all is None else total - ttw_all,
        "intensity_g_per_tkm": _intensity(total, tkm),
        "by_mode": by_mode,
        "orders": {"n": len(orders), "co2e_g": order_total,
                   "per_order_g": _q(Decimal(order_total) / len(orders), "0.1")
                   if orders else None},
        "check": {"legs_wtw_g": sum(g["wtw_g"] for g in groups.values()),
                  "recomputed_wtw_g": recomputed,
                  "deviation_pct": _q(Decimal(100 * (recomputed - total)) / total, "0.001")
                  if total else None},
        "factor_versions": sorted({sv.row.factors or "" for sv in served} - {""}),
    }


def monthly_report(shipments: Sequence[ShipmentRow], month: Period, factors: FactorTable,
                   *, names: Mapping[str, str] | None = None,
                   platform: str | None = None) -> dict[str, Any]:
    """The report for ``month``: one entry per platform that shipped (or planned) in it,
    ``""`` for goods of no platform; ``platform`` keeps that one only."""
    names = names or {}
    departed: dict[str, list[_Served]] = defaultdict(list)
    planned: dict[str, int] = defaultdict(int)
    for s in sorted(shipments, key=lambda s: s.id):
        if s.departed is not None and s.departed in month:
            sv = _Served(s, split_shipment(s.platform, s.co2e_g, s.legs, s.carried, factors))
            for owner in sv.split.owners:
                departed[owner].append(sv)
        elif s.departed is None and s.status != "closed" and s.created in month:
            # closed without departing = cancelled: no operation to plan for
            for owner in split_shipment(s.platform, s.co2e_g, s.legs, s.carried,
                                        factors).owners:
                planned[owner] += 1
    used: dict[tuple[str, str], Any] = {}

    def name(k: str) -> str:
        return names.get(k, k) if k else DIRECT_NAME

    keys = sorted((set(departed) | set(planned)) if platform is None else
                  {platform} & (set(departed) | set(planned)), key=lambda k: (name(k), k))
    platforms = [{"platform": k, "name": name(k),
                  **_platform(k, departed[k], planned[k], factors, used)} for k in keys]
    shown = {sv.row.id: sv.shared for k in keys for sv in departed[k]}
    # Tonne-km summed before rounding: the platforms' figures are each rounded to 0.001.
    tkm = sum((piece.tonne_km for k in keys for sv in departed[k]
               for piece in sv.split.pieces if piece.owner == k), Decimal(0))
    return {
        "month": month.label, "start": month.start, "end": month.end, "method": METHOD,
        "factor_table": {"version": factors.version, "factors": [
            {"mode": f.mode, "vehicle_class": f.vehicle_class, "fuel": f.fuel,
             "wtw_g_per_tkm": str(f.wtw_g_per_tkm),
             "ttw_g_per_tkm": None if f.ttw_g_per_tkm is None else str(f.ttw_g_per_tkm),
             "source": f.source} for _, f in sorted(used.items())]},
        "platforms": platforms,
        # A shared shipment is in several platforms' counts but once here.
        "totals": {"shipments": len(shown), "shared_shipments": sum(shown.values()),
                   "wtw_g": sum(p["wtw_g"] for p in platforms),
                   "tonne_km": _q(tkm, "0.001")},
    }


CSV_COLUMNS = ("month", "platform", "platform_name", "mode", "vehicle_class", "fuel", "legs",
               "shipments", "tonne_km", "distance_km", "wtw_g", "ttw_g", "wtt_g",
               "intensity_g_per_tkm", "factor_version", "shared_shipments", "allocation")


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per platform, mode and vehicle class, then the platform's total (mode ``*``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    version = report["factor_table"]["version"]
    for p in report["platforms"]:
        head = [report["month"], p["platform"], p["name"]]
        for m in p["by_mode"]:
            w.writerow([*head, m["mode"], m["vehicle_class"], m["fuel"], m["legs"],
                        m["shipments"], m["tonne_km"], m["distance_km"], m["wtw_g"],
                        _blank(m["ttw_g"]), _blank(m["wtt_g"]),
                        _blank(m["intensity_g_per_tkm"]), version, "", ""])
        w.writerow([*head, "*", "*", "", sum(m["legs"] for m in p["by_mode"]), p["shipments"],
                    p["tonne_km"], p["distance_km"], p["wtw_g"], _blank(p["ttw_g"]),
                    _blank(p["wtt_g"]), _blank(p["intensity_g_per_tkm"]), version,
                    p["shared_shipments"],
                    "+".join(sorted(b for b, n in p["allocation"].items() if n))])
    return out.getvalue()


def _blank(v: Any) -> Any:
    return "" if v is None else v
