"""``supplyledger bench-readings``: sustained sensor-reading ingest (issue 6's target)."""

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

__all__ = ["bench_readings_command"]


@handle_errors
def bench_readings_command(
    readings: Annotated[int, typer.Option(
        help="Readings to ingest (the first batch of each device is an untimed warm-up).")
    ] = 200_000,
    batch: Annotated[int, typer.Option(help="Readings per signed batch (1-1000).")] = 500,
    devices: Annotated[int, typer.Option(help="Data loggers sending at once.")] = 32,
    via: Annotated[str, typer.Option(help="direct (node.submit), mqtt (a real mosquitto "
                                          "and the bridge) or http (the API).")] = "direct",
    data: BenchDataOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Devices' signed reading batches, rules evaluated, breaches found: readings/s."""
    from supplyledger.bench.readings import VIAS, run_readings_bench

    if via not in VIAS:
        fail(f"--via must be one of {', '.join(VIAS)}")
    if not 1 <= batch <= 1000 or readings < 1 or devices < 1:
        fail("--batch must be 1-1000, --readings and --devices positive")
    if readings <= devices * batch:  # each device's first batch is the untimed warm-up
        fail(f"--readings {readings} leaves nothing to time: each device's first batch is an "
             f"untimed warm-up, so give more than --devices x --batch = {devices * batch} "
             "readings")
    if data is not None and (data / "ledger").exists():
        fail(f"{data / 'ledger'} exists; choose an empty directory")
    with stage_progress() as progress:
        res = run_readings_bench(readings=readings, batch=batch, devices=devices, via=via,
                                 data_dir=data, progress=progress)
    if json_out:
        print_json(res)
    else:
        t = Table("measure", "value", title=f"bench-readings: {res['readings']:,} readings, "
                  f"{devices} devices x {batch}/batch, via {via}, Ed25519 device keys")
        t.add_row("readings per second (sustained)", f"{res['readings_per_s']:,.0f} (target "
                  f"{res['target_readings_per_s']:,})")
        t.add_row("batches (transactions) per second", f"{res['tx_per_s']:,.1f}")
        t.add_row("latency submit -> durable commit, p50 / p99",
                  f"{res['latency_p50_ms']} ms / {res['latency_p99_ms']} ms")
        t.add_row("breaches found / expected", f"{res['breaches']} / "
                  f"{res['breaches_expected']}")
        t.add_row("prepare (verifier) / contract body, µs per reading",
                  f"{res['prepare_us_per_reading']} / {res['body_us_per_reading']}")
        t.add_row("failed batches", str(res["failed_batches"]))
        t.add_row("ledger", bench_ledger(res["data_dir"]))
        console.print(t)
    if res["failed_batches"] or res["breaches"] != res["breaches_expected"]:
        raise typer.Exit(1)
