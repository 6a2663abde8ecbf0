"""Routing: Solomon parser, double-precision checker, SVG plot, dispatch, CLI, and the gap to
best-known Solomon solutions (``slow``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.route import app
from supplyledger.errors import SolverError, ValidationError
from supplyledger.logistics import solomon
from supplyledger.logistics.dispatch import Order, Vehicle, Warehouse, dispatch
from supplyledger.logistics.plot import render_svg
from supplyledger.logistics.routing import (
    Client,
    Depot,
    RoutingProblem,
    TimeWindow,
    VehicleType,
    evaluate,
    solve,
)

# Repo at /work/main, shared data at /work/shared/data.
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SOLOMON = DATA / "solomon"
SIX = ["C101", "C201", "R101", "R201", "RC101", "RC201"]
needs_data = pytest.mark.skipif(
    not (SOLOMON / "BKS.json").is_file(), reason=f"shared Solomon data not found at {SOLOMON}"
)

SMALL = """\
TINY

VEHICLE
NUMBER     CAPACITY
  2          20

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0          0           0          0        100          0
    1      3          4          10          0         50          1
    2      6          8           5         10         60          1
    3     -3         -4          10          0         50          1
"""


def _small() -> RoutingProblem:
    return solomon.parse(SMALL, source="tiny.txt")


# --- parser -------------------------------------------------------------------------------


def test_parse_small_instance() -> None:
    p = _small()
    assert p.name == "TINY"
    assert p.depots == (Depot(0, 0.0, 0.0, TimeWindow(0.0, 100.0)),)
    assert [c.id for c in p.clients] == [1, 2, 3]
    assert p.clients[1] == Client(2, 6.0, 8.0, 5.0, TimeWindow(10.0, 60.0), 1.0)
    (vt,) = p.vehicle_types
    assert (vt.count, vt.capacity, vt.window) == (2, 20.0, TimeWindow(0.0, 100.0))


@needs_data
def test_read_c101() -> None:
    p = solomon.read(SOLOMON / "C101.txt")
    assert (p.name, len(p.clients), p.vehicle_types[0].count) == ("C101", 100, 25)
    assert p.vehicle_types[0].capacity == 200
    assert p.depots[0].window == TimeWindow(0, 1236)
    assert p.clients[0] == Client(1, 45, 68, 10, TimeWindow(912, 967), 90)


def _replace_line(text: str, line: int, new: str) -> str:
    lines = text.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (_replace_line(SMALL, 11, "    1  3  4  ten  0  50  1"), r"tiny\.txt:11: not a number"),
        (_replace_line(SMALL, 12, "    2  6  8  5  10  60"), r"tiny\.txt:12: expected 7"),
        (_replace_line(SMALL, 12, "    2  6  8  5  70  60  1"), r"tiny\.txt:12: ready time"),
        (_replace_line(SMALL, 13, "    1  -3  -4  10  0  50  1"), r"tiny\.txt:13: .*twice"),
        (_replace_line(SMALL, 5, "  2.5   20"), r"tiny\.txt:5: vehicle NUMBER"),
        (_replace_line(SMALL, 10, "    9  0  0  0  0  100  0"), r"tiny\.txt:10: .*depot"),
        (SMALL.replace("CUSTOMER\n", ""), "missing VEHICLE or CUSTOMER"),
        ("", "empty file"),
    ],
    ids=["not-a-number", "short-row", "window", "duplicate", "fleet", "no-depot",
         "no-section", "empty"],
)
def test_parse_rejects_malformed(text: str, match: str) -> None:
    with pytest.raises(SolverError, match=match):
        solomon.parse(text, source="tiny.txt")


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SolverError, match="cannot read"):
        solomon.read(tmp_path / "nope.txt")


# --- double-precision feasibility check ----------------------------------------------------


def test_evaluate_accepts_feasible_plan() -> None:
    s = evaluate(_small(), [(0, [1, 2]), (0, [3])])
    assert s.feasible and s.violations == () and s.vehicles == 2
    assert s.distance == pytest.approx(5 + 5 + 10 + 5 + 5)
    first = s.routes[0].visits
    assert (first[0].arrival, first[1].arrival, first[1].start) == (5.0, 11.0, 11.0)


def test_evaluate_catches_capacity_violation() -> None:
    s = evaluate(_small(), [(0, [1, 2, 3])])  # load 25 > 20
    assert not s.feasible
    assert any("over capacity" in v for v in s.violations)


def test_evaluate_catches_time_window_violation() -> None:
    problem = _small()
    tight = Client(4, 30, 40, 1, TimeWindow(0, 49.9))  # 50 away at speed 1
    problem = RoutingProblem("t", problem.depots, (*problem.clients, tight),
                             problem.vehicle_types)
    s = evaluate(problem, [(0, [1, 2, 3]), (0, [4])])
    assert not s.feasible
    assert any("client 4" in v and "after due" in v for v in s.violations)


def test_evaluate_reports_missing_and_repeated_clients() -> None:
    s = evaluate(_small(), [(0, [1, 1])])
    assert "client 1 visited more than once" in s.violations
    assert "required client 3 not served" in s.violations and s.unserved == (2, 3)


# --- solver --------------------------------------------------------------------------------


def test_solve_small_is_feasible_and_json_ready() -> None:
    s = solve(_small(), time_limit_s=1, max_iterations=300)
    assert s.feasible and s.solver_feasible
    assert sorted(c for r in s.routes for c in r.clients) == [1, 2, 3]
    out = json.loads(json.dumps(s.to_json()))
    assert {"routes", "vehicles", "distance", "feasible"} <= out.keys()
    assert out["distance"] == s.distance == pytest.approx(30.0)


def test_rounding_is_conservative() -> None:
    # True travel time is sqrt(2) = 1.41421...; a due date just below it is unreachable.
    depot = (Depot(0, 0, 0, TimeWindow(0, 10)),)
    fleet = (VehicleType(1, 10),)
    late = RoutingProblem("late", depot, (Client(1, 1, 1, 1, TimeWindow(0, 1.4142)),), fleet)
    with pytest.raises(SolverError, match="cannot be served"):
        solve(late, time_limit_s=1, max_iterations=50)
    ok = RoutingProblem("ok", depot, (Client(1, 1, 1, 1, TimeWindow(0, 1.416)),), fleet)
    s = solve(ok, time_limit_s=1, max_iterations=50)
    assert s.feasible and s.distance == 2 * math.sqrt(2)


def test_solve_respects_vehicle_features() -> None:
    depot = (Depot("w", 0, 0),)
    clients = (Client("cold", 1, 0, 1, requires=frozenset({"chilled"})), Client("dry", -1, 0, 1))
    fleet = (VehicleType(1, 5, name="van"),
             VehicleType(1, 5, name="reefer", features=frozenset({"chilled"})))
    s = solve(RoutingProblem("f", depot, clients, fleet), time_limit_s=1, max_iterations=200)
    assert s.feasible
    assert any(r.vehicle_type == 1 and "cold" in r.clients for r in s.routes)


def test_solve_rejects_unsolvable_and_bad_input() -> None:
    big = RoutingProblem("big", (Depot(0, 0, 0),), (Client(1, 1, 1, 50),), (VehicleType(3, 20),))
    with pytest.raises(SolverError, match="exceeds every vehicle"):
        solve(big, time_limit_s=1)
    idle = RoutingProblem("idle", (Depot(0, 0, 0),), (Client(1, 1, 1, 1),), (VehicleType(0, 20),))
    with pytest.raises(SolverError, match="no vehicles"):
        solve(idle, time_limit_s=1)
    with pytest.raises(ValidationError):
        solve(_small(), time_limit_s=0)
    with pytest.raises(ValidationError):
        TimeWindow(5, 1)


# --- plot ----------------------------------------------------------------------------------


def test_svg_is_well_formed() -> None:
    problem = _small()
    problem = RoutingProblem("<A & B>", problem.depots, problem.clients, problem.vehicle_types)
    s = solve(problem, time_limit_s=1, max_iterations=200)
    root = ET.fromstring(render_svg(problem, s))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert len(root.findall(f".//{ns}polyline")) == s.vehicles
    assert len(root.findall(f".//{ns}circle")) == len(problem.clients)
    texts = " ".join("".join(t.itertext()) for t in root.iter(f"{ns}text"))
    assert "<A & B>" in texts and f"distance {s.distance:.2f}" in texts
    assert ET.fromstring(render_svg(problem)).tag == f"{ns}svg"  # problem only


# --- dispatch ------------------------------------------------------------------------------


def _order(oid: str, x: float, y: float, qty: float, due: float = 500) -> Order:
    return Order(oid, x, y, qty, TimeWindow(0, due), service=1)


def test_dispatch_lists_orders_it_cannot_carry() -> None:
    warehouse = Warehouse("wh", 0, 0, TimeWindow(0, 500), outbound_capacity=1000)
    fleet = [Vehicle("v1", 50), Vehicle("v2", 40, TimeWindow(0, 400))]
    orders = [_order("o1", 10, 0, 30), _order("o2", 0, 10, 30), _order("o3", -10, 0, 30),
              _order("huge", 5, 5, 70), _order("far", 100, 0, 1, due=20)]
    plan = dispatch(orders, warehouse, fleet)
    served = [o for r in plan.routes for o in r.orders]
    unserved = dict(plan.unserved)
    assert len(served) == 2 and sorted(served + list(unserved)) == sorted(o.id for o in orders)
    assert unserved["huge"] == "quantity exceeds every vehicle's capacity"
    assert unserved["far"].startswith("time window cannot be reached")
    (short,) = set(unserved) - {"huge", "far"}
    assert unserved[short] == "no vehicle capacity or time left in the fleet"
    assert {r.vehicle for r in plan.routes} == {"v1", "v2"}
    assert all(r.load <= {"v1": 50, "v2": 40}[r.vehicle] for r in plan.routes)
    assert plan.solution.feasible


def test_dispatch_applies_warehouse_outbound_limit_by_due_date() -> None:
    warehouse = Warehouse("wh", 0, 0, TimeWindow(0, 500), outbound_capacity=50)
    orders = [_order("late", 0, 5, 20, due=300), _order("first", 5, 0, 30, due=100),
              _order("second", 0, -5, 30, due=200)]
    plan = dispatch(orders, warehouse, [Vehicle("truck", 1000)])
    assert plan.unserved == (("second", "warehouse outbound capacity reached"),)
    assert sorted(plan.routes[0].orders) == ["first", "late"]


def test_dispatch_rejects_duplicate_ids() -> None:
    warehouse = Warehouse("wh", 0, 0, TimeWindow(0, 500), outbound_capacity=50)
    with pytest.raises(ValidationError):
        dispatch([_order("a", 1, 1, 1), _order("a", 2, 2, 1)], warehouse, [Vehicle("v", 5)])


# --- CLI -----------------------------------------------------------------------------------


def test_cli_json_and_svg(tmp_path: Path) -> None:
    (tmp_path / "tiny.txt").write_text(SMALL)
    svg = tmp_path / "out.svg"
    result = CliRunner().invoke(app, ["solve", str(tmp_path / "tiny.txt"), "--time-limit",
                                      "0.5", "--json", "--svg", str(svg)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["feasible"] and out["distance"] == pytest.approx(30.0)
    assert ET.parse(svg).getroot().tag.endswith("svg")
    table = CliRunner().invoke(app, ["solve", str(tmp_path / "tiny.txt"), "--time-limit", "0.5"])
    assert table.exit_code == 0 and "feasible" in table.stdout


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(_replace_line(SMALL, 11, "    1  3  4  ten  0  50  1"))
    result = CliRunner().invoke(app, ["solve", str(bad)])
    assert result.exit_code == 2 and "bad.txt:11" in result.stderr
    missing = CliRunner().invoke(app, ["solve", str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


# --- best-known solutions (slow) -----------------------------------------------------------


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("name", SIX)
def test_solomon_gap_within_two_percent(name: str) -> None:
    bks = json.loads((SOLOMON / "BKS.json").read_text())[f"{name}_distance"]["best_known_cost"]
    problem = solomon.read(SOLOMON / f"{name}.txt")
    s = solve(problem, time_limit_s=8, seed=0)
    gap = (s.distance - bks) / bks
    assert s.feasible, s.violations
    assert s.vehicles <= problem.vehicle_types[0].count
    assert sorted(c for r in s.routes for c in r.clients) == list(range(1, 101))
    assert gap <= 0.02, f"{name}: distance {s.distance:.2f} vs BKS {bks} (gap {gap:.2%})"


def test_drawing_plans_does_not_load_the_solver() -> None:
    # `dispatch show` and the plots only read plans: importing PyVRP (and numpy) would cost
    # every such command most of a second.
    code = ("import sys, supplyledger.logistics.dispatch_picture, supplyledger.logistics.plot; "
            "print(sorted(m for m in ('pyvrp', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
