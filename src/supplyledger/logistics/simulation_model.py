"""SimPy model of one e-commerce platform's order-to-door flow (paper 000, section 4).

Why a model and not a table: the paper reports before/after figures but not how the ledger
produces them. Here every effect comes from an explicit mechanism with a parameter in
:class:`MechanismParams` (how information and money move between parties) acting on a
platform's structure in :class:`PlatformParams` (queues, resources, schedules, distances).
The "after" numbers are whatever the queues yield when only the mechanism changes.

Time unit inside the simulation is the hour (t = 0 is midnight of day 0). Each order's random
draws are made up front from a seeded RNG (common random numbers), so the traditional and
ledger runs see the very same orders and differ only by mechanism.

Flow of one order (resources in capitals):
  payment clearing -> hand-off to warehouse -> [CLERKS reconcile a data mismatch]
  -> PICKERS pick & pack -> manifest to carrier -> scheduled pickup (= shipped)
  -> first-mile drive -> HUB SORTERS -> trunk departure -> trunk drive (eq. 5 via ``eta``)
  -> [exception: undetected for a while, then resolved] -> delivery-station wave
  (COURIERS x stops) -> delivered or failed attempt (back into the next wave).
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import simpy

from supplyledger.logistics.eta import MS_PER_HOUR, NOMINAL_SPEED_M_PER_H, travel_ms

__all__ = [
    "CostParams",
    "MechanismParams",
    "OrderDraws",
    "OrderOutcome",
    "PlatformParams",
    "SatisfactionParams",
    "draw_orders",
    "simulate_orders",
]

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class MechanismParams:
    """How information and money move between parties (one operating mode)."""

    name: str
    payment_clearing_mean_h: float  # intermediary settlement before the order is released
    handoff_interval_h: float  # EDI batch period between parties; 0 = on commit (event-driven)
    handoff_latency_h: float  # translation/import per hand-off, or block commit latency
    mismatch_probability: float  # share of orders whose copies disagree -> manual reconciliation
    carrier_cutoff_h: float  # the carrier must hold the manifest this long before a pickup
    dispatch_plan_cutoff_h: float  # last-mile plan is frozen this long before a wave leaves
    route_time_factor: float  # courier time per stop relative to hand-planned routes
    failed_attempt_probability: float  # customer not reached (no reliable ETA notice)
    exception_detection_mean_h: float  # how long a damaged/misrouted parcel goes unnoticed
    message_cost_rmb: float  # per hand-off message (EDI VAN fee or ledger transaction cost)
    payment_fee_rate: float  # payment-channel fee as a share of order value
    payment_fee_fixed_rmb: float  # fixed payment cost per order (e.g. escrow execution)


@dataclass(frozen=True)
class CostParams:
    """Cost per order = warehousing + order processing + payment + distribution (RMB)."""

    handling_rmb: float  # pick/pack labour and packaging
    storage_rmb_per_h: float  # warehouse space and capital while the order waits to ship
    admin_rmb: float  # order-desk work per order
    clerk_rmb_per_h: float  # reconciliation labour
    linehaul_rmb_per_100km: float  # a parcel's share of first-mile + trunk truck cost
    last_mile_rmb_per_attempt: float  # courier stop cost at hand-planned route efficiency
    exception_fixed_rmb: float  # re-sort, re-label, customer-service contact
    exception_rmb_per_dark_h: float  # wrong-way travel and rework grow while unnoticed


@dataclass(frozen=True)
class SatisfactionParams:
    """score = base - lead/24*w_lead - late*w_late - dark/24*w_dark - retries*w_retry (1..5)."""

    base: float  # the non-logistics part (catalogue, price, service), calibrated per platform
    w_lead_per_day: float  # customers value speed: points lost per day from order to door
    w_late: float  # delivered after the promised time
    w_dark_per_day: float  # points lost per day a problem exists that nobody has told them of
    w_retry: float  # each failed delivery attempt
    promised_h: float  # delivery promise shown at checkout


@dataclass(frozen=True)
class PlatformParams:
    """Structure of one platform's operation (a scaled slice of its daily flow)."""

    name: str
    annual_orders: int
    orders_per_day: float  # slice arrival rate (Poisson)
    order_value_rmb: float  # mean basket value (exponential)
    clerks: int
    clerk_shift: tuple[float, float]  # hours of day
    reconcile_mean_h: float
    pickers: int
    picker_shift: tuple[float, float]
    pick_mean_h: float
    pickup_times: tuple[float, ...]  # carrier collections, hours of day
    first_mile_km: tuple[float, float]  # uniform range, warehouse -> hub
    sorters: int
    sort_mean_h: float
    trunk_interval_h: float  # hub departures every so many hours
    trunk_km: tuple[float, float]  # uniform range, hub -> delivery station
    wave_times: tuple[float, ...]  # last-mile waves, hours of day
    couriers: int
    stops_per_courier: int
    stop_h: float  # courier time per stop on a hand-planned route
    exception_probability: float
    exception_resolution_mean_h: float
    costs: CostParams
    satisfaction: SatisfactionParams


@dataclass(frozen=True)
class OrderDraws:
    """Every random quantity of one order, drawn before the run (common random numbers)."""

    arrival_h: float
    value_rmb: float
    payment_e: float  # Exp(1), scaled by the mechanism's mean
    mismatch_u: float
    reconcile_h: float
    pick_h: float
    first_mile_m: int
    first_traffic: str
    sort_h: float
    trunk_m: int
    trunk_traffic: str
    exception_u: float
    detect_e: float
    resolve_h: float
    attempt_u: tuple[float, ...]


@dataclass(frozen=True)
class OrderOutcome:
    processing_h: float
    delivery_h: float
    cost_rmb: float
    satisfaction: float
    reconciled: bool
    attempts: int
    dark_h: float


def _lognormal(rng: random.Random, mean: float, sigma: float = 0.5) -> float:
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def draw_orders(p: PlatformParams, count: int, rng: random.Random) -> list[OrderDraws]:
    """Poisson arrivals at ``orders_per_day`` with each order's service and travel draws."""
    out: list[OrderDraws] = []
    t = 0.0
    for _ in range(count):
        t += rng.expovariate(p.orders_per_day / 24.0)
        out.append(OrderDraws(
            arrival_h=t, value_rmb=rng.expovariate(1.0 / p.order_value_rmb),
            payment_e=rng.expovariate(1.0), mismatch_u=rng.random(),
            reconcile_h=_lognormal(rng, p.reconcile_mean_h), pick_h=_lognormal(rng, p.pick_mean_h),
            first_mile_m=round(rng.uniform(*p.first_mile_km) * 1000),
            first_traffic=f"{rng.uniform(0.6, 1.0):.3f}",
            sort_h=rng.expovariate(1 / p.sort_mean_h),
            trunk_m=round(rng.uniform(*p.trunk_km) * 1000),
            trunk_traffic=f"{rng.uniform(0.75, 1.0):.3f}",
            exception_u=rng.random(), detect_e=rng.expovariate(1.0),
            resolve_h=_lognormal(rng, p.exception_resolution_mean_h),
            attempt_u=tuple(rng.random() for _ in range(MAX_ATTEMPTS)),
        ))
    return out


def _until_shift(now: float, shift: tuple[float, float]) -> float:
    """Hours until the daily shift ``(start, end)`` (start < end) is open; 0 if open now."""
    hour = now % 24.0
    start, end = shift
    if start <= hour < end:
        return 0.0
    return (start - hour) % 24.0


def _next_daily(t: float, times: Sequence[float]) -> float:
    day = math.floor(t / 24.0)
    for offset in (0, 1):
        for h in sorted(times):
            candidate = (day + offset) * 24.0 + h
            if candidate >= t:
                return candidate
    raise AssertionError("unreachable: schedule is non-empty")


def _drive_h(distance_m: int, traffic: str) -> float:
    return travel_ms(distance_m, NOMINAL_SPEED_M_PER_H["road"], traffic) / MS_PER_HOUR


class _Run:
    """One simulation run: resources, the delivery-station wave process, order processes."""

    def __init__(self, p: PlatformParams, m: MechanismParams, orders: Sequence[OrderDraws]):
        self.p, self.m = p, m
        self.env = simpy.Environment()
        self.clerks = simpy.Resource(self.env, p.clerks)
        self.pickers = simpy.Resource(self.env, p.pickers)
        self.sorters = simpy.Resource(self.env, p.sorters)
        self.station: list[tuple[float, int, simpy.Event]] = []
        self.outcomes: list[OrderOutcome | None] = [None] * len(orders)
        self.remaining = len(orders)
        self.done = self.env.event()
        for index, draws in enumerate(orders):
            self.env.process(self._order(index, draws))
        self.env.process(self._waves())

    def _handoff(self, now: float) -> float:
        interval = self.m.handoff_interval_h
        wait = 0.0 if interval <= 0 else math.ceil(now / interval) * interval - now
        return wait + self.m.handoff_latency_h

    def _staffed(self, resource: simpy.Resource, shift: tuple[float, float],
                 hours: float) -> Generator[Any, Any, None]:
        """Queue for a worker; off shift, the job waits for the next shift start.

        The job keeps its place (holds the worker) while waiting, which is harmless because
        no one works off shift; a job begun before the shift ends is finished (overtime).
        """
        with resource.request() as request:
            yield request
            yield self.env.timeout(_until_shift(self.env.now, shift) + hours)

    def _order(self, index: int, d: OrderDraws) -> Generator[Any, Any, None]:
        env, p, m = self.env, self.p, self.m
        # Pure delays that follow each other are folded into one timeout (fewer events).
        released = d.arrival_h + m.payment_clearing_mean_h * d.payment_e
        yield env.timeout(released + self._handoff(released))
        reconciled = d.mismatch_u < m.mismatch_probability
        if reconciled:
            yield from self._staffed(self.clerks, p.clerk_shift, d.reconcile_h)
        yield from self._staffed(self.pickers, p.picker_shift, d.pick_h)
        manifest_at = env.now + self._handoff(env.now)
        shipped = _next_daily(manifest_at + m.carrier_cutoff_h, p.pickup_times)
        yield env.timeout(shipped - env.now + _drive_h(d.first_mile_m, d.first_traffic))
        with self.sorters.request() as request:
            yield request
            yield env.timeout(d.sort_h)
        interval = p.trunk_interval_h
        departs = math.ceil(env.now / interval) * interval
        dark, exception = 0.0, d.exception_u < p.exception_probability
        if exception:
            dark = m.exception_detection_mean_h * d.detect_e
        delay = _drive_h(d.trunk_m, d.trunk_traffic) + (dark + d.resolve_h if exception else 0.0)
        yield env.timeout(departs - env.now + delay)
        attempts = 0
        while True:
            slot = env.event()
            self.station.append((env.now, index, slot))
            delivered_at = yield slot
            yield env.timeout(delivered_at - env.now)
            attempts += 1
            last = attempts >= MAX_ATTEMPTS
            if last or d.attempt_u[attempts - 1] >= m.failed_attempt_probability:
                break
        self.outcomes[index] = self._outcome(d, shipped, reconciled, attempts, exception, dark)
        self.remaining -= 1
        if self.remaining == 0:
            self.done.succeed()

    def _waves(self) -> Generator[Any, Any, None]:
        p, m, env = self.p, self.m, self.env
        capacity = p.couriers * p.stops_per_courier
        while True:
            wave = _next_daily(env.now + 1e-9, p.wave_times)
            yield env.timeout(wave - env.now)
            cutoff = env.now - m.dispatch_plan_cutoff_h
            ready = [item for item in self.station if item[0] <= cutoff][:capacity]
            taken = {index for _, index, _ in ready}
            self.station = [item for item in self.station if item[1] not in taken]
            stop = p.stop_h * m.route_time_factor
            for k, (_, _, slot) in enumerate(ready):
                slot.succeed(env.now + stop * (k // p.couriers + 1))

    def _outcome(self, d: OrderDraws, shipped: float, reconciled: bool, attempts: int,
                 exception: bool, dark: float) -> OrderOutcome:
        m, c, s = self.m, self.p.costs, self.p.satisfaction
        processing, delivery = shipped - d.arrival_h, self.env.now - shipped
        cost = (
            c.handling_rmb + c.storage_rmb_per_h * processing
            + c.admin_rmb + 3 * m.message_cost_rmb
            + (c.clerk_rmb_per_h * d.reconcile_h if reconciled else 0.0)
            + m.payment_fee_rate * d.value_rmb + m.payment_fee_fixed_rmb
            + c.linehaul_rmb_per_100km * (d.first_mile_m + d.trunk_m) / 100_000
            + c.last_mile_rmb_per_attempt * m.route_time_factor * attempts
        )
        if exception:
            cost += c.exception_fixed_rmb + c.exception_rmb_per_dark_h * dark
        lead = processing + delivery
        score = (s.base - s.w_lead_per_day * lead / 24 - s.w_late * (lead > s.promised_h)
                 - s.w_dark_per_day * dark / 24 - s.w_retry * (attempts - 1))
        return OrderOutcome(
            processing_h=processing, delivery_h=delivery, cost_rmb=cost,
            satisfaction=min(5.0, max(1.0, score)), reconciled=reconciled, attempts=attempts,
            dark_h=dark,
        )

    def run(self) -> list[OrderOutcome]:
        if self.remaining:
            self.env.run(until=self.done)
        return [outcome for outcome in self.outcomes if outcome is not None]


def simulate_orders(p: PlatformParams, m: MechanismParams,
                    orders: Sequence[OrderDraws]) -> list[OrderOutcome]:
    """Run the platform under one mechanism for the given pre-drawn orders."""
    return _Run(p, m, orders).run()
