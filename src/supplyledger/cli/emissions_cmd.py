"""``supplyledger emissions report``: the monthly freight emissions report per platform
(ISO 14083 / GLEC), read-only from a ledger directory, as a table, JSON or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from supplyledger.cli.common import console, esc, handle_errors, in_file, print_json
from supplyledger.cli.tables import show
from supplyledger.errors import ValidationError

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

__all__ = ["app"]

app = typer.Typer(help="Freight GHG emissions (ISO 14083 / GLEC).", no_args_is_help=True)


def _kg(grams: int | None) -> str:
    return "—" if grams is None else f"{grams / 1000:,.3f}"


@app.command("report")
@handle_errors
def report(
    data: Annotated[Path, typer.Option("--data", help="Ledger directory.")],
    month: Annotated[str, typer.Option(help="Month, YYYY-MM (UTC).")],
    platform: Annotated[str | None, typer.Option(
        help="Platform: participant id, name or organisation id.")] = None,
    factors: Annotated[Path | None, typer.Option(
        help="Emission factor table to recompute with (default: the packaged one).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV (per mode and vehicle "
                                                        "class, then totals).")] = False,
) -> None:
    """Monthly freight emissions per platform (ISO 14083 / GLEC).

    Shipments departed in the month, tonne-km, g CO2e (WTW, TTW/WTT) by mode and vehicle
    class, CO2e per order, and the factor table's version and sources."""
    from supplyledger.logistics.emissions import load_factors
    from supplyledger.logistics.emissions_report import to_csv
    from supplyledger.node.kpi_reports import emissions_report
    from supplyledger.store.kpi_rows import KpiQueries
    from supplyledger.store.readonly import open_readonly

    if json_out and csv_out:
        raise ValidationError("choose one of --json and --csv")
    conn = open_readonly(data)
    try:
        rep = emissions_report(KpiQueries(conn), month, platform=platform,
                               factors=load_factors(in_file(factors, "--factors"))
                               if factors else None)
    finally:
        conn.close()
    if json_out:
        print_json(rep)
        return
    if csv_out:
        sys.stdout.write(to_csv(rep))
        return
    t = Table("platform", "mode / vehicle class", "shipments", "legs", "tonne-km",
              "kg CO2e WTW", "kg TTW", "g/tkm",
              title=f"Freight emissions {rep['month']} (ISO 14083, well-to-wheel; factor table "
                    f"{rep['factor_table']['version']})")
    for p in rep["platforms"]:
        for m in p["by_mode"]:
            t.add_row(esc(p["name"]), esc(f"{m['mode']} / {m['vehicle_class']}"),
                      str(m["shipments"]), str(m["legs"]), m["tonne_km"], _kg(m["wtw_g"]),
                      _kg(m["ttw_g"]), m["intensity_g_per_tkm"] or "—")
        per_order = p["orders"]["per_order_g"]
        fallback = [f"{n} {b}" for b, n in p["allocation"].items() if n and b != "mass"]
        t.add_row(f"[bold]{esc(p['name'])}[/]", f"[bold]total[/] ({p['planned']} planned, "
                  f"{p['shared_shipments']} shared, {p['orders']['n']} orders, "
                  f"{per_order or '—'} g/order"
                  + "".join(f"; split {x}" for x in fallback) + ")",
                  str(p["shipments"]), "", p["tonne_km"], _kg(p["wtw_g"]), _kg(p["ttw_g"]),
                  p["intensity_g_per_tkm"] or "—", end_section=True)
    show(console, t, heading=2)
    if not rep["platforms"]:
        console.print("no shipments departed in " + rep["month"]
                      + ("" if rep["shipments_recorded"] else " (no shipments contract data)"))
    for f in rep["factor_table"]["factors"]:
        console.print(f"  [dim]{esc(f['mode'])}/{esc(f['vehicle_class'])}: "
                      f"{esc(f['wtw_g_per_tkm'])} g/tkm WTW — {esc(f['source'])}[/]")
