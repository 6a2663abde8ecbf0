"""Review 14 follow-ups on real embedded nodes (SQLite in temporary directories):

1. a shipment closed on the way (departed, never arrived) counted as still moving in the
   cold-chain KPI, so a later breach on its lots counted against it up to the last block:
   the ``shipments`` projection now keeps when a shipment ended (``ended``);
2. a shipment of no platform carrying no order was "(direct sales)" in the KPIs but
   "(no platform)" in the emissions report: one name now;
3. under sensors rules v4 the trace check worded a breach as "(ongoing)" for a batch whose
   own excursion had ended (the breach record goes on until the last of its batches ends);
4. the dispatch planner signed plans that shipments rules v3 refuse (a failed receipt on
   the ledger for good), and a request took any ``mass_kg`` and any ``start``.

Story of the KPI ledger (T0 = 2026-11-10 08:00Z; h = hours after T0): PA (Shop A, lot LA)
and PB (Shop B, lot LB) are placed at 0 h and dispatched at 0.5 h; the carrier creates X
(PA), Y (PB) and Z (no order, no platform) at 1 h, all depart at 2 h; X is closed on the
way at 3 h (abandoned), Z arrives at 3 h, Y is delivered at 4 h; the seller's logger on LA
reads 12 degC from 5 h to 6 h (2-8 degC, 30 min allowed: a breach, after X ended); Z is
delivered at 7 h, the last block.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _shop import shop_parties
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.cli.main import app
from supplyledger.contracts.builtin._shipments_model import SHIPMENTS
from supplyledger.contracts.builtin._shipments_new import MAX_AHEAD_MS, MAX_MASS_KG
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import ValidationError
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.encoding import decode
from supplyledger.ledger.keyfile import KdfParams, seal
from supplyledger.logistics.dispatch_plan import checked_summary, plan_dispatch
from supplyledger.logistics.dispatch_request import LedgerOrder, parse_request
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.kpi_reports import kpi_report
from supplyledger.node.queries import TraceQueries
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.kpi_rows import KpiQueries
from supplyledger.store.readonly import open_readonly
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

from ._sensors_world import MIN as SMIN
from ._sensors_world import T0 as ST0
from ._sensors_world import World, build_world, temps
from .kpi_ledger import MIN, Clock, cast

T0 = 1_794_297_600_000  # 2026-11-10T08:00:00Z
H = 3_600_000
DAY = 86_400_000
WARM = 12_000


@dataclass
class Ledger:
    dir: Path
    rules: int  # shipments rules the ledger ran
    node_key: PrivateKey
    names: dict[str, str]  # party -> participant id


def _story(d: Path) -> Ledger:
    clock = Clock(T0)
    c = Consortium(d, chain="review14-followups", clock=clock)
    try:
        p, lots = cast(c, {"PA": "LA", "PB": "LB"})
        for oid, plat in (("PA", "platA"), ("PB", "platB")):
            c.ok(p["buyer"], "orders", "place", {
                "id": oid, "seller": p["seller"].did, "batch": lots[oid], "quantity": 10,
                "unit_price": 100, "freight": 500, "currency": "EUR", "earliest": T0,
                "latest": T0 + 48 * H, "platform": p[plat].did})
        clock.t = T0 + H // 2
        for oid in ("PA", "PB"):
            c.ok(p["seller"], "orders", "dispatch", {
                "order": oid, "transporter": p["carrier"].did, "transport_no": f"T-{oid}"})
        c.ok(p["seller"], "sensors", "set_rule", {
            "scope": "batch", "target": lots["PA"],
            "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}})
        c.ok(p["seller"], "sensors", "bind", {"device": p["logger"].did, "kind": "batch",
                                              "target": lots["PA"], "batches": [lots["PA"]]})
        clock.t = T0 + H
        for sid, orders in (("X", ["PA"]), ("Y", ["PB"]), ("Z", [])):
            c.ok(p["carrier"], "shipments", "create", {
                "id": sid, "transporter": p["carrier"].did, "mass_kg": 200,
                "legs": [{"from": {"node": "depot"}, "to": {"node": "hub"},
                          "distance_m": 40_000, "mode": "road",
                          "vehicle_class": "van_diesel_avg"}],
                "orders": [{"order": o, "mass_kg": 100} for o in orders],
                "batches": [lots[o] for o in orders], "promised": T0 + 24 * H})
        clock.t = T0 + 2 * H
        for sid in ("X", "Y", "Z"):
            c.ok(p["carrier"], "shipments", "depart", {"shipment": sid})
        clock.t = T0 + 3 * H
        c.ok(p["carrier"], "shipments", "close", {"shipment": "X", "reason": "abandoned"})
        c.ok(p["carrier"], "shipments", "arrive_leg", {"shipment": "Z", "leg": 0})
        clock.t = T0 + 4 * H
        c.ok(p["carrier"], "shipments", "deliver", {"shipment": "Y"})
        clock.t = T0 + 6 * H + 30 * MIN
        readings = [WARM] * 7 + [5000]  # 5:00 .. 6:00 at 12 degC, 6:10 back in range
        c.ok(p["logger"], "sensors", "record", {"seq": 1, "readings": [
            {"t": T0 + 5 * H + i * 10 * MIN, "temp": v} for i, v in enumerate(readings)]})
        clock.t = T0 + 7 * H
        c.ok(p["carrier"], "shipments", "deliver", {"shipment": "Z"})
        rules = decode(c.node.store.get_state("rules/v/shipments") or b"1")
        return Ledger(c.dir, rules, c.node_key, {k: v.did for k, v in p.items()})
    finally:
        c.stop()


@pytest.fixture(scope="module", params=[1, load_builtin()["shipments"].versions[-1]],
                ids=["shipments-v1", "shipments-newest"])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """The story on a ledger made on shipments rules v1 (an older release's genesis: the
    record keeps no end) and on a new one (the newest rules)."""
    with pytest.MonkeyPatch.context() as mp:
        if request.param == 1:
            old = {n: dataclasses.replace(c, versions=(1,)) if n == "shipments" else c
                   for n, c in load_builtin().items()}
            mp.setattr(consortium, "init_ledger", partial(init_ledger, contracts=old))
        led = _story(tmp_path_factory.mktemp("followups") / "ledger")
    assert led.rules == request.param
    return led


@pytest.fixture
def q(ledger: Ledger) -> Iterator[KpiQueries]:
    conn = open_readonly(ledger.dir)
    yield KpiQueries(conn)
    conn.close()


def _rows(d: Path, sql: str, *params: Any) -> list[Any]:
    conn = open_readonly(d)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _excursions(q: KpiQueries, platform: str) -> Any:
    rep = kpi_report(q, kind="2026-11", platform=platform)
    return rep["platforms"][0]["periods"][0]["excursions"]


# -- 1. a shipment closed on the way ---------------------------------------------------------

def test_the_projection_keeps_when_each_shipment_ended(ledger: Ledger) -> None:
    got = dict(_rows(ledger.dir, "SELECT id, ended FROM shipments"))
    assert got == {"X": T0 + 3 * H, "Y": T0 + 4 * H, "Z": T0 + 7 * H}
    assert dict(_rows(ledger.dir, "SELECT id, arrived FROM shipments")) == {
        "X": None, "Y": T0 + 4 * H, "Z": T0 + 3 * H}
    for sid, at in got.items():  # rules v2 and later record the same end in the state
        state = decode(_rows(ledger.dir, "SELECT value FROM state WHERE key = ?",
                             f"shipments/s/{sid}")[0][0])
        assert state.get("ended") == (at if ledger.rules >= 2 else None)
    report = run_audit(ledger.dir)
    assert report.ok, report


def test_a_breach_after_a_shipment_was_closed_on_the_way_is_not_its(q: KpiQueries) -> None:
    [(started, ended)] = q.conn.execute("SELECT started, ended FROM sensor_breaches").fetchall()
    assert (started, ended) == (T0 + 5 * H, T0 + 6 * H + 10 * MIN)
    # X carried LA from 2 h until it was closed at 3 h: the breach from 5 h is not its.
    assert _excursions(q, "Shop A")["shipments"] == {"n": 1, "hit": 0, "pct": "0.0"}
    # (the order is another matter: its lot had a breach before any delivery)
    assert _excursions(q, "Shop A")["orders"] == {"n": 1, "hit": 1, "pct": "100.0"}


def test_a_table_built_by_an_earlier_release_reads_and_is_rebuilt(ledger: Ledger,
                                                                   tmp_path: Path) -> None:
    d = tmp_path / "ledger"
    shutil.copytree(ledger.dir, d)
    before = dataclasses.replace(SHIPMENTS, columns=SHIPMENTS.columns[:-1])
    assert SHIPMENTS.columns[-1] == ("ended", "INTEGER")
    conn = sqlite3.connect(d / DB_NAME)
    with conn:
        conn.execute("ALTER TABLE shipments DROP COLUMN ended")
        conn.execute("UPDATE projection_schema SET hash = ? WHERE name = 'shipments'",
                     (before.schema_hash,))
    conn.close()
    # Read-only reports still work (closed on the way then counts as moving, as before) ...
    conn = open_readonly(d)
    try:
        assert _excursions(KpiQueries(conn), "Shop A")["shipments"]["hit"] == 1
    finally:
        conn.close()
    report = run_audit(d)
    assert [(f.kind, f.table) for f in report.findings] == [("projection_schema", "shipments")]
    # ... and a node of this release rebuilds the table from the blocks when it opens.
    with Node(Settings(d, verify_workers=0), ledger.node_key):
        pass
    assert dict(_rows(d, "SELECT id, ended FROM shipments")) == {
        "X": T0 + 3 * H, "Y": T0 + 4 * H, "Z": T0 + 7 * H}
    assert run_audit(d).ok


# -- 2. one name for goods of no platform ----------------------------------------------------

def _cli(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_a_shipment_of_no_platform_has_one_name_in_both_reports(ledger: Ledger) -> None:
    kpi = _cli("kpi", "--data", str(ledger.dir), "--period", "2026-11", "--json")
    emissions = _cli("emissions", "report", "--data", str(ledger.dir), "--month", "2026-11",
                     "--json")
    kpi_names = {p["platform"]: p["name"] for p in kpi["platforms"]}
    em_names = {p["platform"]: p["name"] for p in emissions["platforms"]}
    assert kpi_names[""] == em_names[""] == "(direct sales)"
    [direct] = [p for p in emissions["platforms"] if p["platform"] == ""]
    assert direct["shipments"] == 1 and direct["allocation"]["whole"] == 1  # Z
    csv = CliRunner().invoke(app, ["emissions", "report", "--data", str(ledger.dir),
                                   "--month", "2026-11", "--csv"]).output
    assert ",(direct sales)," in csv and "no platform" not in csv


# -- 3. a breach's wording per batch (sensors rules v4) --------------------------------------

@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build_world(tmp_path / "ledger")


def _reason(w: World, batch: str, bid: str) -> str:
    faults = TraceQueries(SQLiteStore(w.c.dir)).trace(batch)["faults"]
    [reason] = [f["reason"] for f in faults if f.get("breach") == bid]
    return str(reason)


def test_trace_words_a_breach_from_each_batch_s_own_end(world: World) -> None:
    w = world
    assert decode(w.c.node.store.get_state("rules/v/sensors") or b"1") >= 4  # v5 keeps it
    lot = w.new_batch("V2")
    pair = w.new_device()
    w.c.ok(w.maker, "sensors", "bind", {"device": pair.did, "kind": "batch",
                                        "target": w.batch, "batches": [lot]})
    single = w.new_device(bind_to=w.batch)
    [bid] = w.ok(temps(ST0, *[WARM] * 9), device=pair)["breaches"]  # 40 minutes, both
    assert w.ok(temps(ST0 + 45 * SMIN, 5000), device=single)["breaches"] == [bid]
    # The first batch's excursion ended at 45 min; the lot's goes on, and so the record.
    assert "for 45 min" in _reason(w, w.batch, bid)
    assert "(ongoing)" not in _reason(w, w.batch, bid)
    assert "(ongoing)" in _reason(w, lot, bid)
    # The lot back in range at 60 min: the record ends then, the first batch's at 45.
    w.ok(temps(ST0 + 50 * SMIN, WARM, WARM, 5000), device=pair)
    assert "for 45 min," in _reason(w, w.batch, bid)
    assert "for 60 min," in _reason(w, lot, bid)


# -- 4. the dispatch planner checks shipments rules v3 before signing ------------------------

GTIN = "400638000014" + str(gtin_check_digit("400638000014"))


@dataclass
class Shop:
    dir: Path
    platform: Party
    carrier: Party
    key: Path


def _shop(tmp: Path) -> Shop:
    c = Consortium(tmp / "ledger")
    try:
        p = shop_parties(c, GTIN)
        now = wall_clock_ms()
        for oid in ("O1", "O2"):
            b = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": oid})
            c.ok(p["maker"], "products", "declare_for_sale", {"id": b["batch"]})
            c.ok(p["people"], "orders", "place", {
                "id": oid, "seller": p["maker"].did, "batch": b["batch"], "quantity": 1,
                "unit_price": 500, "freight": 100, "currency": "EUR", "earliest": now - DAY,
                "latest": now + 500 * DAY, "platform": p["shop"].did})
    finally:
        c.stop()
    key = tmp / "shop.key"
    key.write_bytes(seal(p["shop"].key, "pw", KdfParams(n=2**10)))
    return Shop(c.dir, p["shop"], p["trucks"], key)


def _request(shop: Shop, start: int, mass_kg: int = 100) -> dict[str, Any]:
    return {
        "plan": "P-1", "platform": shop.platform.did, "speed_kmh": 30, "start": start,
        "warehouse": {"node": "WH-BER", "lat": 52.52, "lon": 13.405, "open": start,
                      "close": start + 10 * H, "outbound_capacity": 10**10},
        "fleet": [{"vehicle": "V1", "transporter": shop.carrier.did, "capacity": 10**10,
                   "vehicle_class": "hgv_avg"}],
        "orders": {"O1": {"lat": 52.53, "lon": 13.38, "mass_kg": mass_kg},
                   "O2": {"lat": 52.50, "lon": 13.45, "mass_kg": mass_kg}}}


@pytest.mark.parametrize(("ahead", "mass_kg", "words"), [
    (400 * DAY, 100, "days after the transaction"),  # departs more than a year ahead
    (0, MAX_MASS_KG, "more than a shipment's"),  # two drops, each the most one may carry
], ids=["departs-beyond-a-year", "route-too-heavy"])
def test_a_plan_the_contract_would_refuse_is_not_signed(tmp_path: Path, ahead: int,
                                                        mass_kg: int, words: str) -> None:
    shop = _shop(tmp_path)
    req = tmp_path / "request.json"
    req.write_text(json.dumps(_request(shop, wall_clock_ms() + ahead + H, mass_kg)))
    txs = _rows(shop.dir, "SELECT COUNT(*) FROM txs")
    res = CliRunner().invoke(app, [
        "dispatch", "plan", "--data", str(shop.dir), "--request", str(req), "--json",
        "--submit", "--key", str(shop.key)], env={"SUPPLYLEDGER_KEY_PASSWORD": "pw",
                                                  "SUPPLYLEDGER_NODE_PASSWORD": "node"})
    assert res.exit_code == 2, res.output
    assert "the plan would be refused" in res.output and words in res.output
    assert _rows(shop.dir, "SELECT COUNT(*) FROM txs") == txs  # nothing signed
    assert _rows(shop.dir, "SELECT COUNT(*) FROM orders WHERE state = 'placed'") == [(2,)]


def test_the_pre_check_follows_the_ledger_s_rules_and_clock() -> None:
    now = T0
    doc = {"plan": "P-2", "platform": "did:sl:shop", "start": now + MAX_AHEAD_MS + H,
           "warehouse": {"node": "WH", "lat": 52.52, "lon": 13.405,
                         "open": now + MAX_AHEAD_MS + H, "close": now + MAX_AHEAD_MS + 9 * H,
                         "outbound_capacity": 1000},
           "fleet": [{"vehicle": "V1", "transporter": "did:sl:carrier", "capacity": 1000,
                      "vehicle_class": "van_diesel_avg"}],
           "orders": {"O1": {"lat": 52.53, "lon": 13.38, "mass_kg": 10}}}
    req = parse_request(doc)
    res = plan_dispatch(req, [LedgerOrder("O1", now, now + 2 * MAX_AHEAD_MS, "lot")])
    contracts = load_builtin()
    with pytest.raises(ValidationError) as info:
        checked_summary(contracts, req, res, now=now, rules=3)
    assert info.value.details["arg"] == "routes[0].departs_at"
    # Signed a day later, or on a ledger still on rules v2, the contract takes it.
    assert checked_summary(contracts, req, res, now=now + DAY, rules=3)["routes"]
    assert checked_summary(contracts, req, res, now=now, rules=2)["routes"]


@pytest.mark.parametrize(("change", "arg"), [
    ({"orders": {"O": {"lat": 52, "lon": 13, "mass_kg": MAX_MASS_KG + 1}}}, "orders.O.mass_kg"),
    ({"start": 253_402_300_800_000}, "start"),  # 10000-01-01T00:00Z
    ({"start": 2**62}, "start"),
])
def test_request_bounds_name_the_field(change: dict[str, Any], arg: str) -> None:
    base: dict[str, Any] = {"platform": "p", "warehouse": {
        "lat": 52, "lon": 13, "open": 0, "close": 1, "outbound_capacity": 1}}
    with pytest.raises(ValidationError) as info:
        parse_request({**base, **change})
    assert info.value.details["arg"] == arg and arg in info.value.message
    ok = parse_request({**base, "orders": {"O": {"lat": 52, "lon": 13,
                                                 "mass_kg": MAX_MASS_KG}}})
    assert ok.drops["O"].mass_kg == MAX_MASS_KG
