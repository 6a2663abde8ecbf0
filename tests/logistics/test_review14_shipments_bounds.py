"""Review 14, shipments rules v3 on a real embedded node (SQLite; a ledger made on v3: from
v4 the refusals that need no state come before execution, tests/commerce/
test_review22_admission.py):

* a ``departs_at`` near 2**53 was taken, and the call then failed deep inside with
  ``encoding_error`` (its ETA could not be stored) instead of a ``validation_error``
  naming the argument;
* a dispatch plan's route could weigh more than any shipment (its drops' masses together),
  run any length, and return before it departs; heavy and long enough, its emissions
  overflowed the same way;
* a leg could arrive (or the shipment be delivered or closed) at a time before the
  departure, signers' clocks differing within the node's window: negative journey times
  and an empty journey interval for the cold-chain KPI.

Each refusal is recorded as a failed receipt and changes no state and no projection. A
ledger made on rules v2 keeps every recorded outcome, before and after adopting v3, and
audits clean."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from _rules import up_to
from _shop import shop_parties
from supplyledger.bench import consortium
from supplyledger.bench.consortium import Consortium, Party
from supplyledger.contracts.builtin._shipments_new import MAX_AHEAD_MS
from supplyledger.contracts.registry import load_builtin
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.encoding import canonical
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.receipts import Receipt

from .kpi_ledger import Clock

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MIN, H, DAY = 60_000, 3_600_000, 86_400_000
NEAR_2_53 = 2**53 - 10
GTIN = "400638000007" + str(gtin_check_digit("400638000007"))
WH = {"node": "WH-BER", "lat": 52_520_000, "lon": 13_405_000}
HUB = {"node": "HUB-POT", "lat": 52_390_000, "lon": 13_065_000}
LEG = {"from": WH, "to": HUB, "distance_m": 30_000, "mode": "road",
       "vehicle_class": "van_diesel_avg"}
TABLES = ("shipments", "shipment_legs", "shipment_orders", "shipment_batches",
          "dispatch_plans", "orders")


@dataclass
class World:
    c: Consortium
    clock: Clock
    shop: Party
    people: Party
    carrier: Party

    def call(self, who: Party, method: str, args: dict[str, Any]) -> Receipt:
        return self.c.call(who, "shipments", method, args)

    def ok(self, who: Party, method: str, args: dict[str, Any]) -> dict[str, Any]:
        r = self.call(who, method, args)
        assert r.ok, r.data
        result: dict[str, Any] = r.data["result"]
        return result

    def snapshot(self) -> dict[str, list[Any]]:
        """All state and every projection a shipment or plan touches."""
        out = {"state": self.c.rows("SELECT key, value FROM state ORDER BY key")}
        for t in TABLES:
            out[t] = self.c.rows(f"SELECT * FROM {t} ORDER BY 1, 2")
        return out

    def refused(self, who: Party, method: str, args: dict[str, Any], code: str
                ) -> dict[str, Any]:
        """The call is recorded with error ``code`` and changes nothing."""
        before = self.snapshot()
        r = self.call(who, method, args)
        assert not r.ok, r.data
        err: dict[str, Any] = r.data["error"]
        assert err["code"] == code, err
        assert self.c.rows("SELECT COUNT(*) FROM txs WHERE id = ?", r.tx_id) == [(1,)]
        assert self.snapshot() == before
        return err

    def shipment(self, sid: str, **extra: Any) -> dict[str, Any]:
        return self.ok(self.carrier, "create", {
            "id": sid, "transporter": self.carrier.did, "mass_kg": 500, "legs": [LEG],
            "promised": self.clock.t + 2 * H, **extra})

    def route(self, vehicle: str, *stops: tuple[str, int, int], **kw: Any) -> dict[str, Any]:
        return {"vehicle": vehicle, "transporter": self.carrier.did,
                "vehicle_class": "van_diesel_avg",
                "stops": [{"order": o, "mass_kg": m, "distance_m": d} for o, m, d in stops],
                "return_m": 12_000, "load": len(stops), "departs_at": self.clock.t + H,
                "promised": self.clock.t + 5 * H, **kw}

    def plan(self, *routes: dict[str, Any], pid: str = "P1") -> dict[str, Any]:
        return {"id": pid, "warehouse": WH, "routes": list(routes), "solver_distance_m": 1}


def build(c: Consortium, clock: Clock) -> World:
    p = shop_parties(c, GTIN)
    for oid in ("O1", "O2", "O3", "O4"):
        b = c.ok(p["maker"], "products", "create_batch", {"gtin": GTIN, "lot": oid})["batch"]
        c.ok(p["maker"], "products", "declare_for_sale", {"id": b})
        c.ok(p["people"], "orders", "place", {
            "id": oid, "seller": p["maker"].did, "batch": b, "quantity": 1,
            "unit_price": 500, "freight": 100, "currency": "EUR", "earliest": T0,
            "latest": T0 + 3 * DAY, "platform": p["shop"].did})
    return World(c, clock, p["shop"], p["people"], p["trucks"])


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A ledger made by a release whose shipments contract implements up to v3."""
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger,
                                                           contracts=up_to("shipments", 3)))
    clock = Clock(T0)
    with Consortium(tmp_path / "ledger", clock=clock) as c:
        assert c.node.store.get_state("rules/v/shipments") == canonical(3)
        yield build(c, clock)


@pytest.fixture
def v2_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A ledger made by a release whose shipments contract implements v1 and v2 (its
    genesis names shipments v2), run by this release."""
    old = {n: dataclasses.replace(k, versions=(1, 2)) if n == "shipments" else k
           for n, k in load_builtin().items()}
    monkeypatch.setattr(consortium, "init_ledger", partial(init_ledger, contracts=old))
    clock = Clock(T0)
    with Consortium(tmp_path / "ledger", clock=clock) as c:
        assert c.node.store.get_state("rules/v/shipments") == canonical(2)
        yield build(c, clock)


def _audit_clean(w: World) -> None:
    report = run_audit(w.c.dir, workers=0)
    assert report.ok, report.findings[:3]


@pytest.mark.parametrize("departs_at", [NEAR_2_53, T0 + 400 * DAY * 1000,
                                        T0 + MAX_AHEAD_MS + 1])
def test_a_departure_beyond_a_year_is_refused_naming_departs_at(
        world: World, departs_at: int) -> None:
    w = world
    err = w.refused(w.carrier, "create", {
        "id": "S1", "transporter": w.carrier.did, "mass_kg": 500, "legs": [LEG],
        "promised": T0 + 2 * H, "departs_at": departs_at}, "validation_error")
    assert err["details"]["arg"] == "departs_at" and "departs_at" in err["message"]
    # A year ahead is a plan; the ETA follows it.
    res = w.shipment("S1", departs_at=T0 + MAX_AHEAD_MS)
    assert res["eta"] == T0 + MAX_AHEAD_MS + 30 * MIN
    _audit_clean(w)


@pytest.mark.parametrize(("bad", "arg", "words"), [
    ({"departs_at": NEAR_2_53, "promised": NEAR_2_53}, "routes[1].departs_at", "366 days"),
    ({"promised": T0 + H - 1}, "routes[1].promised", "before departs_at"),
    ({"stops": [{"order": "O2", "mass_kg": 300_000_000, "distance_m": 5_000},
                {"order": "O3", "mass_kg": 300_000_000, "distance_m": 5_000}]},
     "routes[1].stops", "600000000 kg"),
    ({"stops": [{"order": "O2", "mass_kg": 10, "distance_m": 30_000_000},
                {"order": "O3", "mass_kg": 10, "distance_m": 20_000_000}]},
     "routes[1].stops", "once round the Earth"),
])
def test_a_plan_route_out_of_bounds_is_refused_naming_it(
        world: World, bad: dict[str, Any], arg: str, words: str) -> None:
    w = world
    good = w.route("V1", ("O1", 10, 4_000))
    route = {**w.route("V2", ("O2", 10, 5_000), ("O3", 10, 5_000)), **bad}
    err = w.refused(w.shop, "record_plan", w.plan(good, route), "validation_error")
    assert err["details"]["arg"] == arg and words in err["message"], err
    assert "route V2" in err["message"] or arg.endswith("departs_at")
    # Nothing was dispatched: the same plan within bounds records every route.
    res = w.ok(w.shop, "record_plan", w.plan(good, w.route("V2", ("O2", 10, 5_000),
                                                          ("O3", 10, 5_000))))
    assert res["shipments"] == ["P1/V1", "P1/V2"] and res["dispatched"] == 3
    _audit_clean(w)


def test_nothing_happens_to_a_shipment_before_its_last_recorded_time(world: World) -> None:
    w = world
    w.clock.t = T0 + 5 * MIN
    w.shipment("S1")
    # A transporter's clock 2 minutes behind the one that signed the creation.
    w.clock.t = T0 + 3 * MIN
    err = w.refused(w.carrier, "depart", {"shipment": "S1"}, "invalid_state")
    assert err["details"]["last"] == T0 + 5 * MIN and "dated" in err["message"]
    w.refused(w.carrier, "close", {"shipment": "S1"}, "invalid_state")
    w.clock.t = T0 + 10 * MIN
    w.ok(w.carrier, "depart", {"shipment": "S1"})
    w.clock.t = T0 + 8 * MIN
    for method, args in (("arrive_leg", {"shipment": "S1", "leg": 0}),
                         ("deliver", {"shipment": "S1"}), ("close", {"shipment": "S1"})):
        err = w.refused(w.carrier, method, args, "invalid_state")
        assert err["details"]["last"] == T0 + 10 * MIN, method
    w.clock.t = T0 + 40 * MIN
    w.ok(w.carrier, "arrive_leg", {"shipment": "S1", "leg": 0})
    w.clock.t = T0 + 39 * MIN
    w.refused(w.carrier, "deliver", {"shipment": "S1"}, "invalid_state")
    w.clock.t = T0 + 40 * MIN
    w.ok(w.carrier, "deliver", {"shipment": "S1"})
    assert w.c.rows("SELECT departed, arrived FROM shipments WHERE id = 'S1'") == [
        (T0 + 10 * MIN, T0 + 40 * MIN)]
    _audit_clean(w)


def test_ledgers_on_shipments_v2_keep_their_outcomes(v2_world: World) -> None:
    w = v2_world
    # As recorded before: the failure deep inside, not a refusal naming the argument.
    r = w.call(w.carrier, "create", {
        "id": "S1", "transporter": w.carrier.did, "mass_kg": 500, "legs": [LEG],
        "promised": T0 + 2 * H, "departs_at": NEAR_2_53})
    assert not r.ok and r.data["error"]["code"] == "encoding_error"
    heavy = w.route("V1", ("O1", 300_000_000, 5_000), ("O2", 300_000_000, 5_000))
    assert w.ok(w.shop, "record_plan", w.plan(heavy))["dispatched"] == 2
    w.clock.t = T0 + 10 * MIN
    w.shipment("S2")
    w.ok(w.carrier, "depart", {"shipment": "S2"})
    w.clock.t = T0 + 8 * MIN
    w.ok(w.carrier, "arrive_leg", {"shipment": "S2", "leg": 0})
    assert w.c.rows("SELECT departed, arrived FROM shipments WHERE id = 'S2'") == [
        (T0 + 10 * MIN, T0 + 8 * MIN)]
    _audit_clean(w)
    # After adopting v3 the same calls are refused, naming what is wrong.
    w.c.ok(w.c.admin, "rules", "adopt", {"contract": "shipments", "version": 3})
    err = w.refused(w.carrier, "create", {
        "id": "S3", "transporter": w.carrier.did, "mass_kg": 500, "legs": [LEG],
        "promised": T0 + 2 * H, "departs_at": NEAR_2_53}, "validation_error")
    assert err["details"]["arg"] == "departs_at"
    heavy = w.route("V9", ("O3", 300_000_000, 5_000), ("O4", 300_000_000, 5_000))
    err = w.refused(w.shop, "record_plan", w.plan(heavy, pid="P2"), "validation_error")
    assert err["details"]["arg"] == "routes[0].stops"
    _audit_clean(w)
