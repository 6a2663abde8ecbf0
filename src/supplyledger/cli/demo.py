"""``supplyledger demo``: load the demo consortium's weeks of activity, print the logins,
serve the web UI."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import console, handle_errors, new_data_dir
from supplyledger.cli.serve import HostOpt, PortOpt, run_server

# The demo loader and the web stack are imported inside the command: the CLI imports every
# command module at start, so module-level imports here would slow down every `supplyledger`
# invocation.
if TYPE_CHECKING:
    from supplyledger.demo import DemoInfo

__all__ = ["MIN_WEEKS", "demo"]

# Two flour lots a week; the hot lot (demo.flour.HOT_LOT_NO = 8) is made in week 4, and the
# report points at it. Spelled out here so that listing options does not import the loader.
MIN_WEEKS = 4


def _logistics(n: dict[str, Any]) -> str:
    if not n.get("breached_lot"):
        return ""
    lot = n["breached_lot"].rsplit("/", 1)[-1]
    return (f"  • Dashboard: platform KPIs for this month; dispatch plan {n['plan']} put "
            f"{len(n['orders'])} yeast orders on {len(n['shipments'])} refrigerated vans "
            f"(`supplyledger kpi`, `supplyledger emissions report`)\n"
            f"  • Trace lot [bold]{lot}[/]: the van's logger recorded a cold-chain breach "
            f"(order {n['breached_order']} is held and disputed)\n")


def _open_orders(n: dict[str, Any], data: Path) -> str:
    if not n.get("orders"):
        return ""
    return (f"  • Dispatch (log in as platform-a): {len(n['orders'])} open yeast orders to "
            f"plan; upload [bold]{n['request']}[/] (their drop points), or run `supplyledger "
            f"dispatch plan --data {data} --request {n['request']}`\n")


def _review12(n: dict[str, Any]) -> str:
    lines = ""
    if n.get("mispacked"):
        lot = n["mispacked"]["lot"].rsplit("/", 1)[-1]
        lines += (f"  • Trace lot [bold]{lot}[/]: packed onto the wrong pallet, declared wrong "
                  "(EPCIS error declaration); Recall no longer follows the withdrawn link\n")
    if n.get("rotated"):
        lines += ("  • Log in as courier: its key was rotated (Account page), and the "
                  "customer's shared delivery address still opens\n")
    if n.get("stolen_key"):
        lines += ("  • Withdrawals (as bank or admin): a revoked company key's pay-out "
                  "lapsed; the admin cancelled it and handed the balance to its new key\n")
    return lines


def _report(info: DemoInfo, url: str, seconds: float, *, serving: bool = True) -> None:
    lot = info.faulty_lot.rsplit("/", 1)[-1]
    hot = info.hot_lot.rsplit("/", 1)[-1]
    console.print(f"[bold green]demo ledger ready[/] in {info.data_dir} ({seconds:.0f} s): "
                  f"{info.transactions} transactions in {info.blocks} blocks, "
                  f"{info.notes.get('orders')} customer orders, "
                  f"{info.notes.get('flour_orders')} flour lots sold to platforms")
    t = Table("login", "password", "who", "organisation", title="Demo logins (random, shown "
              "once; each key is sealed under its password)")
    for login, pw, name, org in info.logins:
        t.add_row(login, pw, name, org)
    console.print(t)
    # With --no-serve nothing listens on the URL and there is no Ctrl-C to wait for: say
    # how to serve the ledger instead.
    serve = f"supplyledger serve --data {info.data_dir}"
    where = url if serving else f"{url} once `{serve}` runs"
    console.print(f"Things to look at on {where}:\n"
                  f"  • Trace lot [bold]{lot}[/] (log in as inspector or mill): the processing "
                  "link is red — milled too moist — and an insider's database edit is caught\n"
                  f"  • Trace lot [bold]{hot}[/]: a temperature alarm in the transport link; "
                  "Recall shows which platform holds it now\n"
                  + _logistics(info.notes.get("logistics") or {})
                  + _open_orders(info.notes.get("open_orders") or {}, info.data_dir)
                  + _review12(info.notes) +
                  "  • Audit: names the edited row — " + info.tampered
                  + ("; after Ctrl-C, " if serving else "; with no node running, ") +
                  f"`supplyledger repair --data {info.data_dir}` writes it back from the "
                  "blocks\n"
                  "  • Refused attempts: " + "; ".join(info.refused) + "\n"
                  f"  • Node key password (for `{serve}`): "
                  f"{info.node_password}")


@handle_errors
def demo(
    data: Annotated[Path | None, typer.Option(
        "--data", help="Directory for the demo ledger (default: a new temporary one).")] = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load and exit.")] = False,
    weeks: Annotated[int, typer.Option(min=MIN_WEEKS, max=26, help=(
        f"Weeks of activity (at least {MIN_WEEKS}: the story's faulty and hot lots come "
        "in weeks 2 and 4)."))] = 6,
) -> None:
    """Create the demo consortium, load weeks of its activity, print logins, serve the UI.

    The consortium: a flour-mill group, platforms A/B/C, their suppliers, couriers and customers.
    """
    from supplyledger.api import ApiSettings
    from supplyledger.demo import load_demo

    if data is None:
        data = Path(tempfile.mkdtemp(prefix="supplyledger-demo-")) / "ledger"
    new_data_dir(data)
    t0 = time.perf_counter()
    with console.status("loading the demo…") as status:
        info = load_demo(data, weeks=weeks, progress=lambda s: status.update(f"demo: {s}…"))
    _report(info, f"http://{host}:{port}/", time.perf_counter() - t0, serving=not no_serve)
    if not no_serve:
        run_server(data, info.node_password, host=host, port=port, api=ApiSettings())
