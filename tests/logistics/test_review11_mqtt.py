"""Review 11: the MQTT bridge keeps each device's batches in order. A logger back online
publishes its backlog at once; the bridge's workers used to submit those batches in
parallel, so a later batch could reach the node first and be refused as out of order (a
committed refusal, on which the device drops the batch's readings). Real mosquitto, real
node."""

from __future__ import annotations

import time

from supplyledger.ingest.broker import LocalBroker
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.mqtt import MqttBridge
from supplyledger.node.receipts import Receipt, committed_receipt

from ._sensors_world import MIN, T0, World, broker, temps, world

__all__ = ["broker", "world"]


def test_a_device_backlog_is_committed_in_its_own_order(world: World,
                                                         broker: LocalBroker) -> None:
    dev, node = world.device, world.c.node
    world.clock.t = T0 + 60 * MIN
    batches = [dev.sign(temps(T0 + 10 * k * MIN, 5000, 5100, step=MIN)) for k in range(6)]

    def submit(raw: bytes) -> Receipt:
        if raw == batches[0].raw:
            time.sleep(0.5)  # the first batch is slow to reach the node (a busy verifier)
        return node.submit(raw).result(30)

    with MqttBridge(broker.bridge_url, submit, key=world.c.node_key, max_bytes=256 * 1024,
                    lookup=lambda tx: committed_receipt(node.store, tx)) as bridge, \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public) as devices:
        futures = [devices.publish(dev.did, b) for b in batches]
        answers = [f.result(30) for f in futures]
    assert [a["ok"] for a in answers] == [True] * 6, [a.get("error") for a in answers]
    assert [a["result"]["seq"] for a in answers] == [1, 2, 3, 4, 5, 6]
    assert [a["height"] for a in answers] == sorted(a["height"] for a in answers)
    assert bridge.counts["committed"] == 6 and bridge.counts["failed"] == 0
