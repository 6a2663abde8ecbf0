"""Review 13, MQTT ingest fairness and order. Real mosquitto, real embedded node.

* The broker stops delivering to the bridge once ``max_inflight_messages`` batches await
  its acknowledgement, and the bridge acknowledged a device's batch only after the ones
  before it were committed: one device publishing a flood held that window, and every
  other device's batches waited behind it.
* When the node refused a batch "not now" (overloaded), the bridge went on with the same
  device's next batch: it was recorded as out of order, a final answer, and the device's
  numbering stuck behind the batch it then dropped.
"""

from __future__ import annotations

import threading
import time

import pytest

from supplyledger.errors import NodeError, Overloaded
from supplyledger.ingest.broker import LocalBroker
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.mqtt import PER_DEVICE, MqttBridge, readings_topic
from supplyledger.node.receipts import Receipt, committed_receipt

from ._sensors_world import MIN, T0, World, broker, temps, world
from .test_mqtt_receipts import _publish_raw

__all__ = ["broker", "world"]


def _bridge(world: World, broker: LocalBroker, submit: object) -> MqttBridge:
    node = world.c.node
    return MqttBridge(broker.bridge_url, submit, key=world.c.node_key,  # type: ignore[arg-type]
                      max_bytes=256 * 1024,
                      lookup=lambda tx: committed_receipt(node.store, tx))


def test_a_flooding_device_does_not_hold_up_the_others(world: World,
                                                       broker: LocalBroker) -> None:
    flood = world.new_device(bind_to=world.batch)
    world.clock.t = T0 + 2 * MIN
    first = flood.sign(temps(T0 + MIN, 5000))
    entered, gate = threading.Event(), threading.Event()

    def submit(raw: bytes) -> Receipt:
        if raw == first.raw:
            entered.set()
            gate.wait(60)  # the flooding device's first batch is slow to commit
        return world.submit(raw)

    with _bridge(world, broker, submit) as bridge, \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public,
                        resend_after=60) as devices:
        try:
            waiting = devices.publish(flood.did, first)
            assert entered.wait(20)
            # More batches than the broker lets the bridge hold unacknowledged (1000).
            _publish_raw(broker.gateway_url, readings_topic(flood.did), [b"x"] * 1100)
            other = devices.publish(world.device.did,
                                    world.device.sign(temps(T0 + MIN, 5000)))
            doc = other.result(30)  # answered while the flood's first batch still waits
            assert doc["ok"] and doc["result"]["seq"] == 1 and not waiting.done()
            # all but the few queued behind the first heard "not now", unsubmitted
            assert bridge.counts["refused"] == 1100 - (PER_DEVICE - 1)
            flooded = devices.unmatched.get(timeout=10)
            assert flooded["error"]["code"] == "overloaded" and flooded["tx"] is None
        finally:
            gate.set()
        assert waiting.result(30)["ok"]


def test_a_batch_refused_not_now_is_not_overtaken_by_the_next(world: World,
                                                              broker: LocalBroker) -> None:
    dev = world.device
    world.clock.t = T0 + 30 * MIN
    one, two = dev.sign(temps(T0, 5000)), dev.sign(temps(T0 + 10 * MIN, 5000))
    refused: list[bytes] = []
    running: list[MqttBridge] = []

    def submit(raw: bytes) -> Receipt:
        if raw == one.raw and not refused:
            # The node is overloaded just when batch 1 arrives, and free again once
            # batch 2 has reached the bridge behind it.
            deadline = time.monotonic() + 20
            while running[0].counts["received"] < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            refused.append(raw)
            raise Overloaded("the node's queue is full")
        return world.submit(raw)

    bridge = _bridge(world, broker, submit)
    running.append(bridge)
    with bridge, \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public,
                        resend_after=0.5) as devices:
        futures = [devices.publish(dev.did, one), devices.publish(dev.did, two)]
        docs = [f.result(30) for f in futures]
    assert refused == [one.raw]
    assert [d["ok"] for d in docs] == [True, True], [d.get("error") for d in docs]
    assert [d["result"]["seq"] for d in docs] == [1, 2]
    # and the device's next batch follows on
    world.clock.t = T0 + 40 * MIN
    assert world.ok(temps(T0 + 20 * MIN, 5000))["seq"] == 3


def test_a_device_backlog_longer_than_the_bridge_holds_goes_through_in_order(
        world: World, broker: LocalBroker) -> None:
    # The client keeps a device's batches beyond its window and sends them as receipts
    # come, so a backlog never meets the bridge's bound.
    dev = world.device
    world.clock.t = T0 + 200 * MIN
    batches = [dev.sign(temps(T0 + 5 * k * MIN, 5000, 5100, step=MIN))
               for k in range(3 * PER_DEVICE)]
    node = world.c.node
    with _bridge(world, broker, lambda raw: node.submit(raw).result(30)) as bridge, \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public,
                        resend_after=60) as devices:
        docs = [f.result(60) for f in [devices.publish(dev.did, b) for b in batches]]
    assert [d["ok"] for d in docs] == [True] * len(batches)
    assert [d["result"]["seq"] for d in docs] == list(range(1, len(batches) + 1))
    assert bridge.counts["refused"] == 0 and devices.resent == 0


def test_batches_held_behind_one_without_a_receipt_fail_unsent(world: World,
                                                               broker: LocalBroker) -> None:
    # No bridge: batch 1 never gets a receipt. Batch 2, held behind it by the window, must
    # not go out after it failed (it would be recorded as out of order, a final answer).
    dev = world.device
    world.clock.t = T0 + 30 * MIN
    with MqttDevices(broker.gateway_url, node_key=world.c.node_key.public,
                     resend_after=0.2, attempts=2, window=1) as devices:
        one = devices.publish(dev.did, dev.sign(temps(T0, 5000)))
        two = devices.publish(dev.did, dev.sign(temps(T0 + MIN, 5000)))
        with pytest.raises(NodeError, match="no receipt for transaction"):
            one.result(20)
        with pytest.raises(NodeError, match="was not sent: an earlier batch"):
            two.result(20)
        assert devices.resent == 1
