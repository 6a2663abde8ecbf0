"""Defects found in an adversarial review of device ingest, each pinned by a test: readings
dated before the device's binding, an open breach orphaned when its rule stops applying,
and a shipment binding that silently watched only part of the shipment's batches; and the
bridge's answer to oversized or unreadable payloads (refused, nothing written, others go on)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from supplyledger.ingest.broker import LocalBroker
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.mqtt import MqttBridge
from supplyledger.ledger.encoding import decode
from supplyledger.node.receipts import Receipt

from ._sensors_world import MIN, T0, World, need_mosquitto, temps, world
from .test_sensors_consequences import DAY, _order_to_delivery

__all__ = ["world"]


def _state(w: World, key: str) -> Any:
    raw = w.c.node.store.get_state(f"sensors/{key}")
    return decode(raw) if raw is not None else None


def test_readings_from_before_the_binding_are_refused(world: World) -> None:
    # A logger moved to a fresh lot must not pin on it what it measured before (on another
    # lot, or nowhere): readings buffered from before the bind are refused, nothing written.
    lot = world.new_batch("V2")
    world.clock.t = T0 + 120 * MIN
    dev = world.new_device(bind_to=lot)
    err = world.error(temps(T0 + 10 * MIN, *[12000] * 12), device=dev)
    assert err["code"] == "invalid_state" and "before the device was bound" in err["message"]
    assert _state(world, f"d/{dev.did}")["seq"] == 0
    assert world.breaches(lot) == [] and _state(world, f"x/{lot}") is None
    # readings from the bind on are taken (the refused batch consumed no sequence number)
    assert world.ok(temps(T0 + 120 * MIN, 5000), device=dev, seq=1)["seq"] == 1


def test_an_open_breach_ends_when_its_rule_no_longer_applies(world: World) -> None:
    # 45 min at 9 °C: the product rule's breach is open. The owner then gives the lot its own
    # rule; the open breach must not be orphaned (open for ever, holding every payout, and
    # out of reach of unbind): it ends at its last out-of-range reading.
    [bid] = world.ok(temps(T0, *[9000] * 10))["breaches"]
    assert _state(world, f"x/{world.batch}")["open"] == [bid]
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "batch", "target": world.batch, "hum": {"min": 300, "max": 700}})
    world.ok([{"t": T0 + 60 * MIN, "temp": 5000, "hum": 500}])
    [row] = world.breaches()
    assert row["ended"] == T0 + 45 * MIN
    marks = _state(world, f"x/{world.batch}")
    # for holding payouts it ended when it was closed (the batch's signing time)
    assert marks["open"] == [] and marks["last_end"] == [T0 + 60 * MIN + 1000, bid]
    assert _state(world, f"d/{world.device.did}")["ex"] == {}


def test_a_rule_losing_its_temperature_check_ends_the_open_temperature_breach(
        world: World) -> None:
    [bid] = world.ok(temps(T0, *[9000] * 10))["breaches"]
    world.c.ok(world.maker, "sensors", "set_rule", {
        "scope": "product", "target": world.gtin, "hum": {"min": 300, "max": 700}})
    world.ok([{"t": T0 + 60 * MIN, "temp": 9000, "hum": 500}])
    [row] = world.breaches()
    assert row["id"] == bid and row["ended"] == T0 + 45 * MIN
    assert _state(world, f"x/{world.batch}")["open"] == []


def test_a_shipment_with_more_batches_than_a_device_watches_is_refused(world: World) -> None:
    # Binding used to watch the first 64 and drop the rest silently: their breaches were never
    # marked and their payouts never held. Now the binder must say which batches it watches.
    lots = [world.batch] + [world.new_batch(f"L{i}") for i in range(64)]
    leg = {"from": {"node": "A", "lat": 50_000_000, "lon": 10_000_000},
           "to": {"node": "B", "lat": 51_000_000, "lon": 10_000_000},
           "distance_m": 111_000, "mode": "road", "vehicle_class": "rigid_7.5_17t"}
    world.c.ok(world.carrier, "shipments", "create", {
        "id": "S65", "transporter": world.carrier.did, "mass_kg": 800, "legs": [leg],
        "batches": lots, "promised": T0 + 3 * 3_600_000})
    dev = world.new_device()
    err = world.refused(world.maker, "sensors", "bind", {
        "device": dev.did, "kind": "shipment", "target": "S65"})
    assert err.code == "validation_error" and "65 batches" in err.message
    assert _state(world, f"d/{dev.did}")["bind"] is None
    bound = world.c.ok(world.maker, "sensors", "bind", {
        "device": dev.did, "kind": "shipment", "target": "S65", "batches": lots[:64]})
    assert len(bound["batches"]) == 64


def test_bridge_refuses_oversized_and_unreadable_payloads_and_serves_others(
        world: World, tmp_path: Path) -> None:
    need_mosquitto()
    with LocalBroker(tmp_path / "mosquitto") as broker, \
            MqttBridge(broker.bridge_url, lambda raw: world.submit(raw), key=world.c.node_key,
                       max_bytes=64 * 1024), \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public) as devices:
        height = world.c.node.height
        devices.publish(world.device.did, b"{" * (64 * 1024 + 1))
        big = devices.unmatched.get(timeout=20)
        assert big["tx"] is None and big["error"]["code"] == "payload_too_large"
        devices.publish(world.device.did, b"\xff\xfe\x00")
        bad = devices.unmatched.get(timeout=20)
        assert bad["tx"] is None and bad["ok"] is False
        assert world.c.node.height == height  # nothing written for either
        other = world.new_device(bind_to=world.batch)
        world.clock.t = T0 + 2 * MIN
        doc = devices.publish(other.did, other.sign(temps(T0 + MIN, 5000))).result(20)
        assert doc["ok"] and doc["result"]["seq"] == 1


def test_unbinding_during_an_open_breach_does_not_release_a_held_payout(
        world: World) -> None:
    # The breach is open when the order is placed; the seller (owner of the lot) unbinds the
    # logger, which ends the breach at its last hot reading, before the order. That must not
    # turn it into a breach "over before the order": the payout stays held.
    [bid] = world.ok(temps(T0, *[9000] * 10))["breaches"]
    world.clock.t = T0 + 50 * MIN
    _order_to_delivery(world, "o-1", world.batch)
    world.c.ok(world.maker, "sensors", "unbind", {"device": world.device.did})
    [row] = world.breaches()
    assert row["ended"] == T0 + 45 * MIN  # the breach record keeps what was measured
    world.c.ok(world.carrier, "orders", "deliver", {"order": "o-1"})
    world.clock.t += 8 * DAY
    err = world.refused(world.carrier, "orders", "release", {"order": "o-1"})
    assert err.code == "invalid_state" and getattr(err, "breach", None) == bid


def test_an_oversized_payload_is_answered_while_every_worker_awaits_a_commit(
        world: World, tmp_path: Path) -> None:
    # One worker, held inside a submission (a slow commit): an oversized payload is refused
    # at once, not queued behind it (nor kept in memory meanwhile).
    need_mosquitto()
    gate = threading.Event()

    def slow(raw: bytes) -> Receipt:
        gate.wait(30)
        return world.submit(raw)

    world.clock.t = T0 + MIN
    with LocalBroker(tmp_path / "mosquitto") as broker, \
            MqttBridge(broker.bridge_url, slow, key=world.c.node_key, max_bytes=64 * 1024,
                       workers=1), \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public) as devices:
        first = devices.publish(world.device.did, world.device.sign(temps(T0, 5000)))
        try:
            devices.publish(world.device.did, b"x" * (64 * 1024 + 1))
            big = devices.unmatched.get(timeout=10)
            assert big["error"]["code"] == "payload_too_large" and not first.done()
        finally:
            gate.set()
        assert first.result(20)["ok"]
