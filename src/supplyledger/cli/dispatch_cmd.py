"""``supplyledger dispatch plan|show``: dispatch a platform's open orders and draw plans.

``plan`` reads the request (drop points stay off the ledger; schema in
:mod:`supplyledger.logistics.dispatch_request`), asks the ledger's projections which orders
are open for the platform, solves with PyVRP from the request's start or now, whichever is
later, checks the result exactly as the ledger will (the plan id not in use, every routed
product order's lot named, the contract's argument schema and preparation, which also
computes the emissions), and with ``--submit`` records it through the embedded node as
``shipments.record_plan`` signed by the platform's key. ``show`` prints a recorded plan and
draws it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from supplyledger.cli.common import (
    console,
    esc,
    fail,
    handle_errors,
    node_key,
    print_json,
    signer_key,
)

if TYPE_CHECKING:
    from supplyledger.contracts.runtime import StateReader
    from supplyledger.ledger.crypto import PrivateKey

# Library imports (the PyVRP solver among them) are local to each command: the CLI imports
# every command module at start, so module-level imports here would slow down every
# `supplyledger` invocation.

__all__ = ["app"]

app = typer.Typer(help="Dispatch plans: a platform's open orders -> routes -> transport "
                       "orders on the ledger.", no_args_is_help=True)
DataOpt = Annotated[Path, typer.Option("--data", help="Ledger directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SvgOpt = Annotated[Path | None, typer.Option("--svg", help="Write a picture of the plan here.")]


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%m-%d %H:%M")


def _platform_signer(read: StateReader, signer: PrivateKey, key: Path, platform: str) -> str:
    """The platform's id, if ``signer`` is its current key and it may record plans (after a
    key rotation the id is not the key's own); refused before signing, so nothing is
    written."""
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.node.signers import participant_for, registered_as

    did = str(participant_for(read, signer.public)["did"])
    if did != platform:
        fail(f"{key} is the key of {did}, not of the platform {platform}")
    return registered_as(read, signer.public, load_builtin(), "shipments", "record_plan")


def _submit(data: Path, signer: PrivateKey, key: Path, platform: str, args: dict[str, Any]
            ) -> dict[str, Any]:
    from supplyledger.ledger.tx import make_tx
    from supplyledger.node.service import Node, wall_clock_ms
    from supplyledger.node.settings import Settings

    with Node(Settings(data), node_key(data)) as node:
        did = _platform_signer(node.store.get_state, signer, key, platform)  # as committed now
        tx = make_tx(signer, chain=node.chain, contract="shipments", method="record_plan",
                     args=args, time_ms=wall_clock_ms(), nonce=secrets.token_hex(8),
                     signer=did)
        return node.submit(tx.raw).result().to_dict()


@app.command("plan")
@handle_errors
def plan_cmd(
    data: DataOpt,
    request: Annotated[Path, typer.Option("--request", help="Dispatch request (JSON).")],
    time_limit: Annotated[float, typer.Option(
        "--time-limit", help="Most seconds of search (it also stops after 2000 iterations, "
        "so plans are reproducible).")] = 2.0,
    svg: SvgOpt = None,
    submit: Annotated[bool, typer.Option("--submit", help="Record the plan on the ledger.")]
    = False,
    key: Annotated[Path | None, typer.Option("--key", help="The platform's key file.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Plan a platform's open orders; --submit records the plan (orders dispatched)."""
    from supplyledger.contracts.builtin._shipments_model import plan_key
    from supplyledger.contracts.builtin.rules import PREFIX, in_force
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.errors import ValidationError
    from supplyledger.logistics.dispatch_plan import (
        check_before_signing,
        checked_summary,
        plan_dispatch,
    )
    from supplyledger.logistics.dispatch_request import load_request
    from supplyledger.logistics.plot import render_svg
    from supplyledger.node.service import wall_clock_ms  # what _submit signs with
    from supplyledger.store.readonly import open_readonly, prefixed_state, state_value
    from supplyledger.store.shipment_rows import open_orders

    if submit and key is None:
        fail("--submit needs --key (the platform's key file)")
    req = load_request(request)
    if not req.platform:
        raise ValidationError("the request names no platform: give \"platform\", the "
                              "participant id whose open orders are dispatched", arg="platform")
    conn = open_readonly(data)
    signer = None
    try:
        if submit and key is not None:  # a key that may not record the plan: refused unsolved
            signer = signer_key(key)
            _platform_signer(partial(state_value, conn), signer, key, req.platform)
        orders = open_orders(conn, req.platform)
        taken = state_value(conn, f"shipments/{plan_key(req.plan)}") is not None
        # Routes carry the plan's speed and service times from shipments rules v2 on.
        rules = in_force(prefixed_state(conn, PREFIX)).get("shipments", 1)
    finally:
        conn.close()
    now = wall_clock_ms()
    res = plan_dispatch(req, orders, time_limit_s=time_limit, timing=rules >= 2, now=now)
    if submit and not res.routes:  # an empty plan on the ledger would only be noise
        fail(f"nothing to dispatch: none of the {len(orders)} open orders of {req.platform} "
             "could be routed from the request")
    check_before_signing(req, res, orders, plan_taken=taken)
    doc: dict[str, Any] = checked_summary(load_builtin(), req, res, now=now, rules=rules)
    if svg is not None:
        svg.write_text(render_svg(res.problem, res.solution), encoding="utf-8")
    receipt = (_submit(data, signer, key, req.platform, res.args)
               if signer is not None and key is not None else None)
    doc |= {"args": res.args, "svg": str(svg) if svg else None, "receipt": receipt}
    if json_out:
        print_json(doc)
    else:
        _print_plan(doc)
    if receipt is not None and not receipt["ok"]:
        raise typer.Exit(1)


def _print_plan(doc: dict[str, Any]) -> None:
    t = Table("vehicle", "transporter", "orders", "load", "km", "departs (UTC)", "back",
              "kg CO2e", title=f"dispatch plan {esc(doc['plan'])}")
    for r in doc["routes"]:
        t.add_row(esc(r["vehicle"]), esc(r["transporter"][-12:]), esc(" ".join(r["orders"])),
                  f"{r['load']:g}",
                  f"{r['distance_m'] / 1000:.1f}", _when(r["departs_at"]),
                  _when(r["returns_at"]), f"{r['co2e_g'] / 1000:.2f}")
    console.print(t)
    if not doc["routes"]:
        console.print("  nothing to dispatch: no open order of the platform was routed")
    for u in doc["unserved"]:
        console.print(f"  unserved {esc(u['order'])}: {esc(u['reason'])}")
    for u in doc["ignored"]:
        console.print(f"  [yellow]ignored[/] {esc(u['order'])}: {esc(u['reason'])}")
    console.print(f"  {doc['distance_m'] / 1000:.1f} km by road legs (great circle), solver "
                  f"{doc['solver_distance_m'] / 1000:.1f} km, {doc['co2e_g'] / 1000:.2f} kg "
                  "CO2e WTW")
    if doc["svg"]:
        console.print(f"  picture: {esc(doc['svg'])}")
    r = doc["receipt"]
    if r is not None:
        err = r.get("error") or {}
        why = f"{err.get('message')} [{err.get('code')}]"
        status = "[green]recorded[/]" if r["ok"] else f"[red]refused:[/] {esc(why)}"
        console.print(f"  tx {r['tx']} block {r['height']}: {status}")


@app.command("show")
@handle_errors
def show_cmd(
    plan: Annotated[str, typer.Argument(help="Plan id.")],
    data: DataOpt,
    svg: SvgOpt = None,
    request: Annotated[Path | None, typer.Option(
        "--request", help="The platform's request file: draw the real drop points.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Print a recorded dispatch plan; --svg draws it (schematic without drop points)."""
    from supplyledger.logistics.dispatch_picture import plan_svg
    from supplyledger.logistics.dispatch_request import load_request
    from supplyledger.store.readonly import open_readonly
    from supplyledger.store.shipment_rows import dispatch_plan

    conn = open_readonly(data)
    try:
        p = dispatch_plan(conn, plan)
    finally:
        conn.close()
    drops, warehouse = None, p["warehouse_at"]
    if request is not None:
        req = load_request(request)
        drops = {oid: (d.lat_e6, d.lon_e6) for oid, d in req.drops.items()}
        warehouse = (req.warehouse.lat_e6, req.warehouse.lon_e6)
    if svg is not None:
        svg.write_text(plan_svg(p, drops, warehouse), encoding="utf-8")
    if json_out:
        print_json({**p, "svg": str(svg) if svg else None})
        return
    t = Table("vehicle", "shipment", "orders", "load", "km", "kg CO2e",
              title=f"dispatch plan {esc(p['id'])} (block {p['height']})")
    for r in p["routes"]:
        t.add_row(esc(r["vehicle"]), esc(r["shipment"]), esc(" ".join(r["orders"])),
                  str(r["load"]),
                  f"{r['distance_m'] / 1000:.1f}", f"{r['co2e_g'] / 1000:.2f}")
    console.print(t)
    for u in p["unserved"]:
        console.print(f"  unserved {esc(u['order'])}: {esc(u['reason'])}")
    console.print(f"  platform {esc(p['platform'])}: {p['distance_m'] / 1000:.1f} km, "
                  f"{p['co2e_g'] / 1000:.2f} kg CO2e WTW")
    if svg is not None:
        console.print(f"  picture: {esc(svg)}")
