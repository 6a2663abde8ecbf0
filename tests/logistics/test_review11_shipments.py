"""Review 11, shipments rules v2: a fix in the depot yard no longer ends a round trip, the
ETA estimates the arrival (not the stop after it), dispatch-plan routes run on the plan's
own speed and service times, and deliver/close record when the shipment ended. Ledgers on
rules v1 re-execute as before. In-memory executor (contract logic); the CLI end to end is
in test_review11_dispatch_cli."""

from __future__ import annotations

from typing import Any

import pytest

from commerce.conftest import World
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import prepare_call
from supplyledger.errors import ValidationError
from supplyledger.logistics.dispatch_plan import plan_dispatch
from supplyledger.logistics.dispatch_request import LedgerOrder, parse_request
from supplyledger.logistics.eta import (
    EtaLeg,
    GeoPoint,
    Progress,
    drive_ms,
    eta,
    progress_from_position,
)

from .test_dispatch_plan import Setup, st

__all__ = ["st"]
H, MIN = 3_600_000, 60_000
# A round trip out of a depot in Berlin: 10 km north to A, 7.8 km east-south-east to B, and
# 11.8 km back south-west to the depot (micro-degrees).
WH = {"node": "WH", "lat": 52_520_000, "lon": 13_405_000}
A = {"node": "A", "lat": 52_610_000, "lon": 13_405_000}
B = {"node": "B", "lat": 52_600_000, "lon": 13_520_000}
# 40 m north-east of the depot gate: the yard, just after leaving.
YARD = (52_520_300, 13_405_600)


def adopt(w: World, version: int = 2) -> None:
    w.ok(w.admin, "rules", "adopt", {"contract": "shipments", "version": version})


def round_trip(st: Setup, *, v2: bool) -> dict[str, Any]:
    w = st.w
    if v2:
        adopt(w)
    w.ok(st.carrier, "shipments", "create", {
        "id": "R1", "transporter": st.carrier, "mass_kg": 300, "promised": w.time + 2 * H,
        "legs": [{"from": f, "to": t, "mode": "road", "vehicle_class": "van_diesel_avg"}
                 for f, t in ((WH, A), (A, B), (B, WH))]})
    w.ok(st.carrier, "shipments", "depart", {"shipment": "R1"})
    return dict(w.get("shipments/s/R1"))


def test_a_fix_in_the_depot_yard_does_not_end_a_round_trip(st: Setup) -> None:
    w = st.w
    s = round_trip(st, v2=True)
    full = s["eta"]
    w.time += MIN
    r = w.ok(st.carrier, "shipments", "report_position", {
        "shipment": "R1", "lat": YARD[0], "lon": YARD[1], "at": w.time})
    # One minute out, the vehicle is on the first leg (10,008 m), not 52 m from home.
    assert r["leg"] == 0 and 9_900 < r["remaining_m"] <= 10_008
    assert w.get("shipments/s/R1")["eta"] >= full
    # Half an hour later the same spot is the end of the return leg: it can be there now.
    w.time += 30 * MIN
    r = w.ok(st.carrier, "shipments", "report_position", {
        "shipment": "R1", "lat": YARD[0], "lon": YARD[1], "at": w.time})
    assert r["leg"] == 2 and r["remaining_m"] < 100


def test_rules_v1_ledgers_still_match_the_nearest_leg(st: Setup) -> None:
    w = st.w
    round_trip(st, v2=False)
    w.time += MIN
    r = w.ok(st.carrier, "shipments", "report_position", {
        "shipment": "R1", "lat": YARD[0], "lon": YARD[1], "at": w.time})
    assert r["leg"] == 2 and r["remaining_m"] < 100  # as recorded before rules v2


def test_drive_ms_bounds_the_progress_a_fix_may_claim() -> None:
    o, e, n = GeoPoint("0", "0"), GeoPoint("0", "1"), GeoPoint("1", "0")
    legs = [EtaLeg("0", o, e, distance_m=60_000), EtaLeg("1", e, n, distance_m=60_000),
            EtaLeg("2", n, o, distance_m=60_000)]
    # At twice the nominal 60 km/h: the rest of leg 0 (30 km) and 30 km of leg 1 = 30 min.
    assert drive_ms(legs, Progress(0, 30_000), Progress(1, 30_000)) == 30 * MIN
    assert drive_ms(legs, Progress(1, 30_000), Progress(0, 60_000)) == 0  # behind: none
    # 55 m north and 33 m east of the start: nearer the return leg (down the meridian).
    near_start = GeoPoint("0.0005", "0.0003")
    assert progress_from_position(legs, near_start).leg_index == 2  # unbounded: home
    reach = (Progress(0, 60_000), 10 * MIN)  # 10 min after leaving: 20 km at most
    assert progress_from_position(legs, near_start, reach=reach).leg_index == 0
    assert progress_from_position(legs, near_start, reach=(reach[0], 90 * MIN)).leg_index == 2


def test_eta_estimates_the_arrival_not_the_stop_after_it(st: Setup) -> None:
    w = st.w
    adopt(w)
    leg = {"from": WH, "to": A, "distance_m": 60_000, "mode": "road",
           "vehicle_class": "van_diesel_avg", "dwell_ms": 30 * MIN}
    # Promised for the arrival: 60 km at 60 km/h. The 30 min unloading follow it.
    res = w.ok(st.carrier, "shipments", "create", {
        "id": "S1", "transporter": st.carrier, "mass_kg": 100, "legs": [leg],
        "promised": w.time + H})
    assert res["eta"] == w.time + H and res["late"] == 0
    w.ok(st.carrier, "shipments", "depart", {"shipment": "S1"})
    w.time += H
    w.ok(st.carrier, "shipments", "arrive_leg", {"shipment": "S1", "leg": 0})
    s = w.get("shipments/s/S1")
    assert s["eta"] == s["arrived"] == w.time and s["late"] == 0
    assert not [e for e in w.events if e[0] in ("shipments.late", "shipments.back_on_time")]


def test_rules_v1_ledgers_keep_the_final_dwell_in_the_eta(st: Setup) -> None:
    w = st.w
    leg = {"from": WH, "to": A, "distance_m": 60_000, "mode": "road",
           "vehicle_class": "van_diesel_avg", "dwell_ms": 30 * MIN}
    res = w.ok(st.carrier, "shipments", "create", {
        "id": "S1", "transporter": st.carrier, "mass_kg": 100, "legs": [leg],
        "promised": w.time + H})
    assert res["eta"] == w.time + H + 30 * MIN and res["late"] == 1


def timed_plan(st: Setup) -> dict[str, Any]:
    route = st.route("V1", ("O1", 100, 10_000), ("O2", 200, 5_000), speed_m_per_h=30_000)
    route["stops"][0]["dwell_ms"] = 10 * MIN
    route["stops"][1]["dwell_ms"] = 20 * MIN
    return st.plan(routes=[route], unserved=[])


def test_a_plan_route_runs_on_the_plan_speed_and_service_times(st: Setup) -> None:
    w = st.w
    adopt(w)
    w.ok(st.platform, "shipments", "record_plan", timed_plan(st))
    s = w.get("shipments/s/P1/V1")
    assert [(leg["speed"], leg["dwell_ms"]) for leg in s["legs"]] == [
        (30_000, 10 * MIN), (30_000, 20 * MIN), (30_000, 0)]
    # 10 + 5 + 12 km at 30 km/h = 54 min, plus 10 and 20 min at the drops.
    assert s["eta"] == w.time + H + 84 * MIN
    w.ok(st.carrier, "shipments", "depart", {"shipment": "P1/V1"})
    w.ok(st.carrier, "shipments", "deliver", {"shipment": "P1/V1"})
    assert w.get("shipments/s/P1/V1")["ended"] == w.time


def test_rules_v1_refuse_a_timed_plan_and_record_no_end(st: Setup) -> None:
    w = st.w
    err = w.fail("validation_error", st.platform, "shipments", "record_plan", timed_plan(st))
    assert "rules v2" in err["message"]
    w.ok(st.platform, "shipments", "record_plan", st.plan())  # untimed, as before
    w.ok(st.platform, "shipments", "close", {"shipment": "P1/V2"})
    assert "ended" not in w.get("shipments/s/P1/V2")


T0 = 1_780_000_000_000


def berlin_request(**extra: Any) -> dict[str, Any]:
    return {"plan": "P1", "platform": "p", "speed_kmh": 30,
            "warehouse": {"node": "WH", "lat": 52.52, "lon": 13.405, "open": T0,
                          "close": T0 + 12 * H, "outbound_capacity": 1000},
            "fleet": [{"vehicle": "V1", "transporter": "t", "capacity": 1000,
                       "vehicle_class": "van_diesel_avg"}],
            "orders": {"O1": {"lat": 52.60, "lon": 13.405, "quantity": 10, "service_min": 30},
                       "O2": {"lat": 52.60, "lon": 13.50, "quantity": 10, "service_min": 30}},
            **extra}


def ledger_eta(args: dict[str, Any]) -> tuple[int, int]:
    """(ETA at departure, promised) of the plan's first route as the ledger computes them."""
    from supplyledger.contracts.builtin._shipments_model import eta_legs

    prepared, error = prepare_call(load_builtin(), "shipments", "record_plan", args)
    assert error is None, error
    sh = prepared["routes"][0]["shipment"]
    legs = eta_legs(sh["legs"])
    return eta(legs, Progress(0, sh["legs"][0]["distance_m"]), sh["departs_at"],
               final_dwell=False), sh["promised"]


def test_the_ledger_eta_of_a_planned_route_is_the_plan_s() -> None:
    req = parse_request(berlin_request())
    orders = [LedgerOrder(o, T0, T0 + 12 * H, None) for o in ("O1", "O2")]
    res = plan_dispatch(req, orders, time_limit_s=1, max_iterations=200)
    route = res.args["routes"][0]
    assert route["speed_m_per_h"] == 30_000
    assert [s["dwell_ms"] for s in route["stops"]] == [30 * MIN, 30 * MIN]
    at, promised = ledger_eta(res.args)
    # The plan returns after ~1 h 53 min (26 km at 30 km/h and two 30 min stops); the ETA
    # follows it to within the tangent-plane vs great-circle distance difference.
    assert abs(at - promised) < MIN
    # Without the timing (a ledger on rules v1) the ETA ran at 60 km/h and skipped stops.
    untimed = plan_dispatch(req, orders, time_limit_s=1, max_iterations=200, timing=False)
    assert "speed_m_per_h" not in untimed.args["routes"][0]
    at, promised = ledger_eta(untimed.args)
    assert promised - at > H


@pytest.mark.parametrize("speed", [0.5, 1500])
def test_a_request_speed_the_ledger_cannot_record_is_refused(speed: float) -> None:
    with pytest.raises(ValidationError, match="speed_kmh"):
        parse_request(berlin_request(speed_kmh=speed))
