"""``supplyledger demo``: load the demo consortium's weeks of activity, print the logins,
serve the web UI.

A port in use is refused before the loading, and a loading stopped (Ctrl-C, an error)
leaves nothing behind; the commands printed name the program as the user's shell can run
it."""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import console, err_console, fail, handle_errors, new_data_dir
from supplyledger.cli.serve import HostOpt, PortOpt, check_address, run_server

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


def _open_orders(n: dict[str, Any], data: Path, sl: str) -> str:
    if not n.get("orders"):
        return ""
    return (f"  • Dispatch (log in as platform-a): {len(n['orders'])} open yeast orders to "
            f"plan; upload [bold]{n['request']}[/] (their drop points), or run `{sl} "
            f"dispatch plan --data {data} --request {n['request']}`\n")


def _review12(n: dict[str, Any]) -> str:
    lines = ""
    if n.get("mispacked"):
        lot = n["mispacked"]["lot"].rsplit("/", 1)[-1]
        lines += (f"  • Trace lot [bold]{lot}[/]: packed onto the wrong pallet, declared wrong "
                  "(EPCIS error declaration); Recall no longer follows the withdrawn link\n")
    if n.get("rotated"):
        lines += ("  • Log in as courier: its key was rotated last (the Account page's "
                  "\"Rotate my key\"; identity.rotate_key in the Explorer), and the customer's "
                  "shared delivery address still opens on the Data sharing page\n")
    if n.get("stolen_key"):
        # No page is called Withdrawals: the story is in the payments transactions.
        lines += ("  • Explorer, contract payments: a stolen company key's pay-out refused "
                  "as lapsed (invalid_state); the admin cancelled it and handed the balance "
                  "to its new key (Orders: the withdrawals and balances tables)\n")
    return lines


def _program() -> str:
    """How the printed commands call supplyledger: by name when a shell finds this very
    program so, else by its full path (scripts/demo.sh runs the clone's
    .venv/bin/supplyledger, which a new shell does not find)."""
    me = Path(sys.argv[0])
    if me.name != "supplyledger" or not me.is_file():
        return "supplyledger"  # run otherwise (python -m, a test): the name is all we know
    found = shutil.which("supplyledger")
    if found and Path(found).resolve() == me.resolve():
        return "supplyledger"
    return shlex.quote(str(me.resolve()))


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
    sl = _program()
    serve = f"{sl} serve --data {info.data_dir}"
    where = url if serving else f"{url} once `{serve}` runs"
    console.print(f"Things to look at on {where}:\n"
                  f"  • Trace lot [bold]{lot}[/] (log in as inspector or mill): the processing "
                  "link is red — milled too moist — and an insider's database edit is caught\n"
                  f"  • Trace lot [bold]{hot}[/]: a temperature alarm in the transport link; "
                  "Recall shows which platform holds it now\n"
                  + _logistics(info.notes.get("logistics") or {})
                  + _open_orders(info.notes.get("open_orders") or {}, info.data_dir, sl)
                  + _review12(info.notes) +
                  "  • Audit (log in as auditor or admin: only they may run it): names the "
                  "edited row — " + info.tampered
                  + ("; after Ctrl-C, " if serving else "; with no node running, ") +
                  f"`{sl} repair --data {info.data_dir}` writes it back from the blocks\n"
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
    from supplyledger.store.sqlite import DB_NAME

    if data is not None and (data / DB_NAME).exists():
        # Most likely an earlier demo's: say how to see it again.
        fail(f"{data} already holds a ledger: serve it with `{_program()} serve --data "
             f"{data}` (the node key password is the one its demo printed), or choose a new "
             "directory")
    if data is not None:
        new_data_dir(data)
    if not no_serve:
        check_address(host, port)  # a port in use: said now, not after the loading
    # What to remove if the loading stops: the first directory made for the ledger (None:
    # an empty directory was given, which stays).
    top: Path | None
    if data is None:
        top = Path(tempfile.mkdtemp(prefix="supplyledger-demo-"))
        data = top / "ledger"
    else:
        top = next((d for d in reversed((data, *data.parents)) if not d.exists()), None)
    t0 = time.perf_counter()
    try:
        with console.status("loading the demo…") as status:
            info = load_demo(data, weeks=weeks,
                             progress=lambda s: status.update(f"demo: {s}…"))
    except BaseException as exc:
        # A half-loaded demo is of no use, and a second run would find the directory taken.
        _remove(top, data)
        if isinstance(exc, KeyboardInterrupt):
            err_console.print(f"interrupted: the half-loaded demo ledger in {data} was "
                              "removed", soft_wrap=True, markup=False, highlight=False)
            raise typer.Exit(130) from None
        raise
    _report(info, f"http://{host}:{port}/", time.perf_counter() - t0, serving=not no_serve)
    if not no_serve:
        run_server(data, info.node_password, host=host, port=port, api=ApiSettings())
        console.print(f"stopped. The demo ledger stays in {data}: `{_program()} serve "
                      f"--data {data}` serves it again (node key password above); "
                      f"`rm -r {top or data}` removes it", soft_wrap=True, markup=False,
                      highlight=False)


def _remove(top: Path | None, data: Path) -> None:
    """Remove what the demo made: ``top``, or what is inside ``data`` (given empty)."""
    if top is not None:
        shutil.rmtree(top, ignore_errors=True)
        return
    for child in data.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
