"""``supplyledger route``: solve routing instances from the command line.

Thin by design: read the file, call :func:`supplyledger.logistics.routing.solve`, render.
Exit codes as for every command: errors are one clear line on stderr with exit code 2; an
infeasible result is still printed (it may be useful) but exits 1, as the audit does with
findings, so scripts can trust a zero status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from supplyledger.cli.common import FILE_ERROR, esc, fail, handle_errors, out_file, write_out
from supplyledger.errors import SupplyLedgerError

# The solver (PyVRP, numpy) is imported inside the command: the CLI imports every command
# module at start, so a module-level import would slow down every `supplyledger` invocation.
if TYPE_CHECKING:
    from supplyledger.logistics.routing import RoutingSolution

__all__ = ["app"]

app = typer.Typer(help="Vehicle routing with capacities and time windows (PyVRP).",
                  no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Vehicle routing with capacities and time windows (PyVRP)."""
    # Having a callback keeps ``solve`` a named subcommand even while it is the only one.


def _table(name: str, solution: RoutingSolution) -> Table:
    table = Table(title=f"{name}: routes")
    for column in ("#", "stops", "load", "distance", "return", "clients"):
        table.add_column(column, justify="left" if column == "clients" else "right")
    for i, r in enumerate(solution.routes, start=1):
        table.add_row(str(i), str(len(r.visits)), f"{r.load:g}", f"{r.distance:.2f}",
                      f"{r.return_time:.2f}", " ".join(str(c) for c in r.clients))
    table.add_section()
    table.add_row("total", str(sum(len(r.visits) for r in solution.routes)),
                  f"{sum(r.load for r in solution.routes):g}", f"{solution.distance:.2f}", "",
                  f"{solution.vehicles} vehicles, "
                  + ("feasible" if solution.feasible else "INFEASIBLE"))
    return table


@app.command("solve")
@handle_errors
def solve_cmd(
    file: Annotated[Path, typer.Argument(help="Instance in Solomon VRPTW text format.")],
    time_limit: Annotated[float, typer.Option("--time-limit", help="Seconds of search.")] = 10.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed for the solver.")] = 0,
    max_iterations: Annotated[int | None, typer.Option(
        "--max-iterations", help="Also stop after this many iterations: with the same seed, "
        "the same routes on any machine, if the time limit does not stop the search first "
        "(a search stopped by time alone depends on the machine's speed and load).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the solution as JSON.")]
    = False,
    svg: Annotated[
        Path | None, typer.Option("--svg", help="Also write a map of the routes here.")
    ] = None,
) -> None:
    """Minimise total distance of FILE within the instance's vehicle limit."""
    from supplyledger.logistics import solomon
    from supplyledger.logistics.plot import render_svg
    from supplyledger.logistics.routing import solve

    err = Console(stderr=True)
    if svg is not None:  # before the search, which may run for minutes
        out_file(svg, "--svg")
    try:
        problem = solomon.read(file)
        solution = solve(problem, time_limit_s=time_limit, seed=seed,
                         max_iterations=max_iterations)
        if svg is not None:
            write_out(svg, render_svg(problem, solution))
    except SupplyLedgerError as exc:  # bad input: exit 2, as every command
        fail(f"{exc.message} [{exc.code}]", error_code=exc.code, error=exc.message)
    except OSError as exc:
        fail(f"cannot write {svg}: {exc.strerror}", error_code=FILE_ERROR)

    if json_out:
        # json.dumps writes floats with repr(), i.e. full double precision.
        typer.echo(json.dumps({"name": problem.name, **solution.to_json()}, indent=2))
    else:
        Console().print(_table(problem.name, solution))
        if svg is not None:
            Console().print(f"picture: {esc(svg)}", highlight=False)
    if not solution.feasible:
        err.print("[red]error:[/red] no feasible solution: " + "; ".join(solution.violations),
                  highlight=False, soft_wrap=True)
        raise typer.Exit(1)
