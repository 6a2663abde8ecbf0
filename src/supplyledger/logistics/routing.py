"""Vehicle routing with capacities and time windows (VRPTW), solved with PyVRP.

The model (:mod:`supplyledger.logistics.routing_model`, re-exported here) is ours and works in
floats; PyVRP only ever sees a scaled integer copy of it. Whatever PyVRP returns is
re-scheduled and re-checked in double precision by :func:`evaluate`, so ``distance`` and
``feasible`` never depend on the solver's rounding or on its own feasibility flag.

Pure domain code: no clock, no I/O. (PyVRP's time limit reads a clock inside the solver; pass
``max_iterations`` for a run that is reproducible regardless of machine load.)
"""

from __future__ import annotations

import math

import numpy as np
import pyvrp
from pyvrp.constants import MAX_VALUE
from pyvrp.search import NeighbourhoodParams
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, StoppingCriterion

from supplyledger.errors import SolverError, ValidationError
from supplyledger.logistics.routing_model import (
    EPS,
    Client,
    ClientId,
    Depot,
    Route,
    RoutingProblem,
    RoutingSolution,
    TimeWindow,
    VehicleType,
    Visit,
    evaluate,
    unservable_reason,
)

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
# Larger values would overflow PyVRP's integers (or wrap silently in numpy's cast), so a
# bound beyond MAX_VALUE is no bound, and a travel time, service time, ready time or total
# demand beyond it is refused with a ValidationError.
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


def _up(value: float, what: str = "a ready time or service time") -> int:
    scaled = math.inf if math.isinf(value) else math.ceil(value * SCALE)
    if scaled > MAX_VALUE:
        raise ValidationError(f"{what} of {value:g} is beyond what the solver can hold "
                              f"({MAX_VALUE / SCALE:g})")
    return int(scaled)


def _down(value: float) -> int:
    scaled = math.inf if math.isinf(value) else math.floor(value * SCALE)
    return _INT_MAX if scaled >= MAX_VALUE else int(scaled)


def _to_pyvrp(problem: RoutingProblem) -> tuple[pyvrp.ProblemData, list[int]]:
    """Scaled integer copy of ``problem``; also maps PyVRP vehicle types back to ours."""
    points: list[Depot | Client] = [*problem.depots, *problem.clients]
    xy = np.array([(p.x, p.y) for p in points], dtype=np.float64)
    dist = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    longest = float(dist.max())
    _up(max(longest, longest / problem.speed), "a distance or travel time")
    distances = np.rint(dist * SCALE).astype(np.int64)
    durations = np.ceil(dist / problem.speed * SCALE).astype(np.int64)
    loads = [_up(c.demand, "a demand") for c in problem.clients]
    _up(math.fsum(c.demand for c in problem.clients), "the total demand")
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
            delivery=[load] + [int(f in c.requires) for f in features],
            service_duration=_up(c.service),
            tw_early=_up(c.window.early),
            tw_late=_down(c.window.late),
            required=c.required,
            prize=0 if c.required else prize,
        )
        for i, (c, load) in enumerate(zip(problem.clients, loads, strict=True))
    ]
    kept = [i for i, vt in enumerate(problem.vehicle_types) if vt.count > 0]
    n = len(problem.clients)
    types = [
        pyvrp.VehicleType(
            num_available=vt.count,
            # More room than every client's demand together is the same as that much.
            capacity=[min(_down(vt.capacity), sum(loads))]
            + [n if f in vt.features else 0 for f in features],
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
    total capacity is short, :class:`ValidationError` for a number PyVRP's integers cannot
    hold (see ``SCALE``); a solver run that ends without a feasible solution is returned
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
