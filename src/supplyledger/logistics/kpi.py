"""Key performance indicators from ledger events, per platform and period (pure: plain rows
in, JSON-ready dicts out; the SQL that reads the projections is ``store.kpi_rows``).

"Now" is ``as_of``, the time of the ledger's last block, so a report is reproducible from the
ledger alone. A measure lands in the period (UTC, see :mod:`.periods`) in which the measured
thing *finished*, the usual convention of operations reports; each KPI states its own
population ``n``. An empty population gives ``None``, never a misleading zero.

orders
    Orders placed in the period; ``cancelled`` counts those of them cancelled since.
order processing time (hours)
    placed -> dispatched (the seller, or its platform's dispatch plan, hands the goods to a
    transporter: the ``dispatched`` order event), over orders dispatched in the period;
    median and mean.
delivery time (hours)
    dispatched -> delivered (the transporter's final ``deliver``: ``orders.delivered_at``),
    over orders delivered in the period; median and mean.
cost per order (minor units of the order's currency, one entry per currency)
    freight + storage + handling, over orders dispatched in the period. *freight* is
    **measured**: what the buyer escrowed for transport (``orders.freight``). *storage* and
    *handling* are not on the ledger and are **assumed** from a :class:`Tariff`: storage =
    ``storage_per_unit_day`` x quantity x the measured days between placing and dispatch
    (pro rata to the millisecond); handling = ``handling_per_order`` + ``handling_per_unit``
    x quantity. Means are rounded half-even to whole minor units; currencies are never added.
on-time-in-full (OTIF, %)
    Over orders *due* in the period (``latest`` of the delivery window, after any reschedule,
    in the period) that are decided: delivered, or overdue (``latest`` < ``as_of``) and not
    cancelled. OTIF = the orders contract recorded the final delivery as on time
    (``on_time = 1``: not after ``latest``) AND ``delivered = quantity`` (a short delivery
    declared final is not in full). An overdue undelivered order fails.
cold-chain excursion rate (%)
    *orders*: over orders dispatched in the period, the share whose batch had a sensor
    breach that started no later than the order's delivery (or ``as_of`` if undelivered).
    A breach marks the lots its device watched, so other lots in the same vehicle do not
    count. *shipments*: over shipments created in the period, the share with a breach
    recorded by a device bound to the shipment, or a breach on a lot it carries that
    overlaps its journey (departed .. arrived; one closed on the way without arriving ..
    its close; .. ``as_of`` while moving): a lot's earlier or later breaches belong to
    whoever held it then. ``None`` when the ledger has no sensor contract.
satisfaction
    Mean buyer rating 1-5 (``ratings.score``, which rates seller and platform) over ratings
    given in the period, two decimals.
CO2e per order (g CO2e well-to-wheel, ISO 14083)
    Over orders dispatched in the period that shipments carry: the sum of their allocated
    shares of the shipments' emissions (``shipment_orders.co2e_g``, allocated by tonne-km)
    divided by their number; ``of`` is the number dispatched, so coverage is visible.

The store leaves out shipments closed before departing (cancelled: no transport, as in the
emissions report), gives a shipment no platform created once to each platform of the
orders it carries, and lists among a shipment's ``batches`` the lots of all its orders (a
one-platform report loads that platform's orders only, but a shared shipment carries
others' lots too).

Orders and ratings without a platform are grouped under ``DIRECT`` (""), named
``DIRECT_NAME`` ("(direct sales)"), as are the shipments of no platform carrying no order of
one; the emissions report uses the same name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from supplyledger.errors import ValidationError
from supplyledger.logistics.periods import Period

__all__ = [
    "DEFAULT_TARIFFS",
    "DIRECT",
    "DIRECT_NAME",
    "BreachFacts",
    "KpiInput",
    "OrderFacts",
    "RatingFacts",
    "ShipmentFacts",
    "Tariff",
    "compute",
    "parse_tariffs",
]

DIRECT = ""
DIRECT_NAME = "(direct sales)"  # what every report calls DIRECT (docs/kpi.md)
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


@dataclass(frozen=True)
class OrderFacts:
    id: str
    platform: str | None
    currency: str
    quantity: int
    delivered: int
    freight: int
    state: str
    latest: int
    placed_at: int
    dispatched_at: int | None = None
    delivered_at: int | None = None
    on_time: int | None = None
    batch: str | None = None
    co2e_g: int | None = None  # sum of the order's shares; None: no shipment carries it


@dataclass(frozen=True)
class RatingFacts:
    order_id: str
    platform: str | None
    score: int
    time: int


@dataclass(frozen=True)
class ShipmentFacts:
    id: str
    platform: str | None
    created: int
    batches: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    departed: int | None = None
    arrived: int | None = None  # arrival at the last leg's end
    ended: int | None = None  # delivered or closed (one closed on the way never arrives)


@dataclass(frozen=True)
class BreachFacts:
    batch: str | None
    shipment: str | None
    started: int
    ended: int | None = None  # None: still going on


@dataclass(frozen=True)
class KpiInput:
    """Everything the KPIs read; ``has_sensors``/``has_shipments`` say whether those
    contracts' tables exist (absent data is not the same as zero breaches)."""

    as_of: int
    orders: Sequence[OrderFacts] = ()
    ratings: Sequence[RatingFacts] = ()
    shipments: Sequence[ShipmentFacts] = ()
    breaches: Sequence[BreachFacts] = ()
    has_sensors: bool = False
    has_shipments: bool = False
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tariff:
    """Assumed storage and handling prices, integer minor units of one currency."""

    storage_per_unit_day: int
    handling_per_order: int
    handling_per_unit: int


# Illustrative defaults (assumptions, not measurements): 3PL-style prices for small parcels.
# Override with ``supplyledger kpi --tariffs FILE.json`` ({"CNY": {<Tariff fields>}, ...}).
DEFAULT_TARIFFS: dict[str, Tariff] = {
    "CNY": Tariff(storage_per_unit_day=10, handling_per_order=300, handling_per_unit=20),
    "EUR": Tariff(storage_per_unit_day=2, handling_per_order=150, handling_per_unit=5),
}


def parse_tariffs(data: Any) -> dict[str, Tariff]:
    """Validate ``{"CCY": {"storage_per_unit_day": int, ...}}`` (non-negative integers)."""
    if not isinstance(data, dict) or not data:
        raise ValidationError("tariffs must be a non-empty object keyed by currency")
    out: dict[str, Tariff] = {}
    names = {f for f in Tariff.__dataclass_fields__}
    for ccy, t in data.items():
        if not (isinstance(ccy, str) and len(ccy) == 3 and ccy.isupper() and ccy.isalpha()):
            raise ValidationError(f"tariff key {ccy!r} is not an ISO 4217 code", arg="tariffs")
        if not isinstance(t, dict) or set(t) != names:
            raise ValidationError(f"tariff {ccy} needs exactly {sorted(names)}", arg="tariffs")
        for k, v in t.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValidationError(f"tariff {ccy}.{k} must be a non-negative integer of "
                                      "minor units", arg="tariffs")
        out[ccy] = Tariff(**t)
    return out


def _q(value: Decimal, places: str) -> str:
    return str(value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def _pct(k: int, n: int) -> dict[str, Any]:
    return {"n": n, "hit": k, "pct": _q(Decimal(100 * k) / n, "0.1") if n else None}


def _hours(durations: Sequence[int]) -> dict[str, Any]:
    if not durations:
        return {"n": 0, "median": None, "mean": None}
    s = sorted(durations)
    mid = len(s) // 2
    median = Decimal(s[mid]) if len(s) % 2 else Decimal(s[mid - 1] + s[mid]) / 2
    mean = Decimal(sum(s)) / len(s)
    return {"n": len(s), "median": _q(median / _HOUR_MS, "0.01"),
            "mean": _q(mean / _HOUR_MS, "0.01")}


def _costs(orders: Sequence[OrderFacts], tariffs: Mapping[str, Tariff]) -> list[dict[str, Any]]:
    by_ccy: dict[str, list[OrderFacts]] = defaultdict(list)
    for o in orders:
        by_ccy[o.currency].append(o)
    out = []
    for ccy in sorted(by_ccy):
        group, t = by_ccy[ccy], tariffs.get(ccy)
        freight = Decimal(sum(o.freight for o in group))
        storage = handling = Decimal(0)
        if t is not None:
            for o in group:
                assert o.dispatched_at is not None
                waited = Decimal(o.dispatched_at - o.placed_at) / _DAY_MS
                storage += t.storage_per_unit_day * o.quantity * waited
                handling += t.handling_per_order + t.handling_per_unit * o.quantity
        n = len(group)
        parts = {k: int((v / n).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
                 for k, v in (("freight", freight), ("storage", storage),
                              ("handling", handling), ("total", freight + storage + handling))}
        out.append({"currency": ccy, "n": n, **parts,
                    "tariff": None if t is None else asdict(t)})
    return out


class _Breaches:
    """Earliest breach start per batch and per shipment, and every breach span per batch."""

    def __init__(self, rows: Iterable[BreachFacts]) -> None:
        self.batch: dict[str, int] = {}
        self.shipment: dict[str, int] = {}
        self.spans: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
        for b in rows:
            for key, index in ((b.batch, self.batch), (b.shipment, self.shipment)):
                if key:
                    index[key] = min(index.get(key, b.started), b.started)
            if b.batch:
                self.spans[b.batch].append((b.started, b.ended))

    def during(self, batches: Iterable[str | None], start: int, end: int) -> bool:
        """Whether a breach on one of the lots overlaps ``start``..``end`` (both included)."""
        return any(s <= end and (e is None or e >= start)
                   for b in batches if b for s, e in self.spans.get(b, ()))

    def first(self, batches: Iterable[str | None], shipments: Iterable[str] = ()) -> int | None:
        starts = [self.batch[b] for b in batches if b in self.batch]
        starts += [self.shipment[s] for s in shipments if s in self.shipment]
        return min(starts) if starts else None


def _row(data: KpiInput, breaches: _Breaches, orders: Sequence[OrderFacts],
         ratings: Sequence[RatingFacts], shipments: Sequence[ShipmentFacts],
         order_batch: Mapping[str, str | None], p: Period,
         tariffs: Mapping[str, Tariff]) -> dict[str, Any]:
    placed = [o for o in orders if o.placed_at in p]
    dispatched = [o for o in orders if o.dispatched_at in p]
    delivered = [o for o in orders if o.delivered_at in p]
    due = [o for o in orders if o.latest in p and o.state != "cancelled"
           and (o.delivered_at is not None or o.latest < data.as_of)]
    otif = sum(1 for o in due if o.on_time == 1 and o.delivered >= o.quantity)
    excursions: dict[str, Any] | None = None
    if data.has_sensors:
        def hit(o: OrderFacts) -> bool:
            first = breaches.first([o.batch])
            end = data.as_of if o.delivered_at is None else o.delivered_at
            return first is not None and first <= end

        def moving(s: ShipmentFacts) -> bool:
            # A device bound to the shipment speaks for it; a lot's breach only counts
            # while this shipment carried the lot (departed .. arrival, or its end when
            # closed on the way, or "now" while still moving).
            if s.id in breaches.shipment:
                return True
            lots = [*s.batches, *(order_batch.get(o) for o in s.orders)]
            end = next((t for t in (s.arrived, s.ended) if t is not None), data.as_of)
            return s.departed is not None and breaches.during(lots, s.departed, end)

        made = [s for s in shipments if s.created in p]
        hits = sum(1 for s in made if moving(s))
        excursions = {"orders": _pct(sum(1 for o in dispatched if hit(o)), len(dispatched)),
                      "shipments": _pct(hits, len(made)) if data.has_shipments else None}
    rated = [r.score for r in ratings if r.time in p]
    carried = [o for o in dispatched if o.co2e_g is not None]
    total_g = sum(o.co2e_g or 0 for o in carried)
    return {
        "period": p.label, "start": p.start, "end": p.end,
        "orders": {"placed": len(placed),
                   "cancelled": sum(1 for o in placed if o.state == "cancelled")},
        "processing_hours": _hours([o.dispatched_at - o.placed_at for o in dispatched
                                    if o.dispatched_at is not None]),
        "delivery_hours": _hours([o.delivered_at - o.dispatched_at for o in delivered
                                  if o.delivered_at is not None
                                  and o.dispatched_at is not None]),
        "cost_per_order": _costs(dispatched, tariffs),
        "otif": _pct(otif, len(due)),
        "excursions": excursions,
        "satisfaction": {"n": len(rated), "mean": _q(Decimal(sum(rated)) / len(rated), "0.01")
                         if rated else None},
        "co2e_per_order": None if not data.has_shipments else {
            "n": len(carried), "of": len(dispatched), "total_g": total_g,
            "mean_g": _q(Decimal(total_g) / len(carried), "0.1") if carried else None},
    }


def compute(data: KpiInput, periods: Sequence[Period], *,
            platforms: Collection[str] | None = None,
            tariffs: Mapping[str, Tariff] = DEFAULT_TARIFFS) -> list[dict[str, Any]]:
    """One entry per platform: ``{"platform", "name", "periods": [row per period]}``.
    ``platforms`` limits the output (ids; ``DIRECT`` for orders without a platform); by
    default every platform with an order, rating or shipment is listed."""
    orders: dict[str, list[OrderFacts]] = defaultdict(list)
    ratings: dict[str, list[RatingFacts]] = defaultdict(list)
    shipments: dict[str, list[ShipmentFacts]] = defaultdict(list)
    for o in data.orders:
        orders[o.platform or DIRECT].append(o)
    for r in data.ratings:
        ratings[r.platform or DIRECT].append(r)
    for s in data.shipments:
        shipments[s.platform or DIRECT].append(s)
    # A shipment's cargo is known by order ids as well as lots: map orders to their lots.
    order_batch = {o.id: o.batch for o in data.orders}
    breaches = _Breaches(data.breaches)
    keys = set(orders) | set(ratings) | set(shipments)
    if platforms is not None:
        keys = set(platforms)

    def name(k: str) -> str:
        return DIRECT_NAME if k == DIRECT else data.names.get(k, k)

    return [{"platform": k, "name": name(k),
             "periods": [_row(data, breaches, orders[k], ratings[k], shipments[k],
                              order_batch, p, tariffs) for p in periods]}
            for k in sorted(keys, key=lambda k: (name(k), k))]
