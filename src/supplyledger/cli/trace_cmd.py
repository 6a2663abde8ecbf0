"""``supplyledger trace BATCH`` and ``supplyledger recall BATCH``: thin renderers over
:class:`supplyledger.node.queries.TraceQueries` (no node needed: pure reads).

BATCH may be a bare lot number as printed on a bag (and as the demo and the web UI quote
it), resolved through the batches table like the API does; a lot number that several
products share is refused with their ids rather than guessed. Names and reasons come from
the ledger and are escaped before Rich renders them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import console, esc, fail, handle_errors, open_store, print_json
from supplyledger.cli.tables import show

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.
if TYPE_CHECKING:
    from supplyledger.node.queries import TraceQueries
    from supplyledger.store.sqlite import SQLiteStore

__all__ = ["recall_command", "resolve_batch", "trace_command"]

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PageOpt = Annotated[int, typer.Option("--page", min=1, help="Page number (1-based).")]
SizeOpt = Annotated[int, typer.Option("--page-size", min=1, max=1000, help="Items per page.")]
BatchArg = Annotated[str, typer.Argument(help="Batch id: LGTIN URN, GS1 Digital Link, lot "
                                               "number, SSCC, or another traced identifier.")]


def _queries(data: Path) -> tuple[SQLiteStore, TraceQueries]:
    from supplyledger.node.queries import TraceQueries

    store = open_store(data)
    return store, TraceQueries(store)


def resolve_batch(q: TraceQueries, text: str) -> str:
    """The batch id ``text`` means: an EPC as it is, the batch with that lot number, or an
    SSCC's logistic unit (shared with ``epcis export --batch``)."""
    from supplyledger.gs1 import sscc_link
    from supplyledger.store.listings import Listings

    text = text.strip()
    if "://" in text or text.startswith("urn:"):
        return text
    listings = Listings(q.store, {name: c.tables for name, c in q.contracts.items()})
    if "batches" not in listings.tables:
        return text
    found = [str(r["id"]) for r in listings.rows("batches", 20, None, {"lot": text}).items]
    if len(found) > 1:
        fail(f"lot {text} is on several products; give one of: {', '.join(found)}")
    return found[0] if found else sscc_link(text) or text


def _check_page(res: dict[str, Any]) -> None:
    if res["page"] > res["pages"]:
        fail(f"--page {res['page']} is past the last page ({res['pages']})")


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _event_time(text: Any) -> str:
    """An EPCIS event time to the minute (``2026-10-19 06:06+08:00``): seconds and
    milliseconds are in ``--json``."""
    if not isinstance(text, str):
        return ""
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    zone = when.strftime("%z")
    zone = "Z" if zone in ("+0000", "") else f"{zone[:3]}:{zone[3:]}"
    return when.strftime("%Y-%m-%d %H:%M") + zone


@handle_errors
def trace_command(batch: BatchArg, data: DataOpt, json_out: JsonOpt = False,
                  page: PageOpt = 1, page_size: SizeOpt = 50) -> None:
    """Whole genealogy of a batch with every event verified; flags the faulty link.

    Exit 0 when every event verifies, 1 when a link is faulty (as audit with findings)."""
    store, q = _queries(data)
    try:
        res = q.trace(resolve_batch(q, batch), page=page, page_size=page_size)
    finally:
        store.close()
    _check_page(res)
    if json_out:
        print_json(res)
        if res["faults"]:
            raise typer.Exit(1)
        return
    console.print(f"[bold]{esc(res['batch'])}[/]  upstream {len(res['upstream'])}, downstream "
                  f"{len(res['downstream'])}, {_n(res['events_total'], 'event')} "
                  f"(page {res['page']}/{res['pages']})")
    # Fault reasons run to several lines each: in a column of their own they squeezed the
    # table unreadable, so a row says "see below" and they follow, numbered as the rows.
    # Under 160 columns a table of eleven columns is unreadable too: two lines an event.
    wide = console.width >= 160
    t = Table("#", "batch", "seq", "link", "bizStep", "disposition", "event time", "signer",
              "recorded", "block", "tx", "verified")
    faulty: list[tuple[int, dict[str, Any]]] = []
    for i, e in enumerate(res["events"], start=(page - 1) * page_size + 1):
        said = (" [yellow](error declaration)[/]" if e.get("error_declaration") else
                " [yellow](declared wrong)[/]" if e.get("declared_wrong") else "")
        verified = ("[red]FAULT, see below[/]" if e["faults"] else
                    "[green]ok[/]" if e["proof"]["verified"] else "[red]proof FAILED[/]")
        if e["faults"]:
            faulty.append((i, e))
        cells = (esc(e["batch"].rsplit("/", 1)[-1]), str(e["seq"]), esc(e["link"]),
                 esc(e["biz_step"]) + said, esc(e["disposition"]),
                 esc(_event_time(e["event_time"])),
                 esc(e.get("signer_name") or e["signer"][:20]))
        if wide:
            t.add_row(str(i), *cells, _when(e.get("time")), str(e["height"]), e["tx"][:12],
                      verified)
            continue
        lot, seq, link, step, disp, when, signer = cells
        console.print(f"[bold]{i:>3}[/] {lot} event {seq}  {link} · {step} · {disp}  {verified}")
        console.print(f"     {when}  {signer}  block {e['height']}  tx {e['tx'][:12]}")
    if wide:
        console.print(t)
    for i, e in faulty:
        console.print(f"  [red]#{i}[/] ({esc(e['link'])}, batch "
                      f"{esc(e['batch'].rsplit('/', 1)[-1])}, event {e['seq']}):")
        for f in e["faults"]:
            console.print(f"    [red]{esc(f['kind'])}[/]: {esc(f['reason'])}")
    _withdrawn(res)
    for c in res["chains"]:
        status = "[green]intact[/]" if c["ok"] else f"[red]broken at event {c['broken_at']}[/]"
        console.print(f"  code chain {esc(c['batch'])}: {_n(c['events'], 'event')}, {status}")
    for s in res["shipments"]:
        share = s["order_co2e_g"] if s["order_co2e_g"] is not None else s["co2e_g"]
        console.print(f"  shipment {esc(s['shipment'])} ({esc(s['status'])}"
                      f"{', late' if s['late'] else ''}): {s['distance_m'] / 1000:.1f} km, "
                      f"{share} g CO2e WTW"
                      + (f" for order {esc(s['order'])}" if s["order"] else ""))
    first = res["faulty_link"]
    if first is None:
        console.print("[bold green]no faulty link[/]: every event verified")
        return
    console.print(f"[bold red]faulty link[/]: {esc(first['link'] or '?')} (batch "
                  f"{esc(first['batch'])}, event {first['seq']}) — {esc(first['kind'])}: "
                  f"{esc(first['reason'])}")
    raise typer.Exit(1)


def _withdrawn(res: dict[str, Any]) -> None:
    """The links and unpackings error declarations withdrew, which were not followed."""
    for w in res.get("withdrawn", ()):
        arrow = "taken out of" if w["what"] == "unpacking" else "->"
        console.print(f"  [yellow]withdrawn by an error declaration[/]: {esc(w['src'])} "
                      f"{arrow} {esc(w['dst'])} (tx {w['tx'][:12]})")


def _n(count: int, noun: str) -> str:
    """``1 lot``, ``2 lots``, ``2 batches``."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith(("ch", "sh", "s", "x")) else f"{count} {noun}s"


@handle_errors
def recall_command(batch: BatchArg, data: DataOpt, json_out: JsonOpt = False,
                   page: PageOpt = 1, page_size: SizeOpt = 50) -> None:
    """Every lot, logistic unit and shipment a problem with BATCH reaches, and who holds it."""
    store, q = _queries(data)
    try:
        res = q.recall(resolve_batch(q, batch), page=page, page_size=page_size)
    finally:
        store.close()
    _check_page(res)
    if json_out:
        print_json(res)
        return
    counts = ", ".join(_n(n, k.replace("_", " ")) for k, n in res["counts"].items() if n)
    console.print(f"[bold]recall of {esc(res['batch'])}[/]: {counts} (page {res['page']}/"
                  f"{res['pages']})")
    t = Table("kind", "id", "quantity", "custodian", "owner / lots")
    for a in res["affected"]:
        if a["kind"] == "lot":
            left = f" ({a['remaining']} left)" if a["remaining"] not in (None, "") else ""
            t.add_row("lot", esc(a["id"]), esc(f"{a['quantity']} {a['uom']}{left}".strip()),
                      esc(f"{a['custodian_name'] or a['custodian'][:20]}, "
                          f"{a['custodian_org']}"),
                      "the custodian" if a["owner"] == a["custodian"] else esc(a["owner"]))
        elif a["kind"] == "shipment":
            t.add_row("shipment", esc(a["id"]), "", "", f"{_n(len(a['lots']), 'lot')}, last "
                      f"{esc(a['last_event'])}")
        else:
            t.add_row(esc(a["kind"].replace("_", " ")), esc(a["id"]), "", "", "")
    show(console, t, heading=2)
    _withdrawn(res)
