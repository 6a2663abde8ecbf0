"""Work left open at the end of the demo: yeast orders on platform A waiting for a plan.

On the demo's last full day six customers order yeast through platform A; their money
waits in escrow and Riverside Baking Supplies makes each parcel's lot, but nobody has
dispatched them yet (state ``placed``). So the fleet planner has something to plan on the
Dispatch page, and the seller's inbox has orders to act on. The drop points are private and
stay off the ledger: the demo writes them, with the warehouse and two chilled vans, as a
ready ``dispatch-request.json`` in its data directory — the file ``supplyledger dispatch
plan --request`` reads and the Dispatch page uploads — for the round that starts at the
first full hour after the demo's "now".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from supplyledger.demo.cast import DAY, HOUR, Person, Sim
from supplyledger.demo.commerce import CCY, PLATFORM, SHOPS
from supplyledger.demo.logistics import WAREHOUSE

__all__ = ["REQUEST_FILE", "OpenOrders", "open_orders_story", "request_doc", "write_request"]

REQUEST_FILE = "dispatch-request.json"
# Drop points around the Chengdu warehouse (private: they stay in the request file), one per
# customer: buyer, lat, lon, units (17 in all: two 12-unit vans carry them).
DROPS = [("customer", "30.6571", "104.0817", 3), ("Gao Yan", "30.6858", "104.0291", 2),
         ("Hu Jun", "30.6312", "104.0695", 4), ("Iris Ma", "30.7034", "104.0713", 2),
         ("Bo Chen", "30.6480", "104.1190", 3), ("Carmen Li", "30.6733", "103.9985", 3)]


@dataclass
class OpenOrders:
    """What the story left open: order id -> the batch (lot) the seller made for it."""

    parcels: dict[str, str] = field(default_factory=dict)
    request: str = ""  # the written request file's path

    def notes(self) -> dict[str, Any]:
        return {"orders": list(self.parcels), "request": self.request}


def open_orders_story(sim: Sim, p: dict[str, Person], day: int,
                      out: OpenOrders) -> Iterator[int]:
    """Orders through the day (``day``: ms, 00:00 UTC) from 10:00, an hour apart; the seller
    makes each parcel's lot as it comes in. Nothing dispatches them."""
    supplier, _, gtin, _, price = SHOPS["A"]
    seller, platform = p[supplier], p[PLATFORM["A"]]
    for i, (buyer, _, _, units) in enumerate(DROPS):
        yield day + (10 + i) * HOUR
        oid = f"OA{day // DAY % 100_000:05d}{i}"
        placed = sim.now()
        sim.ok(p[buyer], "orders", "place", {
            "id": oid, "seller": seller.did, "product": gtin, "quantity": units,
            "unit_price": price, "freight": 800, "currency": CCY, "earliest": placed,
            "latest": placed + 3 * DAY, "platform": platform.did})
        out.parcels[oid] = sim.ok(seller, "products", "create_batch", {
            "gtin": gtin, "lot": f"P{oid}", "quantity": str(units), "uom": "H87"})["batch"]


def request_doc(p: dict[str, Person], out: OpenOrders, start: int) -> dict[str, Any]:
    """The dispatch request for the open orders: the round from ``start`` (ms), the
    warehouse open ten hours, SwiftExpress's two chilled vans (yeast keeps at 2-8 degC)."""
    courier = p[SHOPS["A"][1]]
    stamp = datetime.fromtimestamp(start / 1000, UTC).strftime("%Y%m%d-%H%M")
    return {"plan": f"PA-{stamp}", "platform": p[PLATFORM["A"]].did, "start": start,
            "speed_kmh": 20,
            "warehouse": {**WAREHOUSE, "open": start, "close": start + 10 * HOUR,
                          "outbound_capacity": 100},
            "fleet": [{"vehicle": v, "transporter": courier.did, "capacity": 12,
                       "vehicle_class": "van_diesel_avg", "features": ["chilled"]}
                      for v in ("CV1", "CV2")],
            "orders": {oid: {"lat": lat, "lon": lon, "quantity": units,
                             "mass_kg": 1 + units // 2, "service_min": 5,
                             "requires": ["chilled"], "batch": batch}
                       for (oid, batch), (_, lat, lon, units)
                       in zip(out.parcels.items(), DROPS, strict=False)}}


def write_request(data_dir: Path, p: dict[str, Person], out: OpenOrders, start: int) -> Path:
    """Write the request next to the ledger (``{}`` orders if the story placed none)."""
    path = Path(data_dir) / REQUEST_FILE
    path.write_text(json.dumps(request_doc(p, out, start), indent=2) + "\n", encoding="utf-8")
    out.request = str(path)
    return path
