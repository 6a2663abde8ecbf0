"""Platforms A/B/C experiment (paper 000, Tables 1-3): traditional vs ledger operation.

Why it is built this way: the paper gives "before" and "after" figures but no mechanism. We
calibrate each platform's *structure* (:class:`PlatformParams`) so that the TRADITIONAL
mechanism reproduces the paper's before-figures, then change only the *mechanism*
(:class:`MechanismParams`: hand-offs, payment, reconciliation, dispatch planning, tracking)
and report whatever the simulation yields as "after". The paper's own after-figures are
shown beside ours (``paper_after``), never fed in.

Scale: each platform is simulated as the same 1/250 share of its daily order flow
(annual 50 M / 12 M / 3 M orders -> about 548 / 132 / 33 orders a day) for 10 days, i.e.
5 479 / 1 315 / 329 orders by default. ``orders_per_platform`` changes the number of orders
but keeps the arrival rate, so queue utilisation (and hence the calibration) is unchanged.

Calibration. PlatformParams were tuned by hand (seed 7, default size) until the TRADITIONAL
run matched the paper's before-figures; of the mechanisms only the traditional EDI cadence
was touched (4 h -> 1 h, since a 4 h cadence alone overshot the before processing time). The
LEDGER mechanism was set from the mechanism descriptions below and never tuned towards the
paper's after-figures. Tolerance held
by the tests: times and cost within 10 %, satisfaction within 0.1 points (seeds 1-3 stay
within 7 %). Result at seed 7 (processing h / delivery h / RMB per order / score):

    platform  paper before         ours before             ours after (ledger)
    A         12 / 48 / 15 / 4.2   12.59 / 48.48 / 15.09 / 4.19   6.99 / 42.89 / 10.21 / 4.34
    B         15 / 56 / 20 / 3.9   14.68 / 55.77 / 20.20 / 3.90   8.92 / 51.18 / 15.01 / 4.10
    C         10 / 40 / 12 / 4.5   10.45 / 40.09 / 12.32 / 4.50   4.69 / 35.38 /  7.99 / 4.65

(paper after: A 8 / 40 / 12 / 4.5, B 10 / 45 / 17 / 4.3, C 7 / 32 / 10 / 4.7.) Our ledger
cuts processing time and cost more than the paper reports and delivery time and satisfaction
less: in this model the ledger removes waiting between parties, while trunk driving, hub
schedules and delivery waves stay as they were.

Satisfaction is a documented function, not a survey: per order
``base - 0.15 * lead_days - 0.4 * late - 0.3 * dark_days - 0.15 * failed_attempts``
clamped to 1..5, averaged (see :class:`SatisfactionParams`). ``base`` is the non-logistics
part of a platform's rating and is the one satisfaction parameter calibrated per platform.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

from supplyledger.errors import ValidationError
from supplyledger.logistics.simulation_model import (
    CostParams,
    MechanismParams,
    OrderDraws,
    PlatformParams,
    SatisfactionParams,
    draw_orders,
    simulate_orders,
)

__all__ = [
    "LEDGER",
    "PAPER_AFTER",
    "PAPER_BEFORE",
    "PLATFORMS",
    "TOLERANCE",
    "TRADITIONAL",
    "RunSummary",
    "default_sample_size",
    "run_platforms_experiment",
    "simulate_platform",
]

SLICE_SHARE = 250  # simulate 1/250 of a platform's daily order flow
SAMPLE_DAYS = 10
METRICS = ("order_processing_h", "delivery_h", "cost_per_order", "satisfaction")
TOLERANCE = {"order_processing_h": 0.10, "delivery_h": 0.10, "cost_per_order": 0.10,
             "satisfaction": 0.1}  # relative, relative, relative, absolute points

# Paper 000, section 4.2 and Tables 1-3 (Table 3 prints C's after-value as "4 7"; the text
# says 4.7).
PAPER_BEFORE: dict[str, dict[str, float]] = {
    "A": {"order_processing_h": 12, "delivery_h": 48, "cost_per_order": 15, "satisfaction": 4.2},
    "B": {"order_processing_h": 15, "delivery_h": 56, "cost_per_order": 20, "satisfaction": 3.9},
    "C": {"order_processing_h": 10, "delivery_h": 40, "cost_per_order": 12, "satisfaction": 4.5},
}
PAPER_AFTER: dict[str, dict[str, float]] = {
    "A": {"order_processing_h": 8, "delivery_h": 40, "cost_per_order": 12, "satisfaction": 4.5},
    "B": {"order_processing_h": 10, "delivery_h": 45, "cost_per_order": 17, "satisfaction": 4.3},
    "C": {"order_processing_h": 7, "delivery_h": 32, "cost_per_order": 10, "satisfaction": 4.7},
}

# Batch EDI between parties every hour (+15 min import), third-party payment (0.6 % channel
# fee, a common Alipay/WeChat Pay merchant rate) settling before release, parties keeping
# their own copies (one order in five needs a clerk), hand-planned routes from a manifest
# frozen 3 h ahead, no shared tracking (a problem surfaces at the next manual checkpoint,
# about a day later).
TRADITIONAL = MechanismParams(
    name="traditional", payment_clearing_mean_h=1.0, handoff_interval_h=1.0,
    handoff_latency_h=0.25, mismatch_probability=0.20, carrier_cutoff_h=2.0,
    dispatch_plan_cutoff_h=3.0, route_time_factor=1.0, failed_attempt_probability=0.12,
    exception_detection_mean_h=24.0, message_cost_rmb=0.15, payment_fee_rate=0.006,
    payment_fee_fixed_rmb=0.0,
)
# Shared real-time state (numbers are modelling assumptions): every party reads the committed
# record at once (block commit about 4 s); escrow locks and later releases the money in the
# order's own transactions (paper eq. 7, no intermediary); contracts validate data on entry,
# so only genuinely bad input still needs a clerk; routes are optimised from live state (VRP,
# 15 % less courier time per stop); customers get a live ETA (half the failed attempts); a
# missed scan is flagged within about an hour.
LEDGER = MechanismParams(
    name="ledger", payment_clearing_mean_h=0.001, handoff_interval_h=0.0,
    handoff_latency_h=0.001, mismatch_probability=0.04, carrier_cutoff_h=0.5,
    dispatch_plan_cutoff_h=0.25, route_time_factor=0.85, failed_attempt_probability=0.06,
    exception_detection_mean_h=1.0, message_cost_rmb=0.02, payment_fee_rate=0.0,
    payment_fee_fixed_rmb=0.05,
)

_SATISFACTION = dict(w_lead_per_day=0.15, w_late=0.4, w_dark_per_day=0.3, w_retry=0.15)

PLATFORMS: tuple[PlatformParams, ...] = (
    PlatformParams(
        name="A", annual_orders=50_000_000, orders_per_day=50_000_000 / 365 / SLICE_SHARE,
        order_value_rmb=180.0, clerks=10, clerk_shift=(8.0, 18.0), reconcile_mean_h=0.5,
        pickers=12, picker_shift=(6.0, 22.0), pick_mean_h=0.25, pickup_times=(9.0, 14.0, 19.0),
        first_mile_km=(20.0, 80.0), sorters=4, sort_mean_h=0.05, trunk_interval_h=8.0,
        trunk_km=(700.0, 2000.0), wave_times=(8.0, 14.0), couriers=20, stops_per_courier=20,
        stop_h=0.25, exception_probability=0.05, exception_resolution_mean_h=12.0,
        costs=CostParams(handling_rmb=1.5, storage_rmb_per_h=0.05, admin_rmb=0.5,
                         clerk_rmb_per_h=25.0, linehaul_rmb_per_100km=0.3,
                         last_mile_rmb_per_attempt=2.8, exception_fixed_rmb=10.0,
                         exception_rmb_per_dark_h=0.5),
        satisfaction=SatisfactionParams(base=4.67, promised_h=72.0, **_SATISFACTION),
    ),
    PlatformParams(
        name="B", annual_orders=12_000_000, orders_per_day=12_000_000 / 365 / SLICE_SHARE,
        order_value_rmb=150.0, clerks=3, clerk_shift=(9.0, 17.0), reconcile_mean_h=0.5,
        pickers=5, picker_shift=(7.0, 21.0), pick_mean_h=0.3, pickup_times=(11.0, 17.0),
        first_mile_km=(20.0, 80.0), sorters=2, sort_mean_h=0.05, trunk_interval_h=12.0,
        trunk_km=(900.0, 2300.0), wave_times=(9.0, 15.0), couriers=6, stops_per_courier=20,
        stop_h=0.3, exception_probability=0.07, exception_resolution_mean_h=14.0,
        costs=CostParams(handling_rmb=2.5, storage_rmb_per_h=0.06, admin_rmb=1.0,
                         clerk_rmb_per_h=25.0, linehaul_rmb_per_100km=0.35,
                         last_mile_rmb_per_attempt=4.2, exception_fixed_rmb=12.0,
                         exception_rmb_per_dark_h=0.5),
        satisfaction=SatisfactionParams(base=4.54, promised_h=72.0, **_SATISFACTION),
    ),
    PlatformParams(
        name="C", annual_orders=3_000_000, orders_per_day=3_000_000 / 365 / SLICE_SHARE,
        order_value_rmb=120.0, clerks=2, clerk_shift=(8.0, 18.0), reconcile_mean_h=0.5,
        pickers=2, picker_shift=(6.0, 22.0), pick_mean_h=0.2,
        pickup_times=(8.0, 12.0, 16.0, 20.0), first_mile_km=(10.0, 50.0), sorters=1,
        sort_mean_h=0.05, trunk_interval_h=24.0, trunk_km=(300.0, 1000.0),
        wave_times=(8.0, 14.0), couriers=2, stops_per_courier=20, stop_h=0.25,
        exception_probability=0.04, exception_resolution_mean_h=10.0,
        costs=CostParams(handling_rmb=1.6, storage_rmb_per_h=0.04, admin_rmb=0.5,
                         clerk_rmb_per_h=25.0, linehaul_rmb_per_100km=0.3,
                         last_mile_rmb_per_attempt=3.0, exception_fixed_rmb=10.0,
                         exception_rmb_per_dark_h=0.5),
        satisfaction=SatisfactionParams(base=4.94, promised_h=60.0, **_SATISFACTION),
    ),
)


@dataclass(frozen=True)
class RunSummary:
    """Means over all simulated orders, plus diagnostics that explain them."""

    order_processing_h: float
    delivery_h: float
    cost_per_order: float
    satisfaction: float
    orders: int
    reconciled_share: float
    failed_attempt_share: float
    late_share: float
    mean_dark_h: float

    def metrics(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in METRICS}


def default_sample_size(platform: PlatformParams) -> int:
    return round(platform.orders_per_day * SAMPLE_DAYS)


def _draws(platform: PlatformParams, seed: int, orders: int | None) -> list[OrderDraws]:
    count = default_sample_size(platform) if orders is None else orders
    if count < 1:
        raise ValidationError("orders must be at least 1", orders=count)
    rng = random.Random(f"supplyledger-platforms:{seed}:{platform.name}")
    return draw_orders(platform, count, rng)


def _summary(platform: PlatformParams, mechanism: MechanismParams,
             draws: list[OrderDraws]) -> RunSummary:
    outcomes = simulate_orders(platform, mechanism, draws)
    promised = platform.satisfaction.promised_h
    return RunSummary(
        order_processing_h=round(fmean(o.processing_h for o in outcomes), 2),
        delivery_h=round(fmean(o.delivery_h for o in outcomes), 2),
        cost_per_order=round(fmean(o.cost_rmb for o in outcomes), 2),
        satisfaction=round(fmean(o.satisfaction for o in outcomes), 2),
        orders=len(outcomes),
        reconciled_share=round(fmean(o.reconciled for o in outcomes), 4),
        failed_attempt_share=round(fmean(o.attempts > 1 for o in outcomes), 4),
        late_share=round(fmean(o.processing_h + o.delivery_h > promised for o in outcomes), 4),
        mean_dark_h=round(fmean(o.dark_h for o in outcomes), 3),
    )


def simulate_platform(platform: PlatformParams, mechanism: MechanismParams, *, seed: int,
                      orders: int | None = None) -> RunSummary:
    """One run; the draws depend only on (seed, platform name, orders), not on the mechanism."""
    return _summary(platform, mechanism, _draws(platform, seed, orders))


def run_platforms_experiment(
    *, seed: int = 7, orders_per_platform: int | None = None,
    platforms: tuple[PlatformParams, ...] = PLATFORMS,
    traditional: MechanismParams = TRADITIONAL, ledger: MechanismParams = LEDGER,
) -> dict[str, Any]:
    """Simulate every platform under both mechanisms; deterministic for a given seed."""
    rows: list[dict[str, Any]] = []
    diagnostics: dict[str, Any] = {}
    for platform in platforms:
        draws = _draws(platform, seed, orders_per_platform)  # common random numbers
        before, after = _summary(platform, traditional, draws), _summary(platform, ledger, draws)
        rows.append({
            "name": platform.name,
            "before": before.metrics(),
            "after": after.metrics(),
            "paper_before": dict(PAPER_BEFORE.get(platform.name, {})),
            "paper_after": dict(PAPER_AFTER.get(platform.name, {})),
        })
        diagnostics[platform.name] = {"before": asdict(before), "after": asdict(after)}
    return {
        "platforms": rows,
        "params": {
            "seed": seed,
            "orders_per_platform": orders_per_platform,
            "slice_share": f"1/{SLICE_SHARE} of daily flow",
            "sample_days": SAMPLE_DAYS,
            "tolerance": TOLERANCE,
            "mechanisms": {"traditional": asdict(traditional), "ledger": asdict(ledger)},
            "platforms": {p.name: asdict(p) for p in platforms},
            "diagnostics": diagnostics,
        },
    }
