"""Vehicle routing with capacities and time windows (VRPTW), solved with PyVRP.

The model here is ours and works in floats (coordinates, quantities, times in whatever units
the caller uses); PyVRP only ever sees a scaled integer copy of it. Whatever PyVRP returns is
re-scheduled and re-checked in double precision by :func:`evaluate`, so ``distance`` and
``feasible`` never depend on the solver's rounding or on its own feasibility flag.

Pure domain code: no clock, no I/O. (PyVRP's time limit reads a clock inside the solver; pass
``max_iterations`` for a run that is reproducible regardless of machine load.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyvrp
from pyvrp.search import NeighbourhoodParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from supplyledger.errors import SolverError, ValidationError

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
    "solve",
    "unservable_reason",
]

ClientId = int | str

# PyVRP computes with integers, so every number is multiplied by SCALE (three decimals of the
# caller's units) and rounded in the direction that makes the integer model at least as strict
# as the real one:
#   travel and service durations, ready times, demands -> rounded UP   (never earlier, lighter)
#   due dates, capacities                               -> rounded DOWN (never later, larger)
# By induction along a route, integer service start >= SCALE x real service start, so a route
# the solver finds feasible is feasible in double precision too (and the re-check proves it).
# Distances only drive the objective, so they are rounded to NEAREST: the error is <= 0.0005
# per edge, ~0.05 on a 100-customer tour (0.003% of a Solomon total), and unbiased. The cost of
# the conservative side is <= 0.001 time units per leg. 1000 keeps Solomon's largest values
# (~3.5e6) far below PyVRP's MAX_VALUE (2**44); x10 or x100 would lose objective precision.
SCALE = 1000
_INT_MAX = int(np.iinfo(np.int64).max)
# Tuned on the six Solomon instances with 3 s runs (a loaded 2-core machine gives 8 s runs about
# that much CPU), same load for both: mean gap 0.4-1.0% against 1.0-1.7% with PyVRP's defaults
# (50 neighbours, history 300). Fewer neighbours make each local search cheaper, so more
# perturbation rounds fit in the budget; a shorter late-acceptance history converges sooner.
_PARAMS = pyvrp.SolveParams(
    ils=pyvrp.IteratedLocalSearchParams(history_length=100),
    neighbourhood=NeighbourhoodParams(num_neighbours=30),
)
# Absorbs only floating-point summation noise in the re-check, never a real violation.
EPS = 1e-9


def _up(value: float) -> int:
    return _INT_MAX if math.isinf(value) else math.ceil(value * SCALE)


def _down(value: float) -> int:
    return _INT_MAX if math.isinf(value) else math.floor(value * SCALE)


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


def _to_pyvrp(problem: RoutingProblem) -> tuple[pyvrp.ProblemData, list[int]]:
    """Scaled integer copy of ``problem``; also maps PyVRP vehicle types back to ours."""
    points: list[Depot | Client] = [*problem.depots, *problem.clients]
    xy = np.array([(p.x, p.y) for p in points], dtype=np.float64)
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    distances = np.rint(dist * SCALE).astype(np.int64)
    durations = np.ceil(dist / problem.speed * SCALE).astype(np.int64)
    features = sorted(set().union(*(c.requires for c in problem.clients)))
    # An optional client is worth more than any detour to fetch it (2 x the diameter), so the
    # solver drops one only when capacity or time forces it.
    prize = 2 * int(distances.max()) + 1
    n_dep = len(problem.depots)
    depots = [pyvrp.Depot(location=i, tw_early=_up(d.window.early), tw_late=_down(d.window.late))
              for i, d in enumerate(problem.depots)]
    # Vehicle features become extra load dimensions: a client needing feature f loads 1 unit of
    # f, which only vehicles having f can carry. PyVRP thus enforces compatibility as capacity.
    clients = [
        pyvrp.Client(
            location=n_dep + i,
            delivery=[_up(c.demand)] + [int(f in c.requires) for f in features],
            service_duration=_up(c.service),
            tw_early=_up(c.window.early),
            tw_late=_down(c.window.late),
            required=c.required,
            prize=0 if c.required else prize,
        )
        for i, c in enumerate(problem.clients)
    ]
    kept = [i for i, vt in enumerate(problem.vehicle_types) if vt.count > 0]
    n = len(problem.clients)
    types = [
        pyvrp.VehicleType(
            num_available=vt.count,
            capacity=[_down(vt.capacity)] + [n if f in vt.features else 0 for f in features],
            start_depot=vt.depot,
            end_depot=vt.depot,
            tw_early=_up(vt.window.early),
            tw_late=_down(vt.window.late),
        )
        for vt in (problem.vehicle_types[i] for i in kept)
    ]
    locations = [pyvrp.Location(x=p.x, y=p.y) for p in points]
    # PyVRP's stub spells the matrices ``np.ndarray[int]``, which numpy's typing cannot match.
    data = pyvrp.ProblemData(
        locations, clients, depots, types, [distances], [durations]  # type: ignore[list-item]
    )
    return data, kept


def solve(
    problem: RoutingProblem,
    *,
    time_limit_s: float,
    seed: int = 0,
    max_iterations: int | None = None,
) -> RoutingSolution:
    """Minimise total distance, with at most ``count`` vehicles of each type.

    Raises :class:`SolverError` when a required client can never be served or the fleet's
    total capacity is short; a solver run that ends without a feasible solution is returned
    with ``feasible=False`` and its violations listed.
    """
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise ValidationError(f"time limit must be positive, got {time_limit_s}")
    if seed < 0 or (max_iterations is not None and max_iterations <= 0):
        raise ValidationError("seed must be >= 0 and max_iterations > 0")
    required = [c for c in problem.clients if c.required]
    for c in required:
        if reason := unservable_reason(problem, c):
            raise SolverError(f"client {c.id!r} cannot be served: {reason}", client=c.id)
    fleet = sum(vt.count * vt.capacity for vt in problem.vehicle_types)
    if sum(c.demand for c in required) > fleet + EPS:
        raise SolverError(f"required demand exceeds the fleet's total capacity {fleet:g}")
    if not problem.clients or not any(vt.count for vt in problem.vehicle_types):
        return evaluate(problem, [])
    data, kept = _to_pyvrp(problem)
    stop: StoppingCriterion = MaxRuntime(time_limit_s)
    if max_iterations is not None:
        stop = MultipleCriteria([stop, MaxIterations(max_iterations)])
    try:
        best = pyvrp.solve(
            data, stop, seed=seed, collect_stats=False, display=False, params=_PARAMS
        ).best
    except (ValueError, RuntimeError, OverflowError) as exc:
        raise SolverError(f"PyVRP rejected problem {problem.name!r}: {exc}") from exc
    plan = [
        (kept[r.vehicle_type()], [problem.clients[a.idx].id for a in r.schedule() if a.is_client()])
        for r in best.routes()
    ]
    return evaluate(problem, plan, solver_feasible=best.is_feasible())
