"""The local broker's logins and ACLs: no anonymous clients, and each device only on its
own topics (it publishes only its batches, reads only its receipts). Real mosquitto, real
embedded node; the old broker took anyone on any topic."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NodeError, ValidationError
from supplyledger.ingest.broker import LocalBroker, device_user, enroll_device
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.mqtt import MqttBridge, display_url
from supplyledger.node.receipts import committed_receipt

from ._sensors_world import MIN, T0, World, broker, need_mosquitto, temps, world

__all__ = ["broker", "world"]


def _bridge(world: World, broker: LocalBroker) -> MqttBridge:
    node = world.c.node
    return MqttBridge(broker.bridge_url, lambda raw: node.submit(raw).result(30),
                      key=world.c.node_key, max_bytes=256 * 1024,
                      lookup=lambda tx: committed_receipt(node.store, tx))


def _devices(world: World, url: str) -> MqttDevices:
    return MqttDevices(url, node_key=world.c.node_key.public, resend_after=30)


def test_anonymous_and_wrong_logins_are_refused(world: World, broker: LocalBroker) -> None:
    with pytest.raises(NodeError, match="did not accept the connection: Not authorized"):
        _devices(world, broker.url).start()
    good = broker.enroll(world.device.did)
    wrong = good.replace(good.split(":")[2].split("@")[0], "not-the-password")
    with pytest.raises(NodeError, match="Not authorized") as err:
        _devices(world, wrong).start()
    assert "not-the-password" not in str(err.value)  # messages never show a password
    assert "not-the-password" not in display_url(wrong)
    conf = (broker.dir / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    # only hashes are stored, readable by the owner alone
    passwd = (broker.dir / "passwd").read_text()
    assert good.split(":")[2].split("@")[0] not in passwd and "$7$101$" in passwd
    assert stat.S_IMODE(os.stat(broker.dir / "passwd").st_mode) == 0o600


def test_a_device_cannot_publish_on_another_devices_topic(world: World,
                                                          broker: LocalBroker) -> None:
    dev = world.device
    other = world.new_device(bind_to=world.batch)
    mine = broker.enroll(dev.did)
    world.clock.t = T0 + MIN
    with _bridge(world, broker) as bridge, _devices(world, mine) as devices:
        # first, a batch of the other device on the other device's topic: dropped by the
        # broker; then its own, on its own topic (same connection, QoS 1: in order)
        lost = devices.publish(other.did, other.sign(temps(T0, 5000)))
        doc = devices.publish(dev.did, dev.sign(temps(T0, 5000))).result(20)
        assert doc["ok"] and doc["result"]["seq"] == 1
        time.sleep(0.3)
        assert bridge.counts["received"] == 1 and not lost.done()


def test_a_device_cannot_read_another_devices_receipts(world: World,
                                                       broker: LocalBroker) -> None:
    dev = world.device
    other = world.new_device(bind_to=world.batch)
    world.clock.t = T0 + MIN
    with _bridge(world, broker), \
            _devices(world, broker.enroll(dev.did)) as mine, \
            _devices(world, broker.enroll(other.did)) as theirs, \
            _devices(world, broker.gateway_url) as gateway:
        # every client subscribes to supplyledger/devices/+/receipts
        doc = mine.publish(dev.did, dev.sign(temps(T0, 5000))).result(20)
        assert doc["ok"]
        seen = gateway.unmatched.get(timeout=10)  # control: a client allowed to read it
        assert seen["tx"] == doc["tx"] and seen["device"] == dev.did
        time.sleep(0.3)
        assert theirs.unmatched.empty() and theirs.forged.empty()


def test_enrolling_and_revoking_apply_to_a_running_broker(world: World,
                                                          tmp_path: Path) -> None:
    """The CLI writes the login from its own process; the broker rereads it (SIGHUP)."""
    need_mosquitto()
    data = world.c.dir
    with LocalBroker(data / "mosquitto") as broker:
        _enroll_and_revoke(world, data, broker)


def _enroll_and_revoke(world: World, data: Path, broker: LocalBroker) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["mqtt-enroll", "--data", str(data), "--device",
                              world.device.did])
    assert out.exit_code == 0, out.output
    pw = out.output.split("password ")[1].split()[0]
    url = f"mqtt://{device_user(world.device.did)}:{pw}@127.0.0.1:{broker.port}"
    deadline = time.monotonic() + 10
    while True:  # the reload is asynchronous
        try:
            _devices(world, url).start().stop()
            break
        except NodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    out = runner.invoke(app, ["mqtt-enroll", "--data", str(data), "--device",
                              world.device.did, "--revoke"])
    assert out.exit_code == 0, out.output
    time.sleep(0.5)
    with pytest.raises(NodeError, match="Not authorized"):
        _devices(world, url).start()
    again = runner.invoke(app, ["mqtt-enroll", "--data", str(data), "--device",
                                world.device.did, "--revoke"])
    assert again.exit_code == 2 and "has no MQTT login" in again.output


def test_only_the_ledgers_devices_get_logins(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    stranger = world.new_device(register=False)  # a member, never registered as a device
    for did, data, why in ((stranger.did, world.c.dir, "not a device of this ledger"),
                           (world.device.did, tmp_path, "no ledger in")):
        out = runner.invoke(app, ["mqtt-enroll", "--data", str(data), "--device", did])
        assert out.exit_code == 2 and why in out.output, out.output
    assert not (world.c.dir / "mosquitto" / "passwd").exists()
    assert not (tmp_path / "mosquitto").exists()


def test_only_device_ids_get_logins(tmp_path: Path) -> None:
    for bad in ("did:sl:" + "0" * 39, "did:sl:" + "0" * 40 + "/x", "supplyledger-bridge",
                "did:sl:" + "A" * 40):
        with pytest.raises(ValidationError, match="not a device id"):
            enroll_device(tmp_path, bad)
    assert not (tmp_path / "passwd").exists()
