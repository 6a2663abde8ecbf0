"""Logistics on platform A: a dispatch plan on the ledger and a refrigerated delivery round
whose temperature logger catches one excursion (paper 000 eqs. 5-6; ISO 14083 emissions).

Fresh baking yeast keeps at 2-8 degC, so its supplier sets that cold-chain rule (30 minutes
of excursion allowed) on the product. Near the end of the demo five customers order yeast
through platform A. The platform plans the morning round off-ledger with the routing solver
(``logistics.dispatch_plan``, PyVRP) — the customers' addresses stay off the ledger, only
order ids and distances go on it — and records the plan: in one transaction every order is
dispatched to SwiftExpress and each van's route becomes a shipment with its ETA and CO2e.

The courier puts a logger (an IoT device with its own Ed25519 key) in the insulated box of
one parcel and binds it to that van's shipment. The van's cooling fails for 36 minutes on
the way (30 are allowed): the logger's signed readings breach the rule, the ledger records
a breach on that lot, trace shows it as the faulty link and the order's automatic payout is
held. The other customers confirm and rate; the warm parcel's buyer opens a dispute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from supplyledger.demo.cast import DAY, HOUR, Person, Sim
from supplyledger.demo.commerce import CCY, PLATFORM, SHOPS
from supplyledger.ledger.crypto import generate
from supplyledger.logistics.dispatch_plan import LedgerOrder, plan_dispatch
from supplyledger.logistics.dispatch_request import parse_request

__all__ = ["Logistics", "logistics_story", "round_order_id"]

MIN = 60_000
WAREHOUSE = {"node": "RBS-DC-CHENGDU", "lat": "30.6600", "lon": "104.0633"}
# Drop points (private: they stay in the request, off the ledger); buyer, lat, lon, units.
DROPS = [("Bo Chen", "30.6951", "104.0412", 4), ("Carmen Li", "30.6402", "104.1034", 2),
         ("Deng Hui", "30.7210", "104.0950", 6), ("Emma Xu", "30.6175", "104.0228", 4),
         ("Feng Lei", "30.6689", "104.1311", 2)]
COLD = {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}  # milli-degC


@dataclass
class Logistics:
    plan: str = ""
    shipments: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    device: str = ""
    breached_lot: str = ""
    breached_order: str = ""

    def notes(self) -> dict[str, Any]:
        return {"plan": self.plan, "shipments": self.shipments, "orders": self.orders,
                "device": self.device, "breached_lot": self.breached_lot,
                "breached_order": self.breached_order}


def _device(sim: Sim, admin: Any) -> Any:
    key = generate("ed25519")
    sim.ok(admin, "identity", "register_org", {"id": "swift-iot", "name": "SwiftExpress "
                                               "cold-chain loggers", "roles": ["device"]})
    sim.ok(admin, "identity", "register_member", {
        "org": "swift-iot", "public_key": key.public.b64, "name": "Cold-box logger CB-07",
        "roles": ["device"]})
    sim.ok(admin, "sensors", "register_device", {"device": key.did, "name": "CB-07",
                                                 "model": "Ed25519 BLE temperature logger"})
    return key


def _request(plan: str, platform: str, courier: str, at: int,
             parcels: dict[str, str]) -> dict[str, Any]:
    return {"plan": plan, "platform": platform, "start": at, "speed_kmh": 20,
            "warehouse": {**WAREHOUSE, "open": at, "close": at + 10 * HOUR,
                          "outbound_capacity": 100},
            "fleet": [{"vehicle": v, "transporter": courier, "capacity": 10,
                       "vehicle_class": "van_diesel_avg", "features": ["chilled"]}
                      for v in ("CV1", "CV2")],
            "orders": {oid: {"lat": lat, "lon": lon, "quantity": units, "mass_kg": 1 + units // 2,
                             "service_min": 5, "requires": ["chilled"], "batch": parcels[oid]}
                       for oid, (_, lat, lon, units) in zip(parcels, DROPS, strict=True)}}


def _round(sim: Sim, courier: Person, logger: Any, plan: str,
           routes: list[dict[str, Any]]) -> list[tuple[int, int, Callable[[], Any]]]:
    """The vans' round as (time, tie-break, action), at the solver's planned times."""
    events: list[tuple[int, int, Callable[[], Any]]] = []
    for r in routes:
        ship = f"{plan}/{r['vehicle']}"
        for oid in r["orders"]:
            events.append((r["departs_at"], 0, partial(
                sim.ok, courier, "orders", "pickup", {"order": oid})))
        events.append((r["departs_at"], 1, partial(
            sim.ok, courier, "shipments", "depart", {"shipment": ship})))
        events += [(a, 3, partial(sim.ok, courier, "orders", "deliver", {"order": oid}))
                   for oid, a in zip(r["orders"], r["arrivals"], strict=True)]
        events.append((r["returns_at"], 4, partial(
            sim.ok, courier, "shipments", "deliver", {"shipment": ship})))
    # The logger in the first van reads every 2 min once the van is on its way (from minute
    # 20 until the van is back, some 70 minutes in): 4.5 degC, but the cooling fails from
    # minute 24 to 58 (9.6 degC for 34 min > 30 min allowed). Readings after the shipment
    # is delivered would concern no shipment (sensors rules v2 refuse them).
    first, go = routes[0], routes[0]["departs_at"]
    times = range(go + 20 * MIN, first["returns_at"] + 1, 2 * MIN)
    readings = [{"t": t, "hum": 650, "temp": 9600 if 24 * MIN <= t - go <= 58 * MIN else 4500}
                for t in times]
    half = len(readings) // 2
    for seq, part in ((1, readings[:half]), (2, readings[half:])):
        events.append((part[-1]["t"] + MIN, 2, partial(
            sim.ok, logger, "sensors", "record", {"seq": seq, "readings": part})))
    return events


def round_order_id(day: int, i: int) -> str:
    """The id of the ``i``-th order of the yeast round on ``day`` (its plan is ``PA-`` and
    the same day number, its parcel lot ``P`` and the order's id)."""
    return f"Y{day // DAY % 100_000:05d}{i}"


def logistics_story(sim: Sim, p: dict[str, Person], admin: Any, day: int,
                    out: Logistics) -> Iterator[int]:
    """The yeast round on ``day`` (ms, 00:00 UTC): orders at 07:00, the plan at 08:00, the
    round from 08:30; yields the times it waits for, like the other demo stories."""
    supplier, courier_login, gtin, _, price = SHOPS["A"]
    seller, courier, platform = p[supplier], p[courier_login], p[PLATFORM["A"]]
    yield day + 6 * HOUR
    logger = _device(sim, admin)
    out.device = logger.did
    sim.ok(seller, "sensors", "set_rule", {"scope": "product", "target": gtin, "temp": COLD})
    yield day + 7 * HOUR
    parcels: dict[str, str] = {}
    placed = sim.now()
    for i, (buyer, _, _, units) in enumerate(DROPS):
        oid = round_order_id(day, i)
        sim.ok(p[buyer], "orders", "place", {
            "id": oid, "seller": seller.did, "product": gtin, "quantity": units,
            "unit_price": price, "freight": 800, "currency": CCY, "earliest": placed,
            "latest": placed + 2 * DAY, "platform": platform.did})
        parcels[oid] = sim.ok(seller, "products", "create_batch", {
            "gtin": gtin, "lot": f"P{oid}", "quantity": str(units), "uom": "H87"})["batch"]
    out.orders = list(parcels)
    yield day + 8 * HOUR
    start = day + 8 * HOUR + 30 * MIN
    req = parse_request(_request(f"PA-{out.orders[0][1:6]}", platform.did, courier.did, start,
                                 parcels))
    open_orders = [LedgerOrder(oid, placed, placed + 2 * DAY, parcels[oid]) for oid in parcels]
    result = plan_dispatch(req, open_orders, time_limit_s=1.0, max_iterations=300)
    rec = sim.ok(platform, "shipments", "record_plan", result.args)
    out.plan, out.shipments = rec["plan"], rec["shipments"]
    # The logger rides in the insulated box of the first van's last parcel.
    first = result.routes[0]
    out.breached_order = first["orders"][-1]
    out.breached_lot = parcels[out.breached_order]
    ship = f"{out.plan}/{first['vehicle']}"
    sim.ok(courier, "sensors", "bind", {"device": logger.did, "kind": "shipment",
                                        "target": ship, "batches": [out.breached_lot]})
    for t, _, act in sorted(_round(sim, courier, logger, out.plan, result.routes),
                            key=lambda e: e[:2]):
        yield t
        act()
    yield start + 5 * HOUR
    for oid, (buyer, *_) in zip(parcels, DROPS, strict=True):
        if oid == out.breached_order:
            sim.ok(p[buyer], "orders", "dispute", {"order": oid, "reason":
                                                   "yeast arrived warm; logger shows 9.6 °C"})
            continue
        sim.ok(p[buyer], "orders", "confirm", {"order": oid})
        sim.ok(p[buyer], "ratings", "rate", {"order": oid, "score": 5})
