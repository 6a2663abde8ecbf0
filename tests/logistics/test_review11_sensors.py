"""Review 11, sensors rules v2 on a real embedded node: a logger left bound to a delivered
shipment no longer marks (and holds the payouts of) goods that have left the carrier, while
readings from the journey uploaded late are still taken; the audit agrees."""

from __future__ import annotations

from supplyledger.ingest.device import DeviceClient
from supplyledger.ledger.encoding import decode
from supplyledger.node.audit import run_audit

from ._sensors_world import MIN, T0, World, temps, world

__all__ = ["world"]
H = 60 * MIN
A = {"node": "DEPOT-A", "lat": 50_000_000, "lon": 10_000_000}
B = {"node": "HUB-B", "lat": 51_080_000, "lon": 10_000_000}


def delivered_with_logger(w: World) -> DeviceClient:
    """Shipment S1 carries the batch A -> B with a logger bound; delivered at T0 + 2 h."""
    c = w.c
    c.ok(w.carrier, "shipments", "create", {
        "id": "S1", "transporter": w.carrier.did, "mass_kg": 800, "batches": [w.batch],
        "legs": [{"from": A, "to": B, "distance_m": 120_000, "mode": "road",
                  "vehicle_class": "rigid_7.5_17t"}], "promised": T0 + 3 * H})
    dev = w.new_device("haul")
    c.ok(w.maker, "sensors", "bind", {"device": dev.did, "kind": "shipment", "target": "S1"})
    w.clock.t = T0 + MIN
    c.ok(w.carrier, "shipments", "depart", {"shipment": "S1"})
    w.clock.t = T0 + 2 * H
    c.ok(w.carrier, "shipments", "deliver", {"shipment": "S1"})
    return dev


def test_a_logger_on_a_delivered_shipment_no_longer_marks_its_goods(world: World) -> None:
    dev = delivered_with_logger(world)
    s = decode(world.c.node.store.get_state("shipments/s/S1"))
    assert s["status"] == "delivered" and s["ended"] == T0 + 2 * H
    # The journey's readings, uploaded after the delivery: taken (in range, no breach).
    r = world.send(temps(T0 + 10 * MIN, 5000, 5200, 5100, step=30 * MIN), device=dev)
    assert r.ok and r.result["breaches"] == []
    # Two hours in the buyer's warm store: not the carrier's shipment any more.
    r = world.send(temps(T0 + 2 * H + 10 * MIN, 12_000, 13_000, 14_000, step=60 * MIN),
                   device=dev)
    assert not r.ok and r.error["code"] == "invalid_state"
    assert "after shipment S1 was delivered" in r.error["message"]
    assert world.breaches() == []
    d = decode(world.c.node.store.get_state(f"sensors/d/{dev.did}"))
    assert d["seq"] == 1  # the refused batch changed nothing: the next is seq 2 again
    # A batch that ends at the hand-over is the journey's, and is still taken.
    r = world.send([{"t": T0 + 2 * H, "temp": 6000}], device=dev, seq=2)
    assert r.ok
    assert run_audit(world.c.dir).ok


def test_a_closed_shipment_stops_its_logger_too(world: World) -> None:
    c = world.c
    c.ok(world.carrier, "shipments", "create", {
        "id": "S2", "transporter": world.carrier.did, "mass_kg": 800, "batches": [world.batch],
        "legs": [{"from": A, "to": B, "distance_m": 120_000, "mode": "road",
                  "vehicle_class": "rigid_7.5_17t"}], "promised": T0 + 3 * H})
    dev = world.new_device("haul")
    c.ok(world.maker, "sensors", "bind", {"device": dev.did, "kind": "shipment", "target": "S2"})
    world.clock.t = T0 + 30 * MIN
    c.ok(world.carrier, "shipments", "close", {"shipment": "S2", "reason": "cancelled"})
    r = world.send(temps(T0 + H, 15_000, 15_000, step=60 * MIN), device=dev)
    assert not r.ok and "was closed at" in r.error["message"]
    assert world.breaches() == []
