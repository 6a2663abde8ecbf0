"""``supplyledger dispatch plan|record|show``: dispatch a platform's open orders and draw
plans.

``plan`` reads the request (drop points stay off the ledger; schema in
:mod:`supplyledger.logistics.dispatch_request`), asks the ledger's projections which orders
are open for the platform, solves with PyVRP from the request's start or now, whichever is
later, checks the result exactly as the ledger will (the plan id not in use, every routed
product order's lot named, the contract's argument schema and preparation, which also
computes the emissions, then ``record_plan``'s body over the committed state with its
writes dropped: :func:`~supplyledger.logistics.dispatch_plan.check_on_ledger`), and with
``--submit`` records it through the embedded node as
``shipments.record_plan`` signed by the platform's key. ``--submit`` solves again, and a
search stopped by its time limit may find other routes than the preview's; ``--save`` writes
the checked plan instead (:func:`~supplyledger.logistics.dispatch_plan.saved_plan`), and
``record`` signs exactly that plan once it is checked again against the ledger as it is
then (under the node's writer lock, so nothing changes in between). ``show`` prints a
recorded plan and draws it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import sqlite3
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
    in_file,
    ledger_chain,
    need_node_key,
    node_key,
    out_file,
    print_json,
    signer_key,
    write_out,
)

if TYPE_CHECKING:
    from supplyledger.contracts.runtime import StateReader
    from supplyledger.ledger.crypto import PrivateKey
    from supplyledger.node.service import Node

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


def _sign(node: Node, signer: PrivateKey, did: str, args: dict[str, Any], now: int
          ) -> dict[str, Any]:
    from supplyledger.ledger.tx import make_tx

    tx = make_tx(signer, chain=node.chain, contract="shipments", method="record_plan",
                 args=args, time_ms=now, nonce=secrets.token_hex(8), signer=did)
    return node.submit(tx.raw).result().to_dict()


def _names(conn: sqlite3.Connection) -> dict[str, str]:
    from supplyledger.store.kpi_rows import KpiQueries

    return KpiQueries(conn).names()


def _known_platform(conn: sqlite3.Connection, platform: str) -> None:
    """The request's platform must be a platform's participant id, checked before the
    search: a name or a typo finds no open orders, and every order would be listed as
    ignored as if the ledger had none."""
    from supplyledger.errors import NotFound, SupplyLedgerError
    from supplyledger.store.kpi_rows import KpiQueries

    q = KpiQueries(conn)
    platforms = dict(q.platforms())
    if platform in platforms:
        return
    try:
        did: str | None = q.resolve_platform(platform)  # a name or organisation id given
    except SupplyLedgerError:
        did = None
    hint = (f": {platforms[did]} is {did}" if did in platforms else
            " (its did:sl:... id: `supplyledger keys show KEY` or /api/participants)")
    raise NotFound(f"the request's \"platform\" {platform!r} is not the participant id of a "
                   f"platform on this ledger{hint}", arg="platform", platform=platform)


def _node(data: Path) -> Node:
    # The node checks a transaction's time against the clock it was signed with (tests pin
    # the wall clock, and the plan's checks ran at that time too).
    from supplyledger.node.service import Node, wall_clock_ms
    from supplyledger.node.settings import Settings

    return Node(Settings(data), node_key(data), clock=wall_clock_ms)


def _submit(data: Path, signer: PrivateKey, key: Path, platform: str, args: dict[str, Any]
            ) -> dict[str, Any]:
    from supplyledger.node.service import wall_clock_ms

    with _node(data) as node:
        did = _platform_signer(node.store.get_state, signer, key, platform)  # as committed now
        return _sign(node, signer, did, args, wall_clock_ms())


@app.command("plan")
@handle_errors
def plan_cmd(
    data: DataOpt,
    request: Annotated[Path, typer.Option("--request", help="Dispatch request (JSON).")],
    time_limit: Annotated[float, typer.Option(
        "--time-limit", help="Most seconds of search (it also stops after 2000 iterations, "
        "so plans are reproducible).")] = 2.0,
    svg: SvgOpt = None,
    save: Annotated[Path | None, typer.Option(
        "--save", help="Write the checked plan here, to record exactly it later with "
        "`dispatch record`.")] = None,
    submit: Annotated[bool, typer.Option("--submit", help="Record the plan on the ledger.")]
    = False,
    key: Annotated[Path | None, typer.Option("--key", help="The platform's key file.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Plan a platform's open orders; --submit records the plan, --save keeps it.

    --submit dispatches the orders now; --save writes the checked plan, which `dispatch
    record` records unchanged."""
    from supplyledger.contracts.builtin._shipments_model import plan_key
    from supplyledger.contracts.builtin.rules import PREFIX, in_force
    from supplyledger.contracts.registry import load_builtin
    from supplyledger.errors import ValidationError
    from supplyledger.logistics.dispatch_picture import EAST_NORTH
    from supplyledger.logistics.dispatch_plan import (
        check_before_signing,
        check_on_ledger,
        checked_summary,
        plan_dispatch,
        saved_plan,
    )
    from supplyledger.logistics.dispatch_request import parse_request, read_json
    from supplyledger.logistics.plot import render_svg
    from supplyledger.node.service import wall_clock_ms  # what _submit signs with
    from supplyledger.store.readonly import open_readonly, prefixed_state, state_value
    from supplyledger.store.shipment_rows import open_orders

    if submit and key is None:
        fail("--submit needs --key (the platform's key file)")
    if submit and save is not None:  # the saved plan's id would be in use at once
        fail("--save keeps a plan to record later with `dispatch record`; --submit records "
             "it now: give one of them")
    for path, option in ((svg, "--svg"), (save, "--save")):
        if path is not None:
            out_file(path, option)
    raw = in_file(request, "--request").read_bytes()
    req = parse_request(read_json(raw, str(request)))
    if not req.platform:
        raise ValidationError("the request names no platform: give \"platform\", the "
                              "participant id whose open orders are dispatched", arg="platform")
    chain = ledger_chain(data) if save is not None else ""
    conn = open_readonly(data)
    signer = None
    try:
        _known_platform(conn, req.platform)
        names = _names(conn)
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
    if (submit or save is not None) and not res.routes:  # an empty plan: only noise
        fail(f"nothing to dispatch: none of the {len(orders)} open orders of "
             f"{_who(req.platform, names)} could be routed from the request")
    check_before_signing(req, res, orders, plan_taken=taken)
    contracts = load_builtin()
    doc: dict[str, Any] = checked_summary(contracts, req, res, now=now, rules=rules)
    conn = open_readonly(data)
    try:  # the contract's body on the ledger as it is now: a refusal leaves nothing written
        check_on_ledger(contracts, req.platform, res.args, read=partial(state_value, conn),
                        now=now)
    finally:
        conn.close()
    if svg is not None:
        write_out(svg, render_svg(res.problem, res.solution, unit="km", x_label=EAST_NORTH[0],
                                  y_label=EAST_NORTH[1]))
    if save is not None:
        write_out(save, json.dumps(saved_plan(
            req, res, chain=chain, planned_at=now, rules=rules,
            request_sha256=hashlib.sha256(raw).hexdigest()), indent=1, sort_keys=True) + "\n")
    receipt = (_submit(data, signer, key, req.platform, res.args)
               if signer is not None and key is not None else None)
    doc |= {"args": res.args, "svg": str(svg) if svg else None, "receipt": receipt,
            "saved": str(save) if save else None}
    if json_out:
        print_json(doc)
    else:
        _print_plan(doc, names)
    if receipt is not None and not receipt["ok"]:
        raise typer.Exit(1)


@app.command("record")
@handle_errors
def record_cmd(
    plan_file: Annotated[Path, typer.Argument(
        metavar="PLAN.json", help="A plan written by `dispatch plan --save`.")],
    data: DataOpt,
    key: Annotated[Path, typer.Option("--key", help="The platform's key file.")],
    json_out: JsonOpt = False,
) -> None:
    """Record a plan saved by `dispatch plan --save`, unchanged, once checked again.

    Checked against the ledger as it is now; a stale or edited plan is refused and nothing
    is signed."""
    from supplyledger.contracts.builtin._shipments_model import plan_key
    from supplyledger.contracts.builtin.rules import PREFIX, in_force
    from supplyledger.logistics.dispatch_plan import (
        check_on_ledger,
        check_saved_plan,
        read_saved_plan,
    )
    from supplyledger.logistics.dispatch_request import read_json
    from supplyledger.node.service import wall_clock_ms
    from supplyledger.store.readonly import prefixed_state, state_value
    from supplyledger.store.shipment_rows import open_orders

    saved = read_saved_plan(read_json(in_file(plan_file, "plan file").read_bytes(),
                                      str(plan_file)), str(plan_file))
    need_node_key(data)
    signer = signer_key(in_file(key, "--key"))
    with _node(data) as node:  # its writer lock: nothing changes between check and commit
        did = _platform_signer(node.store.get_state, signer, key, saved.platform)
        conn = node.store.reader()
        now = wall_clock_ms()
        doc = check_saved_plan(
            node.contracts, saved, open_orders(conn, saved.platform), chain=node.chain,
            rules=in_force(prefixed_state(conn, PREFIX)).get("shipments", 1),
            plan_taken=state_value(conn, f"shipments/{plan_key(saved.args['id'])}")
            is not None, now=now)
        check_on_ledger(node.contracts, saved.platform, saved.args, read=node.store.get_state,
                        now=now)
        names = _names(conn)
        receipt = _sign(node, signer, did, saved.args, now)
    doc |= {"args": saved.args, "svg": None, "saved": None, "receipt": receipt}
    if json_out:
        print_json(doc)
    else:
        _print_plan(doc, names)
    if not receipt["ok"]:
        raise typer.Exit(1)


def _who(did: str, names: dict[str, str]) -> str:
    """A participant's name where the ledger knows it, else its id's end."""
    return names.get(did) or did[-12:]


def _print_plan(doc: dict[str, Any], names: dict[str, str]) -> None:
    t = Table("vehicle", "transporter", "orders", "load", "km", "departs (UTC)", "back",
              "kg CO2e", title=f"dispatch plan {esc(doc['plan'])}")
    for r in doc["routes"]:
        t.add_row(esc(r["vehicle"]), esc(_who(r["transporter"], names)), esc(" ".join(r["orders"])),
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
    if doc["saved"]:
        console.print(f"  saved: {esc(doc['saved'])} (record it with `supplyledger dispatch "
                      "record`)")
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

    if svg is not None:
        out_file(svg, "--svg")
    if request is not None:
        in_file(request, "--request")
    conn = open_readonly(data)
    try:
        p = dispatch_plan(conn, plan)
        names = _names(conn)
    finally:
        conn.close()
    drops, warehouse = None, p["warehouse_at"]
    if request is not None:
        req = load_request(request)
        drops = {oid: (d.lat_e6, d.lon_e6) for oid, d in req.drops.items()}
        warehouse = (req.warehouse.lat_e6, req.warehouse.lon_e6)
    if svg is not None:
        write_out(svg, plan_svg(p, drops, warehouse))
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
    console.print(f"  platform {esc(_who(p['platform'], names))}: "
                  f"{p['distance_m'] / 1000:.1f} km, "
                  f"{p['co2e_g'] / 1000:.2f} kg CO2e WTW")
    if svg is not None:
        console.print(f"  picture: {esc(svg)}")
