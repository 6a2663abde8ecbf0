"""``supplyledger trace BATCH`` and ``supplyledger recall BATCH``: thin renderers over
:class:`supplyledger.node.queries.TraceQueries` (no node needed: pure reads)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import console, fail, handle_errors, print_json

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.
if TYPE_CHECKING:
    from supplyledger.node.queries import TraceQueries
    from supplyledger.store.sqlite import SQLiteStore

__all__ = ["recall_command", "trace_command"]

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PageOpt = Annotated[int, typer.Option("--page", min=1, help="Page number (1-based).")]
SizeOpt = Annotated[int, typer.Option("--page-size", min=1, max=1000, help="Items per page.")]
BatchArg = Annotated[str, typer.Argument(help="Batch id: LGTIN URN, GS1 Digital Link, or "
                                               "another traced identifier.")]


def _queries(data: Path) -> tuple[SQLiteStore, TraceQueries]:
    from supplyledger.node.queries import TraceQueries
    from supplyledger.store.sqlite import DB_NAME, SQLiteStore

    if not (data / DB_NAME).exists():
        fail(f"no ledger in {data}")
    store = SQLiteStore(data)
    return store, TraceQueries(store)


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@handle_errors
def trace_command(batch: BatchArg, data: DataOpt, json_out: JsonOpt = False,
                  page: PageOpt = 1, page_size: SizeOpt = 50) -> None:
    """Whole genealogy of a batch with every event verified; flags the faulty link."""
    store, q = _queries(data)
    try:
        res = q.trace(batch, page=page, page_size=page_size)
    finally:
        store.close()
    if json_out:
        print_json(res)
        if res["faults"]:
            raise typer.Exit(1)
        return
    console.print(f"[bold]{res['batch']}[/]  upstream {len(res['upstream'])}, downstream "
                  f"{len(res['downstream'])}, {res['events_total']} events "
                  f"(page {res['page']}/{res['pages']})")
    t = Table("#", "batch", "seq", "link", "bizStep", "disposition", "event time", "signer",
              "recorded", "block", "tx", "proof", "faults")
    for i, e in enumerate(res["events"], start=(page - 1) * page_size + 1):
        faults = "; ".join(f"{f['kind']}: {f['reason']}" for f in e["faults"])
        t.add_row(str(i), e["batch"].rsplit("/", 1)[-1], str(e["seq"]), e["link"],
                  e["biz_step"], e["disposition"], e["event_time"],
                  e.get("signer_name") or e["signer"][:20], _when(e.get("time")),
                  str(e["height"]), e["tx"][:12],
                  "[green]ok[/]" if e["proof"]["verified"] else "[red]FAILED[/]",
                  f"[red]{faults}[/]" if faults else "")
    console.print(t)
    for c in res["chains"]:
        status = "[green]intact[/]" if c["ok"] else f"[red]broken at event {c['broken_at']}[/]"
        console.print(f"  code chain {c['batch']}: {c['events']} events, {status}")
    for s in res["shipments"]:
        share = s["order_co2e_g"] if s["order_co2e_g"] is not None else s["co2e_g"]
        console.print(f"  shipment {s['shipment']} ({s['status']}"
                      f"{', late' if s['late'] else ''}): {s['distance_m'] / 1000:.1f} km, "
                      f"{share} g CO2e WTW" + (f" for order {s['order']}" if s["order"] else ""))
    first = res["faulty_link"]
    if first is None:
        console.print("[bold green]no faulty link[/]: every event verified")
        return
    console.print(f"[bold red]faulty link[/]: {first['link'] or '?'} (batch {first['batch']}, "
                  f"event {first['seq']}) — {first['kind']}: {first['reason']}")
    raise typer.Exit(1)


@handle_errors
def recall_command(batch: BatchArg, data: DataOpt, json_out: JsonOpt = False,
                   page: PageOpt = 1, page_size: SizeOpt = 50) -> None:
    """Every lot, logistic unit and shipment a problem with BATCH reaches, and who holds it."""
    store, q = _queries(data)
    try:
        res = q.recall(batch, page=page, page_size=page_size)
    finally:
        store.close()
    if json_out:
        print_json(res)
        return
    counts = ", ".join(f"{n} {k.replace('_', ' ')}s" for k, n in res["counts"].items() if n)
    console.print(f"[bold]recall of {res['batch']}[/]: {counts} (page {res['page']}/"
                  f"{res['pages']})")
    t = Table("kind", "id", "quantity", "custodian", "owner / lots")
    for a in res["affected"]:
        if a["kind"] == "lot":
            t.add_row("lot", a["id"], f"{a['quantity']} {a['uom']}".strip(),
                      f"{a['custodian_name'] or a['custodian'][:20]} ({a['custodian_org']})",
                      a["owner"][:24])
        elif a["kind"] == "shipment":
            t.add_row("shipment", a["id"], "", "", f"{len(a['lots'])} lots, last "
                      f"{a['last_event']}")
        else:
            t.add_row(a["kind"].replace("_", " "), a["id"], "", "", "")
    console.print(t)
