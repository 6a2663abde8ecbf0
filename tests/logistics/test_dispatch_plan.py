"""shipments.record_plan: a platform's plan dispatches its orders and opens one shipment per
route, atomically; every rejection; orders still flow afterwards. In-memory executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from commerce.conftest import DAY, World

WH = {"node": "WH-1", "lat": 52_520_000, "lon": 13_405_000}


@dataclass
class Setup:
    w: World
    platform: str
    other: str
    seller: str
    buyer: str
    carrier: str
    carrier2: str
    batches: dict[str, str]

    def order(self, oid: str, *, platform: str | None = None, product: bool = False) -> None:
        w = self.w
        what = {"product": self.product} if product else {"batch": self.batches[oid]}
        w.ok(self.buyer, "orders", "place", {
            "id": oid, "seller": self.seller, **what, "quantity": 10, "unit_price": 100,
            "freight": 50, "currency": "EUR", "earliest": w.time,
            "latest": w.time + 5 * DAY, "platform": platform or self.platform})

    @property
    def product(self) -> str:
        return str(self.w.get(f"products/b/{self.batches['O1']}")["gtin"])

    def route(self, vehicle: str, *stops: tuple[str, int, int], **kw: Any) -> dict[str, Any]:
        r = {"vehicle": vehicle, "transporter": self.carrier, "vehicle_class": "van_diesel_avg",
             "stops": [{"order": o, "mass_kg": m, "distance_m": d} for o, m, d in stops],
             "return_m": 12_000, "load": sum(m for _, m, _ in stops),
             "departs_at": self.w.time + 3_600_000, "promised": self.w.time + 6 * 3_600_000}
        r.update(kw)
        return r

    def plan(self, pid: str = "P1", **kw: Any) -> dict[str, Any]:
        p = {"id": pid, "warehouse": WH,
             "routes": [self.route("V1", ("O1", 100, 10_000), ("O2", 200, 5_000)),
                        self.route("V2", ("O3", 50, 8_000), transporter=self.carrier2)],
             "unserved": [{"order": "O4", "reason": "no vehicle capacity or time left"}],
             "solver_distance_m": 40_000}
        p.update(kw)
        return p


@pytest.fixture
def st() -> Setup:
    w = World()
    s = Setup(w, w.participant("platform"), w.participant("platform"),
              w.participant("manufacturer", "supplier"), w.participant("customer"),
              w.participant("transporter"), w.participant("transporter"), {})
    bank = w.participant("settlement")
    w.ok(bank, "payments", "deposit", {"account": s.buyer, "currency": "EUR",
                                       "amount": 1_000_000})
    for i, oid in enumerate(("O1", "O2", "O3", "O4", "O5", "O6", "O7"), start=1):
        s.batches[oid] = w.batch(s.seller, 7, f"L{i}")
    for oid in ("O1", "O2", "O3", "O4"):
        s.order(oid)
    s.order("O5", platform=s.other)
    return s


def test_plan_dispatches_orders_and_opens_shipments(st: Setup) -> None:
    w = st.w
    res = w.ok(st.platform, "shipments", "record_plan", st.plan())
    assert res["shipments"] == ["P1/V1", "P1/V2"] and res["dispatched"] == 3
    for oid, tn, carrier in (("O1", "P1/V1", st.carrier), ("O2", "P1/V1", st.carrier),
                             ("O3", "P1/V2", st.carrier2)):
        o = w.order(oid)
        assert (o["state"], o["transport_no"], o["transporter"]) == ("dispatched", tn, carrier)
        row = w.tables["orders"][(oid,)]
        assert (row["state"], row["transport_no"], row["transporter"]) == (
            "dispatched", tn, carrier)
    assert w.order("O4")["state"] == "placed"
    assert w.get("orders/tn/P1/V1") == ["O1", "O2"]
    hist = [r for r in w.tables["order_events"].values() if r["event"] == "dispatched"]
    assert {r["order_id"] for r in hist} == {"O1", "O2", "O3"}
    assert all(r["signer"] == st.platform for r in hist)
    s = w.get("shipments/s/P1/V1")
    assert [(leg["frm"]["node"], leg["to"]["node"]) for leg in s["legs"]] == [
        ("WH-1", "drop:O1"), ("drop:O1", "drop:O2"), ("drop:O2", "WH-1")]
    # Drop points are private: no coordinates on the ledger for them.
    assert s["legs"][0]["to"]["lat"] is None and s["legs"][0]["frm"]["lat"] == 52_520_000
    # Van (diesel, average) 782.25 g/tkm WTW:
    #   leg 0: 300 kg x 10 km = 3 tkm -> 2,346.75 -> 2,347 g; O1:O2 = 1:2 -> 782.33 / 1,564.67
    #          -> floors 782 / 1,564, the 1 g left to O2 (larger remainder) -> 782 / 1,565
    #   leg 1: 200 kg x 5 km = 1 tkm -> 782 g, all O2;   leg 2 (empty return): 0 g
    assert [leg["co2e_g"] for leg in s["legs"]] == [2_347, 782, 0]
    assert s["co2e_g"] == 3_129 and s["plan"] == "P1" and s["platform"] == st.platform
    assert {o["order"]: o["co2e_g"] for o in s["orders"]} == {"O1": 782, "O2": 2_347}
    assert s["distance_m"] == 27_000 and s["promised"] == w.time + 6 * 3_600_000
    plan_row = w.tables["dispatch_plans"][("P1",)]
    assert (plan_row["routes"], plan_row["served"], plan_row["unserved"],
            plan_row["distance_m"], plan_row["solver_distance_m"]) == (2, 3, 1, 27_000 + 20_000,
                                                                       40_000)
    assert w.tables["shipment_orders"][("P1/V1", "O2")]["co2e_g"] == 2_347


def test_orders_still_flow_after_a_plan(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "record_plan", st.plan())
    w.ok(st.carrier, "shipments", "depart", {"shipment": "P1/V1"})
    w.ok(st.carrier, "orders", "pickup", {"order": "O1"})
    assert w.holding(st.batches["O1"])["custodian"] == st.carrier
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "P1/V1", "leg": 0})
    w.ok(st.carrier, "orders", "deliver", {"order": "O1"})
    w.ok(st.buyer, "orders", "confirm", {"order": "O1"})
    assert w.order("O1")["state"] == "completed"
    assert w.holding(st.batches["O1"])["owner"] == st.buyer
    # The other transporter cannot pick up an order routed to the first.
    w.fail("forbidden", st.carrier2, "orders", "pickup", {"order": "O2"})
    # A completed order cannot go on a new plan.
    w.fail("invalid_state", st.platform, "shipments", "record_plan", {
        "id": "P2", "warehouse": WH, "routes": [st.route("V1", ("O1", 10, 1_000))],
        "solver_distance_m": 1})


def test_product_order_ships_the_named_batch(st: Setup) -> None:
    w = st.w
    w.ok(st.seller, "products", "declare_for_sale", {"id": st.product})
    st.order("O6", product=True)
    route = st.route("V1", ("O6", 10, 1_000))
    w.fail("validation_error", st.platform, "shipments", "record_plan",
           st.plan(routes=[route], unserved=[]))
    route["stops"][0]["batch"] = st.batches["O6"]
    w.ok(st.platform, "shipments", "record_plan", st.plan(routes=[route], unserved=[]))
    assert w.order("O6")["batch"] == st.batches["O6"]
    assert w.get(f"orders/lk/{st.batches['O6']}") == "O6"


def test_public_drop_points_go_on_the_ledger(st: Setup) -> None:
    route = st.route("V1", ("O1", 10, 1_000))
    route["stops"][0].update(lat=52_500_000, lon=13_300_000)
    st.w.ok(st.platform, "shipments", "record_plan", st.plan(routes=[route], unserved=[]))
    leg = st.w.get("shipments/s/P1/V1")["legs"][0]
    assert (leg["to"]["lat"], leg["to"]["lon"]) == (52_500_000, 13_300_000)


def _failed(st: Setup, code: str, signer: str | None = None, **change: Any) -> dict[str, Any]:
    """A rejected plan writes nothing (World.fail compares the whole store)."""
    before = {o: st.w.order(o)["state"] for o in ("O1", "O2", "O3", "O4")}
    err = st.w.fail(code, signer or st.platform, "shipments", "record_plan", st.plan(**change))
    assert ("P1",) not in st.w.tables.get("dispatch_plans", {})
    assert {o: st.w.order(o)["state"] for o in before} == before
    return err


def test_rejections_name_the_order(st: Setup) -> None:
    r = st.route
    err = _failed(st, "not_found", routes=[r("V1", ("O1", 1, 1), ("NOPE", 1, 1))])
    assert "order NOPE" in err["message"] and err["details"]["order"] == "NOPE"
    err = _failed(st, "forbidden", routes=[r("V1", ("O1", 1, 1), ("O5", 1, 1))])
    assert "order O5" in err["message"] and "another platform" in err["message"]
    st.w.ok(st.seller, "orders", "dispatch", {"order": "O3", "transporter": st.carrier,
                                              "transport_no": "TN-3"})
    err = st.w.fail("invalid_state", st.platform, "shipments", "record_plan", st.plan())
    assert "order O3" in err["message"] and err["details"]["current"] == "dispatched"
    err = _failed(st, "not_found", unserved=[{"order": "GHOST", "reason": "x"}])
    assert "GHOST" in err["message"]


def test_rejections(st: Setup) -> None:
    r = st.route
    _failed(st, "role_denied", signer=st.seller)
    _failed(st, "role_denied", signer=st.buyer)
    _failed(st, "forbidden", signer=st.other)  # none of these orders came through it
    _failed(st, "not_found", routes=[r("V1", ("O1", 1, 1), transporter=st.buyer)])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 1, 1), vehicle_class="zeppelin")])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 1, 1)), r("V1", ("O2", 1, 1))])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 1, 1)), r("V2", ("O1", 1, 1))])
    _failed(st, "validation_error", unserved=[{"order": "O1", "reason": "dup"}])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 0, 1))])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 1, -1))])
    _failed(st, "validation_error", routes=[r("V1", ("O1", 1, 50_000_000))])
    _failed(st, "validation_error", routes=[r("V1")])  # a route with no stops
    _failed(st, "validation_error", routes=[r("bad/id", ("O1", 1, 1))])
    _failed(st, "validation_error", id="x" * 41)
    _failed(st, "validation_error", solver_distance_m=-1)
    st.w.ok(st.platform, "shipments", "record_plan", st.plan())
    st.w.fail("already_exists", st.platform, "shipments", "record_plan", st.plan())


def test_transport_number_already_used(st: Setup) -> None:
    st.w.ok(st.seller, "orders", "dispatch", {"order": "O4", "transporter": st.carrier,
                                              "transport_no": "P1/V2"})
    err = _failed(st, "already_exists", unserved=[])
    assert "P1/V2" in err["message"]


def test_long_route_legs_can_be_reported(st: Setup) -> None:
    # A route may have up to 200 drops (201 legs): the transporter must be able to report
    # and re-time every one of them, not only the first 64.
    w = st.w
    ids = [f"R{i}" for i in range(70)]
    for i, oid in enumerate(ids):
        st.batches[oid] = w.batch(st.seller, 7, f"LR{i}")
        st.order(oid)
    route = st.route("V1", *((oid, 10, 1_000) for oid in ids))
    w.ok(st.platform, "shipments", "record_plan", st.plan(routes=[route], unserved=[]))
    w.ok(st.carrier, "shipments", "set_traffic", {"shipment": "P1/V1", "leg": 70,
                                                  "traffic": "0.5"})
    w.ok(st.carrier, "shipments", "depart", {"shipment": "P1/V1"})
    r = w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "P1/V1", "leg": 69})
    assert r["status"] == "in_transit"
    r = w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "P1/V1", "leg": 70})
    assert r["status"] == "arrived"
