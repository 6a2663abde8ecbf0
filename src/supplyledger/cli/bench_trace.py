"""``supplyledger bench-trace``: trace latency in a large ledger, paging a long history and
EPCIS capture throughput (issue 3's targets)."""

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

__all__ = ["bench_trace_command"]


@handle_errors
def bench_trace_command(
    events: Annotated[int, typer.Option(help="Events in the ledger (filled through the node "
                                             "with EPCIS capture documents).")] = 1_000_000,
    doc_events: Annotated[int, typer.Option(help="Events per captured document.")] = 5_000,
    long_events: Annotated[int, typer.Option(help="Events of the one long batch paged "
                                                  "through.")] = 10_000,
    runs: Annotated[int, typer.Option(help="Trace queries timed per measure.")] = 200,
    import_docs: Annotated[int, typer.Option(help="Typical documents in the timed import "
                                                  "stream.")] = 8,
    data: BenchDataOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """50-event genealogy trace p50/p99 (cold and warm), long-batch pages, import events/s."""
    from supplyledger.bench.trace_bench import run_trace_bench

    if min(doc_events, long_events, runs, import_docs) < 1 or events < doc_events + long_events:
        fail("--doc-events, --long-events, --runs and --import-docs must be positive, and "
             "--events at least --doc-events + --long-events")
    if data is not None and (data / "ledger").exists():
        fail(f"{data / 'ledger'} exists; choose an empty directory")
    with stage_progress() as progress:
        res = run_trace_bench(total_events=events, doc_events=doc_events,
                              long_events=long_events, runs=runs, import_docs=import_docs,
                              data_dir=data,
                              progress=progress)
    if json_out:
        print_json(res)
        return
    t = Table("measure", "value", title=f"bench-trace: {res['ledger_events']:,} events in "
              f"{res['blocks']:,} blocks")
    for kind in ("warm", "cold"):
        ms = res[f"trace_{kind}_ms"]
        t.add_row(f"trace of a {res['genealogy_events']}-event genealogy ({kind} query)",
                  f"p50 {ms['p50']} ms, p99 {ms['p99']} ms")
    for p in res["long_batch_pages"]:
        t.add_row(f"page {p['page']} of the {res['long_batch_events']:,}-event batch",
                  f"{p['ms']} ms ({p['events']} events)")
    t.add_row(f"EPCIS import, {res['import_docs']} documents of {doc_events:,} events, "
              "3 in flight", f"{res['import_events_per_s']:,} events/s")
    t.add_row("EPCIS import of one document at a time",
              f"{res['import_one_doc_events_per_s']:,} events/s")
    t.add_row("fill through the node", f"{res['fill_events_per_s']:,} events/s")
    t.add_row("ledger", bench_ledger(res["data_dir"]))
    console.print(t)
