"""``supplyledger kpi``: KPIs per platform and period from a ledger directory (read-only,
no node needed). The JSON shape is documented in docs/kpi.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from supplyledger.cli.common import console, esc, handle_errors, in_file, print_json
from supplyledger.cli.tables import show
from supplyledger.errors import ValidationError

# Library imports are local to each command: the CLI imports every command module at start,
# so module-level imports here would slow down every `supplyledger` invocation.

__all__ = ["kpi_command"]

DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]


@handle_errors
def kpi_command(
    data: DataOpt,
    platform: Annotated[str | None, typer.Option(
        help="Platform: participant id, name or organisation id ('direct' = none).")] = None,
    period: Annotated[str | None, typer.Option(
        help="month or week (ISO), or one period: 2026-11, 2026-W47, current (the month of "
             "the last block). Default: every month, or one period for --from/--to.")] = None,
    first: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD, UTC).")]
    = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day, included.")] = None,
    tariffs: Annotated[Path | None, typer.Option(
        help="JSON storage/handling tariffs per currency (minor units); default: built-in "
             "illustrative tariffs.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """KPIs per platform and period, from the ledger.

    Order processing and delivery time, cost per order, on-time-in-full, cold-chain
    excursions, satisfaction, CO2e per order."""
    from supplyledger.logistics.kpi import parse_tariffs
    from supplyledger.logistics.kpi_format import cells
    from supplyledger.node.kpi_reports import kpi_report
    from supplyledger.store.kpi_rows import KpiQueries
    from supplyledger.store.readonly import open_readonly

    tariff_table = None
    if tariffs is not None:
        try:
            path = in_file(tariffs, "cannot read tariffs: --tariffs")
            tariff_table = parse_tariffs(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(f"cannot read tariffs {tariffs}: {exc}") from exc
    conn = open_readonly(data)
    try:
        res = kpi_report(KpiQueries(conn), platform=platform, kind=period, first=first,
                         last=last, tariffs=tariff_table)
    except ValidationError as exc:
        if period is None:
            raise
        raise _as_period_option(exc) from None
    finally:
        conn.close()
    if json_out:
        print_json(res)
        return
    t = Table("platform", "period", "orders", "processing h\nmed / mean",
              "delivery h\nmed / mean", "cost / order", "OTIF", "cold-chain\nexcursions",
              "rating", "CO2e / order",
              title=f"KPIs at block {res['height']} (UTC periods)",
              caption="cost = measured freight + storage and handling assumed from tariffs; "
                      "n/a = the ledger has no such contract data")
    for p in res["platforms"]:
        for row in p["periods"]:
            c = cells(row)
            t.add_row(esc(p["name"]), row["period"], c["orders"], c["processing"], c["delivery"],
                      c["cost"], c["otif"], c["excursions"], c["satisfaction"], c["co2e"])
    show(console, t, heading=2)
    if not res["platforms"] or not res["periods"]:
        console.print("no orders in the selected periods")


def _as_period_option(exc: ValidationError) -> ValidationError:
    """``exc`` naming the option ``--period``: the library checks a period's label as a
    month or a week and names it so, and says "period" for the API's parameter (which
    maps the names itself, api/routers/kpi.py)."""
    arg = exc.details.get("arg")
    if arg not in ("month", "week", "period"):
        return exc
    message = exc.message
    if arg == "period" and message.startswith("period "):
        message = "--" + message
    elif arg != "period":  # "month must be YYYY-MM, ...", "no ISO week ..."
        message = f"--period: {'a ' if message.startswith(f'{arg} ') else ''}{message}"
    return ValidationError(message, **{**exc.details, "arg": "period"})
