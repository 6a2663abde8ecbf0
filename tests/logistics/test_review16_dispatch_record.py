"""Review 16: record exactly the dispatch plan that was reviewed.

``dispatch plan --submit`` solves again, and a search stopped by its time limit may route
differently from the preview. ``dispatch plan --save PLAN.json`` writes the checked plan;
``dispatch record PLAN.json`` checks it again against the ledger as it is at the signing
time and records its arguments unchanged. A plan made stale by the ledger (its id used,
an order cancelled, a delivery window closed, another ledger) or edited since it was saved
is refused with its own error, and nothing is signed. On a real ledger, the wall clock
pinned to the demo's date and moved on by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from _shop import shop_parties
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.ledger.encoding import canonical
from supplyledger.ledger.keyfile import KdfParams, seal
from supplyledger.ledger.tx import make_tx, parse_tx
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings

from .kpi_ledger import Clock
from .test_dispatch_plan_cli import DROPS, GTIN, Net, cli

NOW = 1_795_161_600_000  # 2026-11-20 08:00 UTC
H = 3_600_000


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The wall clock the commands plan, check and sign by (and their node's)."""
    c = Clock(NOW)
    monkeypatch.setattr("supplyledger.node.service.wall_clock_ms", c)
    return c


def _build(tmp: Path, clock: Clock, chain: str = "shop") -> Net:
    c = Consortium(tmp / "ledger", chain=chain, clock=clock)
    p = shop_parties(c, GTIN)
    batches = {}
    for oid in DROPS:
        b = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": oid})["batch"]
        c.ok(p["maker"], "products", "declare_for_sale", {"id": b})
        latest = NOW + (2 * H if oid == "O4" else 72 * H)  # O4's window closes at 10:00
        c.ok(p["people"], "orders", "place", {
            "id": oid, "seller": p["maker"].did, "batch": b, "quantity": 1, "unit_price": 500,
            "freight": 100, "currency": "EUR", "earliest": NOW - H, "latest": latest,
            "platform": p["shop"].did})
        batches[oid] = b
    c.stop()
    return Net(c.dir, c, p["shop"], p["people"], p["maker"], p["trucks"], batches)


def _request(net: Net, path: Path, plan: str, orders: tuple[str, ...]) -> Path:
    doc = {"plan": plan, "platform": net.platform.did, "speed_kmh": 30,
           "warehouse": {"node": "WH-BER", "lat": 52.52, "lon": 13.405, "open": NOW,
                         "close": NOW + 10 * H, "outbound_capacity": 5000},
           "fleet": [{"vehicle": "V1", "transporter": net.carrier.did, "capacity": 400,
                      "vehicle_class": "van_diesel_avg"},
                     {"vehicle": "V2", "transporter": net.carrier.did, "capacity": 300,
                      "vehicle_class": "van_bev_avg"}],
           "orders": {oid: {"lat": DROPS[oid][0], "lon": DROPS[oid][1],
                            "quantity": DROPS[oid][2], "service_min": 5} for oid in orders}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _key(net: Net, tmp: Path) -> Path:
    key = tmp / "shop.key"
    key.write_bytes(seal(net.platform.key, "pw", KdfParams(n=2**10)))
    return key


def _save(net: Net, tmp: Path, plan: str, orders: tuple[str, ...]) -> tuple[Path, Any]:
    req = _request(net, tmp / f"{plan}.request.json", plan, orders)
    saved = tmp / f"{plan}.json"
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--json",
              "--save", str(saved))
    assert res.exit_code == 0, res.output
    return saved, json.loads(res.output)


def _record(net: Net, saved: Path, key: Path, *more: str) -> Any:
    return cli("dispatch", "record", str(saved), "--data", str(net.dir), "--key", str(key),
               *more)


def _txs(net: Net) -> int:
    return int(net.db("SELECT COUNT(*) FROM txs")[0][0])


def _as(net: Net, clock: Clock, who: Party, contract: str, method: str,
        args: dict[str, Any]) -> None:
    with Node(Settings(net.dir), net.c.node_key, clock=clock) as node:
        tx = make_tx(who.key, chain=node.chain, contract=contract, method=method, args=args,
                     time_ms=clock(), nonce=f"{method}-{clock()}")
        assert node.submit(tx.raw).result(30).ok


def test_the_saved_plan_is_recorded_unchanged(tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    key = _key(net, tmp_path)
    saved, shown = _save(net, tmp_path, "P-1", ("O1", "O2", "O3"))
    file = json.loads(saved.read_text())
    assert file["args"] == shown["args"] and shown["saved"] == str(saved)
    assert (file["platform"], file["chain"], file["planned_at"]) == (
        net.platform.did, "shop", NOW)
    assert file["request_sha256"] == hashlib.sha256(
        (tmp_path / "P-1.request.json").read_bytes()).hexdigest()
    assert net.db("SELECT COUNT(*) FROM orders WHERE state='placed'") == [(5,)]  # only saved

    clock.t += 20 * 60_000  # reviewed for twenty minutes
    res = _record(net, saved, key, "--json")
    assert res.exit_code == 0, res.output
    done = json.loads(res.output)
    assert done["receipt"]["ok"], done["receipt"]
    [(raw,)] = net.db("SELECT raw FROM txs WHERE id=?", (done["receipt"]["tx"],))
    assert parse_tx(raw, max_bytes=len(raw)).args == file["args"]  # as saved, not re-planned
    for route, report in zip(file["args"]["routes"], done["routes"], strict=True):
        sid = f"P-1/{route['vehicle']}"
        [(promised, distance, co2e, late)] = net.db(
            "SELECT promised, distance_m, co2e_g, late FROM shipments WHERE id=?", (sid,))
        assert promised == route["promised"] == report["returns_at"] and late == 0
        assert route["departs_at"] == report["departs_at"] < clock.t  # planned, not now
        assert (distance, co2e) == (report["distance_m"], report["co2e_g"])
        orders = [s["order"] for s in route["stops"]]
        assert net.db(f"SELECT state FROM orders WHERE id IN ({','.join('?' * len(orders))})",
                      tuple(orders)) == [("dispatched",)] * len(orders)
    assert {o for r in done["routes"] for o in r["orders"]} == {"O1", "O2", "O3"}

    txs = _txs(net)  # the same file again: its plan id is in use now
    again = _record(net, saved, key)
    assert again.exit_code == 2 and "dispatch plan P-1 already exists" in again.output
    assert _txs(net) == txs


def test_a_stale_plan_is_refused_before_signing(tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    key = _key(net, tmp_path)
    cancelled, _ = _save(net, tmp_path, "P-A", ("O1", "O2"))
    late, shown = _save(net, tmp_path, "P-B", ("O3", "O4"))
    assert "O4" in {o for r in shown["routes"] for o in r["orders"]}
    _as(net, clock, net.buyer, "orders", "cancel", {"order": "O2"})
    txs = _txs(net)
    res = _record(net, cancelled, key)
    assert res.exit_code == 2, res.output
    assert "orders O2 are no longer open orders of the platform" in res.output
    assert "[invalid_state]" in res.output and "Traceback" not in res.output

    clock.t = NOW + 3 * H  # O4's delivery window closed at 10:00
    res = _record(net, late, key)
    assert res.exit_code == 2 and "orders O4: the delivery window closed" in res.output
    assert _txs(net) == txs
    assert net.db("SELECT id FROM orders WHERE state='placed' ORDER BY id") == [
        ("O1",), ("O3",), ("O4",), ("O5",)]


def _resealed(path: Path, **change: Any) -> Path:
    """The saved plan with ``change`` and a digest made to match (a file from elsewhere)."""
    doc = json.loads(path.read_text())
    doc.update(change)
    doc.pop("digest")
    doc["digest"] = hashlib.sha256(canonical(doc)).hexdigest()
    out = path.with_name("resealed.json")
    out.write_text(json.dumps(doc))
    return out


def test_an_edited_or_foreign_plan_is_refused(tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    key = _key(net, tmp_path)
    saved, _ = _save(net, tmp_path, "P-1", ("O1", "O2", "O3"))
    txs = _txs(net)
    doc = json.loads(saved.read_text())
    doc["args"]["routes"][0]["promised"] += 3_600_000  # an hour's slack, by hand
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    res = _record(net, edited, key)
    assert res.exit_code == 2 and "was changed after it was saved" in res.output

    foreign = _resealed(saved, chain="another")
    res = _record(net, foreign, key)
    assert res.exit_code == 2 and "made on chain 'another'" in res.output
    assert "[wrong_chain]" in res.output

    older = _resealed(saved, rules=1)
    res = _record(net, older, key)
    assert res.exit_code == 2 and "the plan was made under v1: plan again" in res.output

    request = tmp_path / "P-1.request.json"  # a request is not a saved plan
    res = _record(net, request, key)
    assert res.exit_code == 2 and "is not a dispatch plan saved by" in res.output

    other = tmp_path / "buyer.key"
    other.write_bytes(seal(net.buyer.key, "pw", KdfParams(n=2**10)))
    res = _record(net, saved, other)
    assert res.exit_code == 2 and "not of the platform" in res.output
    res = cli("dispatch", "record", str(saved), "--data", str(net.dir), "--key",
              str(tmp_path / "none.key"))
    assert res.exit_code == 2 and "none.key: No such file or directory" in res.output
    assert _txs(net) == txs
    assert net.db("SELECT COUNT(*) FROM orders WHERE state='placed'") == [(5,)]


def test_save_paths_are_checked_before_solving(tmp_path: Path, clock: Clock) -> None:
    net = _build(tmp_path, clock)
    key = _key(net, tmp_path)
    req = _request(net, tmp_path / "request.json", "P-1", ("O1",))
    base = ("dispatch", "plan", "--data", str(net.dir), "--request", str(req))
    (tmp_path / "afile").write_text("x")
    for path, says in ((tmp_path / "no" / "p.json", "No such file or directory"),
                       (tmp_path / "afile" / "p.json", "Not a directory"),
                       (tmp_path, "Is a directory")):
        res = cli(*base, "--save", str(path))
        assert res.exit_code == 2 and says in res.output, res.output
        assert "Traceback" not in res.output and res.output.count("\n") == 1
    res = cli(*base, "--save", str(tmp_path / "p.json"), "--submit", "--key", str(key))
    assert res.exit_code == 2 and "give one of them" in res.output
    assert not (tmp_path / "p.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "afile", "ledger", "request.json", "shop.key"]
    # --submit still solves and records in one go.
    res = cli(*base, "--submit", "--key", str(key), "--json")
    assert res.exit_code == 0 and json.loads(res.output)["receipt"]["ok"], res.output
