"""``supplyledger bench-orders``: complete order lifecycles per second (issue 4's target)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from supplyledger.cli.common import (
    BenchDataOpt,
    bench_ledger,
    console,
    fail,
    handle_errors,
    print_json,
    stage_progress,
)

__all__ = ["bench_orders_command"]



@handle_errors
def bench_orders_command(
    lifecycles: Annotated[int, typer.Option(help="Order lifecycles to run.")] = 20_000,
    sig: Annotated[str, typer.Option(help="Signature scheme: ed25519 or rsa.")] = "ed25519",
    window: Annotated[int, typer.Option(help="Lifecycles in flight at once.")] = 4_000,
    data: BenchDataOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Order, dispatch, pickup, delivery, confirmation (which pays out): lifecycles/s."""
    from supplyledger.bench.orders import run_orders_bench

    if sig not in ("rsa", "ed25519"):
        fail("--sig must be rsa or ed25519")
    if lifecycles < 1 or window < 1:
        fail("--lifecycles and --window must be positive")
    if data is not None and (data / "ledger").exists():
        fail(f"{data / 'ledger'} exists; choose an empty directory")
    with stage_progress() as progress:
        res = run_orders_bench(lifecycles=lifecycles, sig=sig, window=window, data_dir=data,
                               progress=progress)
    if json_out:
        print_json(res)
        return
    t = Table("measure", "value", title=f"bench-orders: {lifecycles} lifecycles, {sig}")
    t.add_row("lifecycles per second (node)", f"{res['lifecycles_per_s']:,.1f} "
              f"(target {res['target_lifecycles_per_s']:,})")
    t.add_row("transactions per second (node)", f"{res['tx_per_s']:,.0f}")
    t.add_row("lifecycles per second (executor alone, 1 core)",
              f"{res['executor_only_lifecycles_per_s']:,.1f}")
    t.add_row("failed lifecycles", str(res["failed"]))
    t.add_row("ledger", bench_ledger(res["data_dir"]))
    console.print(t)
    if res["failed"]:
        raise typer.Exit(1)
