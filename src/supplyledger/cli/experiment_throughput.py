"""``supplyledger experiment throughput``: paper 001 Tables 3-4 beside ours.

Thin: every number comes from :func:`supplyledger.bench.throughput.run_throughput`; this
module parses options and renders the tables (or the JSON for scripts).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from supplyledger.cli.common import BenchDataOpt, bench_ledger, fail, handle_errors

__all__ = ["DEFAULT_SIZES", "render", "throughput_command"]

# The benchmark is imported inside the command: the CLI imports every command module at
# start, so a module-level import would slow down every `supplyledger` invocation. Hence the
# default sizes are spelled out here, not read from bench.throughput.SIZES (a test checks
# that the two agree).
DEFAULT_SIZES = "100,200,300,400,500"


def render(res: dict[str, Any]) -> list[Table]:
    """Per size: the paper's submission/execution time and ours, for both arms; then the
    throughput, latency and RSA overhead by the paper's equations."""
    runs: dict[tuple[int, bool], list[dict[str, Any]]] = {}
    for r in res["runs"]:
        runs.setdefault((r["n"], r["rsa"]), []).append(r)
    paper = {**{(n, False): (s, e) for n, s, e in res["paper"]["table3"]},
             **{(n, True): (s, e) for n, s, e in res["paper"]["table4"]}}
    t = Table(title="Submission / execution time (s): paper 001 Tables 3-4 vs ours "
                    "(mean of our trials)")
    t.add_column("transactions", justify="right")
    for head in ("paper, no RSA", "ours, no RSA", "paper, RSA", "ours, RSA"):
        t.add_column(head, justify="right")
    for n in sorted({n for n, _ in runs}):
        cells = [str(n)]
        for rsa in (False, True):
            p = paper.get((n, rsa))
            trials = runs[(n, rsa)]
            sub = sum(r["submission_s"] for r in trials) / len(trials)
            exe = sum(r["execution_s"] for r in trials) / len(trials)
            cells += ["-" if p is None else f"{p[0]:g} / {p[1]:g}", f"{sub:.3f} / {exe:.3f}"]
        t.add_row(*cells)
    # What each column is: the paper's text, its tables put through its equations, our runs.
    s = Table(title="By the paper's equations (6) and (7)",
              caption=f"paper (claimed): {res['paper']['claimed_note']}; paper (its tables): "
                      "its Tables 3-4 by its equations; ours: measured in this run")
    for head in ("measure", "paper (claimed)", "paper (its tables)", "ours"):
        s.add_column(head, justify="right")
    claimed, eq = res["paper"]["claimed"], res["paper"]["by_equations"]
    for arm in ("baseline", "rsa"):
        s.add_row(f"throughput, {arm} (tx/s)", f"{claimed['throughput_tps'][arm]:g}",
                  f"{eq['throughput_tps'][arm]:.2f}", f"{res['throughput_tps'][arm]:.1f}")
    for arm in ("baseline", "rsa"):
        s.add_row(f"latency, {arm} (s/tx)", f"{claimed['latency_s'][arm]:.5f}",
                  f"{eq['latency_s'][arm]:.5f}", f"{res['latency_s'][arm]:.6f}")
    s.add_row("RSA overhead (%)", f"{claimed['overhead_pct']:g}", f"{eq['overhead_pct']:.2f}",
              f"{res['overhead_pct']:.2f}")
    return [t, s]


@handle_errors
def throughput_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    sizes: Annotated[str, typer.Option(help="Transactions per run, comma-separated.")] = (
        DEFAULT_SIZES),
    repeat: Annotated[int, typer.Option(help="Trials per size and arm.")] = 3,
    data: BenchDataOpt = None,
) -> None:
    """Paper 001 Tables 3-4: throughput and latency without and with RSA encryption."""
    from supplyledger.bench.throughput import run_throughput

    try:
        ns = tuple(int(x) for x in sizes.split(","))
    except ValueError:
        fail("--sizes must be integers separated by commas")
    if not ns or min(ns) < 2 or repeat < 1:
        fail("--sizes must be at least 2 each and --repeat at least 1")
    if data is not None and (data / "ledger").exists():
        fail(f"{data / 'ledger'} exists; choose an empty directory")
    if json_out:
        typer.echo(json.dumps(run_throughput(sizes=ns, repeat=repeat, data_dir=data),
                              indent=2))
        return
    console = Console()
    with console.status(f"Running {min(ns)}-{max(ns)} transactions without and with RSA..."):
        res = run_throughput(sizes=ns, repeat=repeat, data_dir=data)
    for table in render(res):
        console.print(table)
    console.print(f"ledger: {bench_ledger(res['setup']['data_dir'])}")
