"""Dispatch: one day of a platform's open orders turned into vehicle routes.

Built on :mod:`supplyledger.logistics.routing` (the VRPTW model and PyVRP); adds what a
dispatcher has that a Solomon instance lacks: order ids, a fleet of named vehicles with
features, and the warehouse's outbound capacity, which PyVRP cannot express and is applied
before solving.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from supplyledger.errors import SolverError, ValidationError
from supplyledger.logistics.routing import (
    EPS,
    Client,
    Depot,
    RoutingProblem,
    RoutingSolution,
    TimeWindow,
    VehicleType,
    solve,
    unservable_reason,
)

__all__ = ["DispatchPlan", "Order", "Vehicle", "VehiclePlan", "Warehouse", "dispatch"]


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    x: float
    y: float
    quantity: float
    window: TimeWindow
    service: float = 0.0
    requires: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Warehouse:
    """``outbound_capacity``: what storage and handling can release in this plan (one day)."""

    id: str
    x: float
    y: float
    window: TimeWindow
    outbound_capacity: float


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    capacity: float
    window: TimeWindow = field(default_factory=TimeWindow)
    features: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class VehiclePlan:
    vehicle: str
    orders: tuple[str, ...]
    arrivals: tuple[float, ...]
    distance: float
    load: float


@dataclass(frozen=True, slots=True)
class DispatchPlan:
    routes: tuple[VehiclePlan, ...]
    unserved: tuple[tuple[str, str], ...]  # (order id, reason), in input order
    solution: RoutingSolution


def dispatch(
    orders: Sequence[Order],
    warehouse: Warehouse,
    fleet: Sequence[Vehicle],
    *,
    speed: float = 1.0,
    time_limit_s: float = 2.0,
    seed: int = 0,
    max_iterations: int | None = 2000,
) -> DispatchPlan:
    """Plan one day's deliveries; every order is either on a route or listed as unserved.

    Orders that no vehicle could reach or carry are set aside first. The warehouse's outbound
    capacity is a limit across all routes, which PyVRP cannot express, so it is applied before
    solving: earliest due date first (ties by id), skipping orders that no longer fit. The rest
    are optional clients; the solver drops one only when the fleet has no room or time for it.
    """
    if len({o.id for o in orders}) != len(orders) or len({v.id for v in fleet}) != len(fleet):
        raise ValidationError("order ids and vehicle ids must be unique")
    if warehouse.outbound_capacity < 0:
        raise ValidationError("warehouse outbound capacity must be >= 0")
    clients = {o.id: Client(o.id, o.x, o.y, o.quantity, o.window, o.service, False, o.requires)
               for o in orders}
    depot = Depot(warehouse.id, warehouse.x, warehouse.y, warehouse.window)
    types = tuple(VehicleType(1, v.capacity, v.window, 0, v.id, v.features) for v in fleet)
    full = RoutingProblem(f"dispatch:{warehouse.id}", (depot,), tuple(clients.values()), types,
                          speed)
    reasons: dict[str, str] = {}
    for o in orders:
        if reason := unservable_reason(full, clients[o.id]):
            reasons[o.id] = reason
    room = warehouse.outbound_capacity
    chosen: list[Client] = []
    for o in sorted(orders, key=lambda o: (o.window.late, o.id)):
        if o.id in reasons:
            continue
        if o.quantity > room + EPS:
            reasons[o.id] = "warehouse outbound capacity reached"
            continue
        room -= o.quantity
        chosen.append(clients[o.id])
    problem = RoutingProblem(full.name, (depot,), tuple(chosen), types, speed)
    solution = solve(problem, time_limit_s=time_limit_s, seed=seed, max_iterations=max_iterations)
    if not solution.feasible:
        raise SolverError("dispatch plan violates constraints", violations=solution.violations)
    for cid in solution.unserved:
        reasons[str(cid)] = "no vehicle capacity or time left in the fleet"
    routes = tuple(
        VehiclePlan(fleet[r.vehicle_type].id, tuple(str(c) for c in r.clients),
                    tuple(v.arrival for v in r.visits), r.distance, r.load)
        for r in solution.routes
    )
    return DispatchPlan(routes, tuple((o.id, reasons[o.id]) for o in orders if o.id in reasons),
                        solution)
