"""shipments contract: creation, ETA (paper 000 eq. 5) by hand, lateness, emissions, and
every rejection. Runs the real executor over an in-memory store (tests/commerce World)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from commerce.conftest import DAY, World
from supplyledger.contracts.builtin._shipments_new import factors
from supplyledger.contracts.builtin._shipments_track import (
    apply_position,
    project_tracked,
    shipment_key,
)
from supplyledger.contracts.projection import EventMeta, Update
from supplyledger.contracts.runtime import Ctx
from supplyledger.errors import NotFound, ValidationError
from supplyledger.gs1 import gs1_check_digit
from supplyledger.ledger.encoding import decode
from supplyledger.logistics.emissions import (
    Consignment,
    FreightLeg,
    SharedLeg,
    order_emissions,
    shipment_emissions,
)

H = 3_600_000
MIN = 60_000
GLN_B = "400000000001" + str(gs1_check_digit("400000000001"))
# Three nodes on the 10th meridian east, so a fix halfway in latitude is halfway along leg 0.
A = {"node": "DEPOT-A", "lat": 50_000_000, "lon": 10_000_000}
B = {"node": GLN_B, "lat": 51_000_000, "lon": 10_000_000}
C = {"node": "HUB-C", "lat": 51_500_000, "lon": 10_000_000}


def two_legs(**leg0: Any) -> list[dict[str, Any]]:
    """A -> B 120 km (dwell 30 min at B), B -> C 50 km at traffic factor 0.5, rigid truck."""
    return [
        {"from": A, "to": B, "distance_m": 120_000, "mode": "road",
         "vehicle_class": "rigid_7.5_17t", "dwell_ms": 30 * MIN, **leg0},
        {"from": B, "to": C, "distance_m": 50_000, "mode": "road",
         "vehicle_class": "rigid_7.5_17t", "traffic": "0.5"},
    ]


# Hand computation of eq. 5 at departure (road nominal speed 60 km/h):
#   leg 0: 120 km / (60 km/h x 1.0) = 2 h            = 7,200,000 ms
#   dwell at B: 30 min                                = 1,800,000 ms
#   leg 1:  50 km / (60 km/h x 0.5) = 1 h 40 min      = 6,000,000 ms
#   ETA = departure + 15,000,000 ms (4 h 10 min)
TRIP_MS = 15_000_000


@dataclass
class Setup:
    w: World
    platform: str
    seller: str
    buyer: str
    carrier: str
    other_platform: str
    stranger: str
    b1: str
    b2: str

    def order(self, oid: str, batch: str, platform: str | None = None) -> None:
        self.w.ok(self.buyer, "orders", "place", {
            "id": oid, "seller": self.seller, "batch": batch, "quantity": 10,
            "unit_price": 100, "freight": 50, "currency": "EUR", "earliest": self.w.time,
            "latest": self.w.time + 5 * DAY, "platform": platform or self.platform})

    def args(self, sid: str = "S1", **extra: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "id": sid, "transporter": self.carrier, "legs": two_legs(), "mass_kg": 2000,
            "orders": [{"order": "O1", "mass_kg": 500, "leg": 0},
                       {"order": "O2", "mass_kg": 1000}],
            "batches": [self.b1], "promised": self.w.time + 4 * H + 15 * MIN}
        base.update(extra)
        return base

    def shipment(self, sid: str = "S1") -> dict[str, Any]:
        s: dict[str, Any] = self.w.get(f"shipments/s/{sid}")
        return s

    def row(self, table: str, *key: Any) -> dict[str, Any]:
        return self.w.tables[table][key]


@pytest.fixture
def st() -> Setup:
    w = World()
    s = Setup(w, platform=w.participant("platform"),
              seller=w.participant("manufacturer", "supplier"),
              buyer=w.participant("customer"), carrier=w.participant("transporter"),
              other_platform=w.participant("platform"), stranger=w.participant("customer"),
              b1="", b2="")
    bank = w.participant("settlement")
    w.ok(bank, "payments", "deposit", {"account": s.buyer, "currency": "EUR",
                                       "amount": 100_000})
    s.b1, s.b2 = w.batch(s.seller, 1, "L1"), w.batch(s.seller, 1, "L2")
    s.order("O1", s.b1)
    s.order("O2", s.b2)
    return s


def events(w: World, name: str) -> list[dict[str, Any]]:
    return [e[1] for e in w.events if e[0] == name]


# -- creation, ETA and emissions ----------------------------------------------------------------

def test_create_computes_eta_and_emissions_by_hand(st: Setup) -> None:
    res = st.w.ok(st.platform, "shipments", "create", st.args())
    assert res["eta"] == st.w.time + TRIP_MS
    # Emissions, rigid 7.5-17 t at 456.08 g/tkm WTW:
    #   leg 0 carries all 2,000 kg: 2 t x 120 km = 240 tkm -> 109,459.2 -> 109,459 g
    #   O1 (500 kg) leaves at B; leg 1 carries 1,500 kg: 75 tkm -> 34,206 g
    #   shipment = 143,665 g
    #   leg 0 shared by tonne-km O1:O2:rest = 1:2:1 -> 27,364.75 / 54,729.5 / 27,364.75,
    #   largest remainders (ties by key: "" rest before "O1") -> 27,365 / 54,729 / 27,365
    #   leg 1 O2:rest = 2:1 -> 22,804 / 11,402
    #   O1 = 27,365 g, O2 = 54,729 + 22,804 = 77,533 g
    assert res["co2e_g"] == 143_665
    assert res["orders"] == {"O1": 27_365, "O2": 77_533}
    s = st.shipment()
    assert [leg["co2e_g"] for leg in s["legs"]] == [109_459, 34_206]
    assert [leg["mass_kg"] for leg in s["legs"]] == [2000, 1500]
    assert s["status"] == "created" and s["late"] == 0 and s["platform"] == st.platform
    row = st.row("shipments", "S1")
    assert (row["eta"], row["co2e_g"], row["distance_m"], row["status"], row["plan"]) == (
        st.w.time + TRIP_MS, 143_665, 170_000, "created", None)
    assert st.row("shipment_orders", "S1", "O2")["co2e_g"] == 77_533
    assert st.row("shipment_legs", "S1", 1)["tonne_km"] == "75"
    assert st.row("shipment_batches", "S1", st.b1) == {"shipment": "S1", "batch": st.b1}


def test_emissions_equal_emissions_module(st: Setup) -> None:
    res = st.w.ok(st.platform, "shipments", "create", st.args())
    table = factors()
    legs = [FreightLeg("0", "road", "rigid_7.5_17t", 2_000_000, 120_000),
            FreightLeg("1", "road", "rigid_7.5_17t", 1_500_000, 50_000)]
    assert res["co2e_g"] == shipment_emissions(legs, table).wtw_g
    shared = [SharedLeg("0", "road", "rigid_7.5_17t", 120_000, (
                  Consignment("O1", 500_000), Consignment("O2", 1_000_000),
                  Consignment("", 500_000))),
              SharedLeg("1", "road", "rigid_7.5_17t", 50_000, (
                  Consignment("O2", 1_000_000), Consignment("", 500_000)))]
    expected = order_emissions(shared, table)
    assert res["orders"] == {"O1": expected["O1"], "O2": expected["O2"]}
    assert sum(expected.values()) == res["co2e_g"]
    assert st.shipment()["factors"] == table.version


def test_distance_defaults_to_great_circle(st: Setup) -> None:
    legs = two_legs()
    del legs[0]["distance_m"]
    st.w.ok(st.carrier, "shipments", "create", st.args(legs=legs, orders=[]))
    # One degree of latitude on the 6,371,008.8 m sphere = 111,195 m.
    assert st.shipment()["legs"][0]["distance_m"] == 111_195


def test_position_progress_and_eta(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    t0 = w.time
    w.time += 10 * MIN
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    assert st.shipment()["eta"] == t0 + 10 * MIN + TRIP_MS
    w.time += H
    fix = {"shipment": "S1", "lat": 50_500_000, "lon": 10_000_000, "at": w.time - MIN}
    r = w.ok(st.carrier, "shipments", "report_position", fix)
    # Halfway along leg 0: 60 km left -> 1 h, + 30 min dwell + 1 h 40 min = 3 h 10 min.
    assert (r["leg"], r["remaining_m"]) == (0, 60_000)
    assert r["eta"] == fix["at"] + 3 * H + 10 * MIN
    assert st.row("shipments", "S1")["eta"] == r["eta"]
    assert st.row("shipments", "S1")["lat"] == 50_500_000
    tracked = events(w, "shipments.shipment_tracked")[-1]
    assert (tracked["cause"], tracked["eta"], tracked["change"]) == ("position", r["eta"], "")
    # A fix past B on the next leg moves the shipment to leg 1 (halfway: 25 km left at 0.5).
    w.time += H
    r = w.ok(st.carrier, "shipments", "report_position",
             {"shipment": "S1", "lat": 51_250_000, "lon": 10_000_000, "at": w.time})
    assert (r["leg"], r["remaining_m"]) == (1, 25_000)
    assert r["eta"] == w.time + 50 * MIN


def test_late_flag_on_and_off(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())  # ETA 4:10, promised 4:15
    assert st.shipment()["late"] == 0
    # Leg 0 at 0.8: 120 / 48 km/h = 2 h 30 min -> ETA 4:40 > 4:15: late.
    r = w.ok(st.carrier, "shipments", "set_traffic", {"shipment": "S1", "leg": 0,
                                                       "traffic": "0.8"})
    assert r["late"] == 1 and r["eta"] == w.time + 4 * H + 40 * MIN
    assert len(events(w, "shipments.late")) == 1 and st.row("shipments", "S1")["late"] == 1
    assert st.row("shipment_legs", "S1", 0)["traffic"] == "0.8"
    # Still late: no second late event.
    w.ok(st.platform, "shipments", "set_traffic", {"shipment": "S1", "leg": 0, "traffic": "0.7"})
    assert len(events(w, "shipments.late")) == 1
    r = w.ok(st.carrier, "shipments", "set_traffic", {"shipment": "S1", "leg": 0,
                                                       "traffic": "1"})
    assert r["late"] == 0 and len(events(w, "shipments.back_on_time")) == 1
    assert st.row("shipments", "S1")["late"] == 0


def test_grace_period(st: Setup) -> None:
    promised = st.w.time + 4 * H
    st.w.ok(st.carrier, "shipments", "create", st.args(promised=promised, orders=[]))
    assert st.shipment()["late"] == 1  # 4:10 > 4:00
    st.w.ok(st.carrier, "shipments", "create",
            st.args("S2", promised=promised, grace_ms=10 * MIN, orders=[]))
    assert st.shipment("S2")["late"] == 0  # 4:10 <= 4:00 + 10 min


def test_arrival_makes_lateness_final(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    t0 = w.time
    w.time = t0 + 2 * H
    r = w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    # At B: dwell 30 min + leg 1 1 h 40 min.
    assert r["eta"] == w.time + 30 * MIN + 100 * MIN and r["status"] == "in_transit"
    assert st.row("shipment_legs", "S1", 0)["arrived_at"] == w.time
    w.time = t0 + 4 * H + 30 * MIN  # 15 min after the promised 4:15
    r = w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 1})
    assert r == {"shipment": "S1", "status": "arrived", "eta": w.time, "late": 1}
    assert events(w, "shipments.late")[-1]["final"] == 1
    row = st.row("shipments", "S1")
    assert (row["arrived"], row["status"], row["late"]) == (w.time, "arrived", 1)
    # Final: traffic can no longer change it, and positions are ignored.
    w.fail("invalid_state", st.carrier, "shipments", "set_traffic",
           {"shipment": "S1", "leg": 1, "traffic": "2"})
    r = w.ok(st.carrier, "shipments", "deliver", {"shipment": "S1", "proof": "pod-1"})
    assert r["status"] == "delivered" and r["late"] == 1
    assert st.row("shipments", "S1")["status"] == "delivered"


def test_deliver_arrives_the_remaining_legs_and_close(st: Setup) -> None:
    w = st.w
    w.ok(st.carrier, "shipments", "create", st.args(orders=[]))
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.time += 3 * H
    r = w.ok(st.carrier, "shipments", "deliver", {"shipment": "S1"})
    assert (r["eta"], r["late"]) == (w.time, 0)
    assert all(leg["arrived_at"] == w.time for leg in st.shipment()["legs"])
    w.fail("invalid_state", st.carrier, "shipments", "close", {"shipment": "S1"})
    w.ok(st.carrier, "shipments", "create", st.args("S2", orders=[]))
    w.fail("forbidden", st.stranger, "shipments", "close", {"shipment": "S2"})
    assert w.ok(st.carrier, "shipments", "close", {"shipment": "S2", "reason": "cancelled"}
                )["status"] == "closed"
    assert st.row("shipments", "S2")["status"] == "closed"
    w.fail("invalid_state", st.carrier, "shipments", "depart", {"shipment": "S2"})


def test_who_may_create(st: Setup) -> None:
    w = st.w
    # The seller of every order carried may create it; the transporter itself may.
    w.ok(st.seller, "shipments", "create", st.args("S-seller"))
    assert st.shipment("S-seller")["platform"] == st.platform  # the orders' platform
    w.fail("forbidden", st.buyer, "shipments", "create", st.args("S-buyer"))
    w.fail("forbidden", st.stranger, "shipments", "create", st.args("S-x", orders=[]))
    w.fail("forbidden", st.other_platform, "shipments", "create", st.args("S-op"))
    w.fail("not_found", st.platform, "shipments", "create", st.args("S-t", transporter=st.buyer))
    # The transporter: only orders assigned to it (these are still only placed).
    w.fail("forbidden", st.carrier, "shipments", "create", st.args("S-c"))
    w.ok(st.seller, "orders", "dispatch", {"order": "O1", "transporter": st.carrier,
                                           "transport_no": "TN-1"})
    w.ok(st.carrier, "shipments", "create", st.args(
        "S-c", orders=[{"order": "O1", "mass_kg": 500}]))


@pytest.mark.parametrize(("change", "code"), [
    ({"transporter": "did:nobody"}, "not_found"),
    ({"orders": [{"order": "NOPE", "mass_kg": 5}]}, "not_found"),
    ({"batches": ["https://id.gs1.org/01/00000000000000/10/none"]}, "not_found"),
    ({"legs": two_legs(vehicle_class="spaceship")}, "validation_error"),
    ({"legs": two_legs(mode="teleport")}, "validation_error"),
    ({"legs": two_legs(distance_m=-1)}, "validation_error"),
    ({"legs": two_legs(distance_m=50_000_000)}, "validation_error"),
    ({"legs": two_legs(traffic="0")}, "validation_error"),
    ({"legs": two_legs(traffic="2.5")}, "validation_error"),
    ({"legs": two_legs(traffic="fast")}, "validation_error"),
    ({"legs": two_legs(dwell_ms=-5)}, "validation_error"),
    ({"legs": two_legs(speed_m_per_h=0)}, "validation_error"),
    ({"legs": two_legs(to={"node": "X", "lat": 1})}, "validation_error"),
    ({"legs": two_legs(to={"node": "X", "lat": 91_000_000, "lon": 0})}, "validation_error"),
    ({"legs": two_legs(**{"from": {"node": "4000000000019"}})}, "validation_error"),
    ({"legs": two_legs(to={"node": "ELSEWHERE"})}, "validation_error"),  # not contiguous
    ({"legs": [{"from": {"node": "a"}, "to": {"node": "b"}, "mode": "road",
                "vehicle_class": "rigid_7.5_17t"}]}, "validation_error"),  # no distance
    ({"legs": []}, "validation_error"),
    ({"mass_kg": 0}, "validation_error"),
    ({"mass_kg": -2000}, "validation_error"),
    ({"mass_kg": 10**12}, "validation_error"),
    ({"mass_kg": 1000}, "validation_error"),  # orders weigh 1,500 kg
    ({"orders": [{"order": "O1", "mass_kg": 5, "leg": 2}]}, "validation_error"),
    ({"orders": [{"order": "O1", "mass_kg": 5}, {"order": "O1", "mass_kg": 5}]},
     "validation_error"),
    ({"promised": -1}, "validation_error"),
    ({"grace_ms": 10**12}, "validation_error"),
])
def test_create_rejections(st: Setup, change: dict[str, Any], code: str) -> None:
    st.w.fail(code, st.platform, "shipments", "create", st.args(**change))
    assert "S1" not in {k[0] for k in st.w.tables.get("shipments", {})}


def test_platform_and_seller_list_only_lots_they_have_to_do_with(st: Setup) -> None:
    w = st.w
    other = w.participant("manufacturer", "supplier")
    foreign = w.batch(other, 2, "X1")  # another maker's lot, no order
    no_orders: dict[str, Any] = {"orders": [], "mass_kg": 100}
    # Another platform: O1's lot (O1 came through st.platform) is none of its business.
    w.fail("forbidden", st.other_platform, "shipments", "create",
           st.args(batches=[st.b1], **no_orders))
    w.fail("forbidden", st.platform, "shipments", "create", st.args(batches=[foreign]))
    w.fail("forbidden", st.seller, "shipments", "create", st.args(batches=[st.b1, foreign]))
    assert "S1" not in {k[0] for k in w.tables.get("shipments", {})}
    # A platform: the lot reserved by its order O2, even with no order listed.
    w.ok(st.platform, "shipments", "create", st.args("S-p", batches=[st.b2], **no_orders))
    # The seller: its own lots.
    w.ok(st.seller, "shipments", "create", st.args("S-s", batches=[st.b1, st.b2]))


def test_create_rejects_duplicates_and_closed_orders(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    w.fail("already_exists", st.platform, "shipments", "create", st.args())
    w.ok(st.buyer, "orders", "cancel", {"order": "O2"})
    w.fail("invalid_state", st.platform, "shipments", "create", st.args("S2"))
    w.fail("role_denied", st.stranger, "shipments", "record_plan",
           {"id": "P", "warehouse": A, "routes": [], "solver_distance_m": 0})


def test_lifecycle_rejections(st: Setup) -> None:
    w = st.w
    w.fail("not_found", st.carrier, "shipments", "depart", {"shipment": "NOPE"})
    w.ok(st.platform, "shipments", "create", st.args())
    pos = {"shipment": "S1", "lat": 50_500_000, "lon": 10_000_000, "at": w.time}
    w.fail("invalid_state", st.carrier, "shipments", "report_position", pos)  # not departed
    w.fail("invalid_state", st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    w.fail("invalid_state", st.carrier, "shipments", "deliver", {"shipment": "S1"})
    w.fail("forbidden", st.platform, "shipments", "depart", {"shipment": "S1"})
    w.fail("forbidden", st.stranger, "shipments", "set_traffic",
           {"shipment": "S1", "leg": 0, "traffic": "1"})
    w.fail("validation_error", st.carrier, "shipments", "set_traffic",
           {"shipment": "S1", "leg": 2, "traffic": "1"})
    w.fail("validation_error", st.carrier, "shipments", "set_traffic",
           {"shipment": "S1", "leg": 0, "traffic": "0.01"})
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.fail("invalid_state", st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.fail("forbidden", st.platform, "shipments", "report_position", pos)
    w.fail("validation_error", st.carrier, "shipments", "arrive_leg",
           {"shipment": "S1", "leg": 2})  # out of range
    w.fail("validation_error", st.carrier, "shipments", "arrive_leg",
           {"shipment": "S1", "leg": -1})
    w.fail("validation_error", st.carrier, "shipments", "report_position",
           {**pos, "lat": 90_000_001})
    w.fail("validation_error", st.carrier, "shipments", "report_position",
           {**pos, "at": w.time + 1})  # in the future
    w.fail("validation_error", st.carrier, "shipments", "report_position",
           {**pos, "at": w.time - 1})  # before departure
    w.time += H
    w.ok(st.carrier, "shipments", "report_position", {**pos, "at": w.time - 10 * MIN})
    # Position time going backwards (or repeating) is refused.
    w.fail("validation_error", st.carrier, "shipments", "report_position",
           {**pos, "at": w.time - 20 * MIN})
    w.fail("validation_error", st.carrier, "shipments", "report_position",
           {**pos, "at": w.time - 10 * MIN})
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    w.fail("invalid_state", st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    w.fail("invalid_state", st.carrier, "shipments", "set_traffic",
           {"shipment": "S1", "leg": 0, "traffic": "1"})  # already driven


def test_leg_arrival_reported_after_the_fixes_moved_on(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.time += 3 * H
    w.ok(st.carrier, "shipments", "report_position",
         {"shipment": "S1", "lat": 51_250_000, "lon": 10_000_000, "at": w.time})
    eta = st.shipment()["eta"]
    w.time += MIN
    # Arrival at B reported late: leg 0 is marked arrived, progress stays on leg 1.
    r = w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    s = st.shipment()
    assert (s["leg"], s["remaining_m"], s["done"], r["eta"]) == (1, 25_000, 1, eta)
    assert s["legs"][0]["arrived_at"] == w.time
    # A fix older than an arrival is refused (transporter) or ignored (devices).
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 1})
    w.fail("invalid_state", st.carrier, "shipments", "report_position",
           {"shipment": "S1", "lat": 51_400_000, "lon": 10_000_000, "at": w.time})


def test_fix_older_than_the_last_arrival(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.time += 2 * H
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    fix = {"shipment": "S1", "lat": 51_250_000, "lon": 10_000_000, "at": w.time - MIN}
    err = w.fail("validation_error", st.carrier, "shipments", "report_position", fix)
    assert err["details"]["arg"] == "at"
    ctx = _sensor_ctx(w, w.time)
    apply_position(ctx, "S1", 51_250_000, 10_000_000, w.time - MIN)
    assert ctx._writes == {}
    w.time += H
    w.ok(st.carrier, "shipments", "report_position", {**fix, "at": w.time})


def test_positions_need_coordinates(st: Setup) -> None:
    w = st.w
    legs = [{"from": {"node": "W"}, "to": {"node": "drop:O1"}, "distance_m": 5_000,
             "mode": "road", "vehicle_class": "van_diesel_avg"}]
    w.ok(st.carrier, "shipments", "create", st.args(legs=legs, orders=[], mass_kg=100))
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.fail("invalid_state", st.carrier, "shipments", "report_position",
           {"shipment": "S1", "lat": 0, "lon": 0, "at": w.time})
    # Van 5 km x 0.1 t x 782.25 g/tkm = 391.125 -> 391 g.
    assert st.shipment()["co2e_g"] == 391


# -- the interface the sensors contract uses ----------------------------------------------------

def _sensor_ctx(w: World, time: int) -> Ctx:
    return Ctx(contract="sensors", signer="did:device", roles=frozenset({"device"}), org=None,
               time=time, tx_id="ab" * 32, read=w.read)


def test_apply_position_from_another_contract(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    ctx = _sensor_ctx(w, w.time)
    apply_position(ctx, "S1", 50_500_000, 10_000_000, w.time)  # not departed: ignored
    assert ctx._writes == {} and ctx._events == []
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    at = w.time + H
    ctx = _sensor_ctx(w, at)
    apply_position(ctx, "S1", 50_500_000, 10_000_000, at)
    assert list(ctx._writes) == [f"shipments/{shipment_key('S1')}"]
    [(name, e)] = ctx._events
    assert name == "sensors.shipment_tracked"
    assert (e["leg"], e["remaining_m"], e["eta"]) == (0, 60_000, at + 3 * H + 10 * MIN)
    s = decode(ctx._writes["shipments/s/S1"])  # type: ignore[arg-type]
    assert (s["pos_at"], s["eta"]) == (at, e["eta"])
    meta = EventMeta(tx="t1", height=9, index=0, signer="did:device", time=at, args={})
    [op] = project_tracked(e, meta)
    assert isinstance(op, Update) and op.table == "shipments" and op.key == ("S1",)
    assert dict(op.values)["eta"] == e["eta"] and dict(op.values)["pos_at"] == at
    # Commit it, then older or equal fixes are ignored (no writes, no events).
    for k, v in ctx._writes.items():
        assert v is not None
        w.store[k] = v
    for t in (at, at - MIN):
        old = _sensor_ctx(w, at)
        apply_position(old, "S1", 50_900_000, 10_000_000, t)
        assert old._writes == {} and old._events == []


def test_apply_position_flags_lateness_in_the_tracked_event(st: Setup) -> None:
    w = st.w
    w.ok(st.platform, "shipments", "create", st.args())
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    # Three hours in and only a quarter of leg 0 done: 90 km + dwell + leg 1 -> late.
    at = w.time + 3 * H
    ctx = _sensor_ctx(w, at)
    apply_position(ctx, "S1", 50_250_000, 10_000_000, at)
    [(_, e)] = ctx._events  # no separate "sensors.late" event
    assert (e["late"], e["change"]) == (1, "late")


def test_apply_position_rejections(st: Setup) -> None:
    w = st.w
    with pytest.raises(NotFound):
        apply_position(_sensor_ctx(w, w.time), "NOPE", 0, 0, w.time)
    with pytest.raises(ValidationError):
        apply_position(_sensor_ctx(w, w.time), "S1", 0, 180_000_001, w.time)


def test_fix_after_a_leg_arrival_is_not_matched_to_the_arrived_leg(st: Setup) -> None:
    # Out and back (a dispatch route: warehouse -> drop -> warehouse): both legs lie on the
    # same line, so a fix on the way back is as close to leg 0 as to leg 1. Once leg 0 has
    # been reported arrived it must not be matched again (that would add a whole leg).
    w = st.w
    back = [{"from": A, "to": B, "distance_m": 120_000, "mode": "road",
             "vehicle_class": "rigid_7.5_17t"},
            {"from": B, "to": A, "distance_m": 120_000, "mode": "road",
             "vehicle_class": "rigid_7.5_17t"}]
    w.ok(st.carrier, "shipments", "create", st.args(legs=back, orders=[]))
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.time += 2 * H
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    w.time += H
    r = w.ok(st.carrier, "shipments", "report_position",
             {"shipment": "S1", "lat": 50_500_000, "lon": 10_000_000, "at": w.time})
    assert (r["leg"], r["remaining_m"]) == (1, 60_000)
    assert r["eta"] == w.time + H
