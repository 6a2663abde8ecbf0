"""``supplyledger dispatch plan|show`` end to end on a real ledger (embedded node, SQLite in a
temporary directory), and record_plan atomicity checked in the database itself."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _shop import shop_parties
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.cli.main import app
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.keyfile import KdfParams, seal
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.queries import TraceQueries
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

DAY = 86_400_000
GTIN = "400638000007" + str(gtin_check_digit("400638000007"))
# Drop points around a warehouse in Berlin (decimal degrees; they never reach the ledger).
DROPS = {"O1": (52.530, 13.380, 120), "O2": (52.545, 13.430, 180), "O3": (52.500, 13.450, 150),
         "O4": (52.490, 13.360, 200), "O5": (52.515, 13.400, 90)}


@dataclass
class Net:
    dir: Path
    c: Consortium
    platform: Party
    buyer: Party
    seller: Party
    carrier: Party
    batches: dict[str, str]

    def db(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        conn = sqlite3.connect(f"file:{self.dir / DB_NAME}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


def build(tmp: Path, orders: tuple[str, ...]) -> Net:
    c = Consortium(tmp / "ledger")
    p = shop_parties(c, GTIN)
    batches = {}
    now = wall_clock_ms()
    for oid in orders:
        b = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": oid})["batch"]
        c.ok(p["maker"], "products", "declare_for_sale", {"id": b})
        c.ok(p["people"], "orders", "place", {
            "id": oid, "seller": p["maker"].did, "batch": b, "quantity": 1, "unit_price": 500,
            "freight": 100, "currency": "EUR", "earliest": now - DAY, "latest": now + 3 * DAY,
            "platform": p["shop"].did})
        batches[oid] = b
    c.stop()
    return Net(c.dir, c, p["shop"], p["people"], p["maker"], p["trucks"], batches)


def request(net: Net, path: Path) -> Path:
    now = wall_clock_ms()
    doc = {
        "plan": "P-1", "platform": net.platform.did, "speed_kmh": 30,
        "warehouse": {"node": "WH-BER", "lat": 52.52, "lon": 13.405, "open": now,
                      "close": now + 10 * 3_600_000, "outbound_capacity": 5000,
                      "storage_capacity": 4000},
        "fleet": [{"vehicle": "V1", "transporter": net.carrier.did, "capacity": 400,
                   "vehicle_class": "van_diesel_avg"},
                  {"vehicle": "V2", "transporter": net.carrier.did, "capacity": 300,
                   "vehicle_class": "van_bev_avg"}],
        "orders": {oid: {"lat": la, "lon": lo, "quantity": q, "service_min": 5}
                   for oid, (la, lo, q) in DROPS.items()},
    }
    doc["orders"]["O5"]["requires"] = ["chilled"]  # no vehicle has it
    doc["orders"]["X9"] = {"lat": 52.5, "lon": 13.4, "quantity": 1}  # not on the ledger
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def cli(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args), env={"SUPPLYLEDGER_KEY_PASSWORD": "pw",
                                                   "SUPPLYLEDGER_NODE_PASSWORD": "node"})
    return res


def test_dispatch_plan_end_to_end(tmp_path: Path) -> None:
    net = build(tmp_path, ("O1", "O2", "O3", "O4", "O5", "O6"))
    req = request(net, tmp_path / "request.json")
    key = tmp_path / "shop.key"
    key.write_bytes(seal(net.platform.key, "pw", KdfParams(n=2**10)))

    # 1. Plan only: JSON and a picture, nothing written.
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--json",
              "--svg", str(tmp_path / "plan.svg"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    routed = sorted(o for r in doc["routes"] for o in r["orders"])
    assert routed == ["O1", "O2", "O3", "O4"]
    assert {u["order"]: u["reason"] for u in doc["unserved"]} == {
        "O5": "no vehicle has the required features", "O6": "no drop point supplied"}
    assert doc["ignored"] == [{"order": "X9",
                               "reason": "not an open order of this platform on the ledger"}]
    for r in doc["routes"]:
        cap = {"V1": 400, "V2": 300}[r["vehicle"]]
        assert r["load"] <= cap and r["co2e_g"] > 0 and r["distance_m"] > 0
    assert doc["receipt"] is None
    svg = (tmp_path / "plan.svg").read_text()
    assert svg.startswith("<svg") and svg.count('class="route"') == len(doc["routes"])
    assert net.db("SELECT COUNT(*) FROM orders WHERE state='placed'") == [(6,)]

    # 2. Submit: the orders become transport orders, one shipment per route.
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--json",
              "--submit", "--key", str(key))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["receipt"]["ok"], doc["receipt"]
    for r in doc["routes"]:
        for oid in r["orders"]:
            assert net.db("SELECT state, transport_no, transporter FROM orders WHERE id=?",
                          (oid,)) == [("dispatched", f"P-1/{r['vehicle']}", net.carrier.did)]
        sid = f"P-1/{r['vehicle']}"
        [(plan, status, co2e, dist)] = net.db(
            "SELECT plan, status, co2e_g, distance_m FROM shipments WHERE id=?", (sid,))
        assert (plan, status, co2e, dist) == ("P-1", "created", r["co2e_g"], r["distance_m"])
        # All the cargo belongs to orders, so their shares add up to the shipment.
        assert net.db("SELECT SUM(co2e_g) FROM shipment_orders WHERE shipment=?",
                      (sid,)) == [(co2e,)]
    assert net.db("SELECT state FROM orders WHERE id IN ('O5', 'O6')") == [("placed",),
                                                                           ("placed",)]
    [(served, unserved)] = net.db("SELECT served, unserved FROM dispatch_plans WHERE id='P-1'")
    assert (served, unserved) == (4, 2)

    # 3. Show: schematic from the ledger alone, geographic with the request.
    res = cli("dispatch", "show", "P-1", "--data", str(net.dir), "--json", "--svg",
              str(tmp_path / "show.svg"))
    assert res.exit_code == 0, res.output
    shown = json.loads(res.output)
    assert [r["orders"] for r in shown["routes"]] == [r["orders"] for r in doc["routes"]]
    assert "schematic" in (tmp_path / "show.svg").read_text()
    res = cli("dispatch", "show", "P-1", "--data", str(net.dir), "--request", str(req),
              "--svg", str(tmp_path / "map.svg"))
    assert res.exit_code == 0, res.output
    assert "P-1" in res.output and "schematic" not in (tmp_path / "map.svg").read_text()

    # 4. The orders flow on: pickup and delivery by the route's transporter.
    oid = doc["routes"][0]["orders"][0]
    node_key = net.c.node_key
    with Node(Settings(net.dir), node_key) as node:
        for method in ("pickup", "deliver"):
            tx = make_tx(net.carrier.key, chain=node.chain, contract="orders", method=method,
                         args={"order": oid}, time_ms=wall_clock_ms(), nonce=method)
            assert node.submit(tx.raw).result(30).ok
    assert net.db("SELECT state FROM orders WHERE id=?", (oid,)) == [("delivered",)]

    # 5. Trace shows the order's CO2e; the audit rebuilds every projection identically.
    store = SQLiteStore(net.dir)
    try:
        trace = TraceQueries(store).trace(net.batches[oid])
    finally:
        store.close()
    [ship] = trace["shipments"]
    assert ship["order"] == oid and ship["order_co2e_g"] == net.db(
        "SELECT co2e_g FROM shipment_orders WHERE order_id=?", (oid,))[0][0]
    report = run_audit(net.dir, workers=0)
    assert report.ok, report.findings[:3]
    assert {"shipments", "shipment_legs", "shipment_orders", "dispatch_plans"}.isdisjoint(
        u["table"] for u in report.uncovered_tables)


def test_record_plan_is_atomic_in_the_database(tmp_path: Path) -> None:
    net = build(tmp_path, ("O1", "O2"))
    route = {"vehicle": "V1", "transporter": net.carrier.did, "vehicle_class": "van_diesel_avg",
             "stops": [{"order": "O1", "mass_kg": 10, "distance_m": 1000},
                       {"order": "O2", "mass_kg": 10, "distance_m": 1000},
                       {"order": "NOPE", "mass_kg": 10, "distance_m": 1000}],
             "return_m": 1000, "load": 30, "departs_at": 1, "promised": 2}
    args = {"id": "P-bad", "warehouse": {"node": "WH"}, "routes": [route],
            "solver_distance_m": 4000}
    with Node(Settings(net.dir), net.c.node_key) as node:
        tx = make_tx(net.platform.key, chain=node.chain, contract="shipments",
                     method="record_plan", args=args, time_ms=wall_clock_ms(), nonce="x")
        receipt = node.submit(tx.raw).result(30)
    assert not receipt.ok and receipt.error is not None
    assert receipt.error["code"] == "not_found" and "order NOPE" in receipt.error["message"]
    # Recorded with its error, and nothing else: orders untouched, no shipment, no plan.
    assert net.db("SELECT COUNT(*) FROM txs WHERE id=?", (receipt.tx_id,)) == [(1,)]
    assert net.db("SELECT id, state, transport_no FROM orders ORDER BY id") == [
        ("O1", "placed", None), ("O2", "placed", None)]
    assert net.db("SELECT COUNT(*) FROM shipments") == [(0,)]
    assert net.db("SELECT COUNT(*) FROM dispatch_plans") == [(0,)]
    assert net.db("SELECT COUNT(*) FROM state WHERE key LIKE 'shipments/%' OR key LIKE "
                  "'orders/tn/%'") == [(0,)]


def test_plan_cli_errors(tmp_path: Path) -> None:
    net = build(tmp_path, ("O1",))
    req = request(net, tmp_path / "request.json")
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--submit")
    assert res.exit_code == 2 and "--key" in res.output
    other = tmp_path / "other.key"
    other.write_bytes(seal(net.buyer.key, "pw", KdfParams(n=2**10)))
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--submit",
              "--key", str(other))
    assert res.exit_code == 2 and "not of the platform" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"platform": "x", "warehouse": {"lat": 99}}))
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(bad))
    assert res.exit_code == 2 and "warehouse" in res.output
    res = cli("dispatch", "show", "NOPE", "--data", str(net.dir))
    assert res.exit_code == 2 and "no dispatch plan NOPE" in res.output
    res = cli("dispatch", "plan", "--data", str(tmp_path / "none"), "--request", str(req))
    assert res.exit_code == 2 and "no ledger" in res.output


@pytest.mark.parametrize("doc", [
    {"warehouse": {"lat": 52, "lon": 13, "open": 5, "close": 1, "outbound_capacity": 1}},
    {"warehouse": {"lat": 52, "lon": 13, "open": "yesterday", "close": 1,
                   "outbound_capacity": 1}},
    {"warehouse": {"lat": 52, "lon": 13, "open": "2026-01-01T06:00:00", "close": 1,
                   "outbound_capacity": 1}},
    {"warehouse": {"lat": 52, "lon": 200, "open": 0, "close": 1, "outbound_capacity": 1}},
    {"warehouse": {"lat": 52, "lon": 13, "open": 0, "close": 1, "outbound_capacity": -1}},
    {"plan": "has/slash"},
    {"fleet": [{"vehicle": "V" * 24, "capacity": 1}]},
    {"fleet": [{"vehicle": "V", "capacity": 1}, {"vehicle": "V", "capacity": 1}]},
    {"orders": {"O": {"lat": 52, "lon": 13, "quantity": 1.5}}},  # mass_kg not whole
    {"orders": {"O": {"lat": 52, "lon": 13, "quantity": 1, "window": [2, 1]}}},
])
def test_request_rejections(doc: dict[str, Any]) -> None:
    from supplyledger.errors import ValidationError
    from supplyledger.logistics.dispatch_request import parse_request

    base: dict[str, Any] = {"platform": "p", "warehouse": {
        "lat": 52, "lon": 13, "open": 0, "close": 1, "outbound_capacity": 1}}
    with pytest.raises(ValidationError):
        parse_request({**base, **doc})
