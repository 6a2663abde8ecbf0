"""Review 11: ``supplyledger dispatch plan --submit`` on a real ledger records each route with
the plan's speed and service times, so the shipment's ETA on the ledger is the plan's own
return time (it ran at the nominal 60 km/h without stops, however the plan was made)."""

from __future__ import annotations

import json
from pathlib import Path

from supplyledger.ledger.keyfile import KdfParams, seal

from .test_dispatch_plan_cli import build, cli, request

MIN = 60_000


def test_a_submitted_plan_s_eta_is_the_plan_s_return_time(tmp_path: Path) -> None:
    net = build(tmp_path, ("O1", "O2", "O3", "O4"))
    req = request(net, tmp_path / "request.json")  # 30 km/h, 5 min at every drop
    key = tmp_path / "shop.key"
    key.write_bytes(seal(net.platform.key, "pw", KdfParams(n=2**10)))
    res = cli("dispatch", "plan", "--data", str(net.dir), "--request", str(req), "--json",
              "--submit", "--key", str(key))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["receipt"]["ok"], doc["receipt"]
    for route in doc["args"]["routes"]:
        assert route["speed_m_per_h"] == 30_000
        assert {s["dwell_ms"] for s in route["stops"]} == {5 * MIN}
    for r in doc["routes"]:
        [(eta, promised)] = net.db("SELECT eta, promised FROM shipments WHERE id=?",
                                   (f"P-1/{r['vehicle']}",))
        # Same route, same speed, same stops: only the plane vs great-circle distances differ.
        assert abs(eta - promised) < MIN, (eta, promised)
