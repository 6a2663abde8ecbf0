"""The vehicle-routing model (VRPTW) and its exact re-check, without the solver.

The model is ours and works in floats (coordinates, quantities, times in whatever units the
caller uses). :func:`evaluate` schedules a given plan in double precision and lists every
violation, so a solution's ``distance`` and ``feasible`` never depend on a solver's rounding.
:mod:`supplyledger.logistics.routing` solves the model with PyVRP; this module is apart so
code that only reads or draws plans (``dispatch show``, the plots) does not load the solver.

Pure domain code: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from supplyledger.errors import ValidationError

__all__ = [
    "EPS",
    "Client",
    "ClientId",
    "Depot",
    "Route",
    "RoutingProblem",
    "RoutingSolution",
    "TimeWindow",
    "VehicleType",
    "Visit",
    "evaluate",
    "unservable_reason",
]

ClientId = int | str

# Absorbs only floating-point summation noise in the re-check, never a real violation.
EPS = 1e-9


def _finite(name: str, *values: float) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValidationError(f"{name} must be finite numbers", values=list(values))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Service may start no earlier than ``early`` and no later than ``late``."""

    early: float = 0.0
    late: float = math.inf

    def __post_init__(self) -> None:
        if math.isnan(self.late) or not math.isfinite(self.early) or self.early > self.late:
            raise ValidationError(f"invalid time window [{self.early}, {self.late}]")


@dataclass(frozen=True, slots=True)
class Depot:
    id: ClientId
    x: float
    y: float
    window: TimeWindow = TimeWindow()

    def __post_init__(self) -> None:
        _finite(f"depot {self.id!r} coordinates", self.x, self.y)


@dataclass(frozen=True, slots=True)
class Client:
    """A stop to deliver ``demand`` to; ``requires`` names vehicle features (e.g. "chilled")."""

    id: ClientId
    x: float
    y: float
    demand: float = 0.0
    window: TimeWindow = TimeWindow()
    service: float = 0.0
    required: bool = True
    requires: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _finite(f"client {self.id!r} fields", self.x, self.y, self.demand, self.service)
        if self.demand < 0 or self.service < 0:
            raise ValidationError(f"client {self.id!r}: negative demand or service time")


@dataclass(frozen=True, slots=True)
class VehicleType:
    """``count`` identical vehicles based at ``depots[depot]``, available during ``window``."""

    count: int
    capacity: float
    window: TimeWindow = TimeWindow()
    depot: int = 0
    name: str = ""
    features: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        _finite("vehicle capacity", self.capacity)
        if self.count < 0 or self.capacity < 0:
            raise ValidationError(f"vehicle type {self.name!r}: negative count or capacity")


@dataclass(frozen=True, slots=True)
class RoutingProblem:
    """A VRPTW instance. Travel time between two points is Euclidean distance / ``speed``."""

    name: str
    depots: tuple[Depot, ...]
    clients: tuple[Client, ...]
    vehicle_types: tuple[VehicleType, ...]
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not self.depots:
            raise ValidationError("a routing problem needs at least one depot")
        if not (math.isfinite(self.speed) and self.speed > 0):
            raise ValidationError(f"speed must be positive, got {self.speed}")
        ids = [c.id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise ValidationError("client ids must be unique")
        for vt in self.vehicle_types:
            if not 0 <= vt.depot < len(self.depots):
                raise ValidationError(f"vehicle type {vt.name!r}: no depot {vt.depot}")

    def travel(self, a: Depot | Client, b: Depot | Client) -> float:
        return math.hypot(a.x - b.x, a.y - b.y) / self.speed


@dataclass(frozen=True, slots=True)
class Visit:
    client: ClientId
    arrival: float
    start: float  # service start: arrival, or the window's opening if the vehicle waits


@dataclass(frozen=True, slots=True)
class Route:
    """One vehicle's tour, scheduled as early as possible from its depot."""

    vehicle_type: int
    visits: tuple[Visit, ...]
    departure: float
    return_time: float
    distance: float
    load: float

    @property
    def clients(self) -> list[ClientId]:
        return [v.client for v in self.visits]


@dataclass(frozen=True, slots=True)
class RoutingSolution:
    routes: tuple[Route, ...]
    distance: float
    feasible: bool
    violations: tuple[str, ...] = ()
    unserved: tuple[ClientId, ...] = ()
    solver_feasible: bool | None = None  # PyVRP's own verdict, for diagnostics only

    @property
    def vehicles(self) -> int:
        return len(self.routes)

    def to_json(self) -> dict[str, Any]:
        return {
            "routes": [r.clients for r in self.routes],
            "vehicles": self.vehicles,
            "distance": self.distance,
            "feasible": self.feasible,
            "violations": list(self.violations),
            "unserved": list(self.unserved),
            "schedule": [
                {
                    "vehicle_type": r.vehicle_type,
                    "departure": r.departure,
                    "return": r.return_time,
                    "distance": r.distance,
                    "load": r.load,
                    "visits": [
                        {"client": v.client, "arrival": v.arrival, "start": v.start}
                        for v in r.visits
                    ],
                }
                for r in self.routes
            ],
        }


def _schedule(
    problem: RoutingProblem, type_idx: int, stops: Sequence[Client], problems: list[str]
) -> Route:
    """Earliest-start schedule of one route; appends any violation found to ``problems``."""
    vt = problem.vehicle_types[type_idx]
    depot = problem.depots[vt.depot]
    label = vt.name or f"type {type_idx}"
    # Leaving as early as allowed gives the earliest arrival everywhere, so if any departure
    # time meets every due date this one does.
    time = max(depot.window.early, vt.window.early)
    here: Depot | Client = depot
    departure, dist, visits = time, 0.0, []
    load = sum(c.demand for c in stops)
    for c in stops:
        dist += math.hypot(here.x - c.x, here.y - c.y)
        arrival = time + problem.travel(here, c)
        start = max(arrival, c.window.early)
        if start > c.window.late + EPS:
            problems.append(f"client {c.id!r}: service starts at {start:.4f} after due "
                            f"{c.window.late:g}")
        if missing := c.requires - vt.features:
            problems.append(f"client {c.id!r} needs {sorted(missing)} which {label} lacks")
        visits.append(Visit(c.id, arrival, start))
        time, here = start + c.service, c
    dist += math.hypot(here.x - depot.x, here.y - depot.y)
    back = time + problem.travel(here, depot)
    if back > min(depot.window.late, vt.window.late) + EPS:
        problems.append(f"{label} returns at {back:.4f}, after depot or shift closes")
    if load > vt.capacity + EPS:
        problems.append(f"{label} carries {load:g} over capacity {vt.capacity:g}")
    return Route(type_idx, tuple(visits), departure, back, dist, load)


def evaluate(
    problem: RoutingProblem,
    plan: Sequence[tuple[int, Sequence[ClientId]]],
    *,
    solver_feasible: bool | None = None,
) -> RoutingSolution:
    """Schedule and check ``plan`` (vehicle type index, client ids per route) in doubles.

    Checks capacity, every time window, depot and shift closing, vehicle counts, vehicle
    features, unknown or repeated clients and unserved required clients.
    """
    by_id = {c.id: c for c in problem.clients}
    problems: list[str] = []
    routes: list[Route] = []
    used = [0] * len(problem.vehicle_types)
    seen: set[ClientId] = set()
    for type_idx, ids in plan:
        if not 0 <= type_idx < len(problem.vehicle_types):
            raise ValidationError(f"unknown vehicle type {type_idx}")
        if not ids:
            continue
        for cid in ids:
            if cid not in by_id:
                raise ValidationError(f"unknown client {cid!r}")
            if cid in seen:
                problems.append(f"client {cid!r} visited more than once")
            seen.add(cid)
        used[type_idx] += 1
        routes.append(_schedule(problem, type_idx, [by_id[i] for i in ids], problems))
    for i, (n, vt) in enumerate(zip(used, problem.vehicle_types, strict=True)):
        if n > vt.count:
            problems.append(f"{vt.name or f'type {i}'}: {n} routes for {vt.count} vehicles")
    unserved = tuple(c.id for c in problem.clients if c.id not in seen)
    problems += [f"required client {c.id!r} not served"
                 for c in problem.clients if c.required and c.id not in seen]
    return RoutingSolution(
        routes=tuple(routes),
        distance=math.fsum(r.distance for r in routes),
        feasible=not problems,
        violations=tuple(problems),
        unserved=unserved,
        solver_feasible=solver_feasible,
    )


def unservable_reason(problem: RoutingProblem, client: Client) -> str | None:
    """Why no vehicle could serve ``client`` even on a route of its own, or None."""
    if not any(vt.count for vt in problem.vehicle_types):
        return "no vehicles available"
    fits = [i for i, vt in enumerate(problem.vehicle_types)
            if vt.count > 0 and client.requires <= vt.features]
    if not fits:
        return "no vehicle has the required features"
    if client.demand > max(problem.vehicle_types[i].capacity for i in fits) + EPS:
        return "quantity exceeds every vehicle's capacity"
    for i in fits:
        probs: list[str] = []
        _schedule(problem, i, [client], probs)
        if not probs:
            return None
    return "time window cannot be reached within depot hours and vehicle availability"
