"""A small real ledger for the KPI and emissions-report tests: an embedded node (fixed,
movable clock), two platforms, a seller, a carrier, a buyer, a bank and a cold-chain logger,
and a handful of orders around the October/November 2026 month boundary (UTC).

Timeline (T0 = 2026-10-31 20:00Z; h = hours after T0):

=====  ========  =====================================================================
order  platform  story
=====  ========  =====================================================================
A1     A         placed 0 h, dispatched 2 h, shipment S1 (van, 50 km, 100 kg) departs 3 h,
                 its logger reads 10 degC for 40 min from 4 h (rule 2-8 degC, 30 min
                 allowed: a breach), delivered 26 h in full, confirmed, rated 5
A2     A         placed 1 h, dispatched 5 h, 8 of 10 delivered 30 h (final), rated 3
A3     A         placed 4 h (= Nov 1 00:00), window ends 20 h, never dispatched (overdue)
B1     B         placed 6 h, cancelled 6.5 h
D1     (none)    placed 7 h, dispatched 8 h, shipment S2 (2 t: road 120 km + rail 300 km,
                 D1 is 500 kg of it) departs 8.5 h, delivered 9 h
=====  ========  =====================================================================
The last block is at 31 h (Nov 2 03:00Z).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supplyledger.bench.consortium import Consortium, Party
from supplyledger.gs1 import gtin_check_digit

T0 = 1_793_476_800_000  # 2026-10-31T20:00:00Z
H = 3_600_000
MIN = 60_000
GTIN = "690123499001" + str(gtin_check_digit("690123499001"))


@dataclass
class Clock:
    t: int = T0

    def __call__(self) -> int:
        return self.t


@dataclass
class KpiLedger:
    dir: Path
    parties: dict[str, Party]
    batches: dict[str, str]

    def did(self, who: str) -> str:
        return self.parties[who].did


def build(d: Path) -> KpiLedger:
    clock = Clock()
    c = Consortium(d, chain="kpi-test", clock=clock)
    try:
        return _story(c, clock)
    finally:
        c.stop()


def cast(c: Consortium, lots: dict[str, str]) -> tuple[dict[str, Party], dict[str, str]]:
    """Two platforms, a maker selling lots (key -> lot number) of one product, a carrier, a
    funded buyer, a bank and a registered logger; the parties and key -> batch id."""
    for org, roles in (("shop-a", ["platform"]), ("shop-b", ["platform"]),
                       ("maker", ["manufacturer", "supplier"]), ("carrier", ["transporter"]),
                       ("buyers", ["customer"]), ("bank", ["settlement"]),
                       ("sensing", ["device"])):
        c.org(org, roles)
    p = {"platA": c.member("Shop A", "shop-a", ["platform"]),
         "platB": c.member("Shop B", "shop-b", ["platform"]),
         "seller": c.member("Maker", "maker", ["manufacturer", "supplier"]),
         "carrier": c.member("Carrier", "carrier", ["transporter"]),
         "buyer": c.member("Buyer", "buyers", ["customer"]),
         "bank": c.member("Bank", "bank", ["settlement"]),
         "logger": c.member("Logger 1", "sensing", ["device"])}
    c.ok(p["seller"], "products", "create_product", {"gtin": GTIN, "name": "Yoghurt"})
    batches = {}
    for key, lot in lots.items():
        b = c.ok(p["seller"], "products", "create_batch", {"gtin": GTIN, "lot": lot})
        c.ok(p["seller"], "products", "declare_for_sale", {"id": b["batch"]})
        batches[key] = b["batch"]
    c.ok(p["bank"], "payments", "deposit", {"account": p["buyer"].did, "currency": "EUR",
                                            "amount": 1_000_000})
    c.ok(c.admin, "sensors", "register_device", {"device": p["logger"].did})
    return p, batches


def _story(c: Consortium, clock: Clock) -> KpiLedger:
    p, batches = cast(c, {lot: f"L{lot}" for lot in ("A1", "A2", "A3", "B1", "D1")})

    def at(hours: float) -> None:
        clock.t = T0 + int(hours * H)

    def place(oid: str, hours: float, platform: str | None, latest_h: float = 48) -> None:
        at(hours)
        args: dict[str, Any] = {
            "id": oid, "seller": p["seller"].did, "batch": batches[oid], "quantity": 10,
            "unit_price": 100, "freight": 500, "currency": "EUR", "earliest": clock.t,
            "latest": T0 + int(latest_h * H)}
        if platform:
            args["platform"] = p[platform].did
        c.ok(p["buyer"], "orders", "place", args)

    def dispatch(oid: str, hours: float) -> None:
        at(hours)
        c.ok(p["seller"], "orders", "dispatch", {"order": oid, "transporter": p["carrier"].did,
                                                 "transport_no": f"T-{oid}"})
        c.ok(p["carrier"], "orders", "pickup", {"order": oid})

    place("A1", 0, "platA")
    place("A2", 1, "platA")
    dispatch("A1", 2)
    at(2.2)
    c.ok(p["carrier"], "shipments", "create", {
        "id": "S1", "transporter": p["carrier"].did, "mass_kg": 100,
        "legs": [{"from": {"node": "depot"}, "to": {"node": "buyer-a1"}, "distance_m": 50_000,
                  "mode": "road", "vehicle_class": "van_diesel_avg"}],
        "orders": [{"order": "A1", "mass_kg": 100}], "batches": [batches["A1"]],
        "promised": T0 + 30 * H})
    c.ok(p["seller"], "sensors", "set_rule", {
        "scope": "batch", "target": batches["A1"],
        "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * MIN}})
    c.ok(p["carrier"], "sensors", "bind", {"device": p["logger"].did, "kind": "shipment",
                                           "target": "S1", "batches": [batches["A1"]]})
    at(3)
    c.ok(p["carrier"], "shipments", "depart", {"shipment": "S1"})
    place("A3", 4, "platA", latest_h=20)
    at(5)
    # 4:00 .. 4:50 every 10 min: 5 degC, then 10 degC from 4:10 to 4:50 (40 min), 5 degC.
    temps = [5000, 10_000, 10_000, 10_000, 10_000, 5000]
    c.ok(p["logger"], "sensors", "record", {"seq": 1, "readings": [
        {"t": T0 + 4 * H + i * 10 * MIN, "temp": v} for i, v in enumerate(temps)]})
    dispatch("A2", 5)
    place("B1", 6, "platB")
    at(6.5)
    c.ok(p["buyer"], "orders", "cancel", {"order": "B1"})
    place("D1", 7, None)
    dispatch("D1", 8)
    at(8.2)
    c.ok(p["carrier"], "shipments", "create", {
        "id": "S2", "transporter": p["carrier"].did, "mass_kg": 2000,
        "legs": [{"from": {"node": "depot"}, "to": {"node": "railhead"}, "distance_m": 120_000,
                  "mode": "road", "vehicle_class": "hgv_avg"},
                 {"from": {"node": "railhead"}, "to": {"node": "terminal"},
                  "distance_m": 300_000, "mode": "rail",
                  "vehicle_class": "freight_train_uk_avg"}],
        "orders": [{"order": "D1", "mass_kg": 500}], "promised": T0 + 40 * H})
    at(8.5)
    c.ok(p["carrier"], "shipments", "depart", {"shipment": "S2"})
    at(9)
    c.ok(p["carrier"], "orders", "deliver", {"order": "D1"})
    at(26)
    c.ok(p["carrier"], "orders", "deliver", {"order": "A1"})
    c.ok(p["carrier"], "shipments", "deliver", {"shipment": "S1"})
    at(27)
    c.ok(p["buyer"], "orders", "confirm", {"order": "A1"})
    c.ok(p["buyer"], "ratings", "rate", {"order": "A1", "score": 5})
    at(30)
    c.ok(p["carrier"], "orders", "deliver", {"order": "A2", "quantity": 8, "final": True})
    at(31)
    c.ok(p["buyer"], "ratings", "rate", {"order": "A2", "score": 3})
    return KpiLedger(c.dir, p, batches)
