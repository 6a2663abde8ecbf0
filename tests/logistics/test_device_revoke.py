"""A device revoked on the ledger loses its broker login at once: real mosquitto (Debian),
real paho sessions, real embedded node; the revocation is a signed identity transaction."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NodeError
from supplyledger.ingest.broker import device_user, device_users, enroll_device
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.login_watch import LoginWatch
from supplyledger.ingest.mqtt import mqtt_ingest
from supplyledger.ledger.crypto import generate
from supplyledger.node.receipts import Receipt, committed_receipt

from ._sensors_world import MIN, T0, World, need_mosquitto, temps, world

__all__ = ["world"]


class Session:
    """A device's own paho connection, recording what happens to it."""

    @classmethod
    def once_enrolled(cls, port: int, did: str, password: str) -> Session:
        """Connect, retrying while the broker's reload (asynchronous) is under way."""
        deadline = time.monotonic() + 10
        while True:
            s = cls(port, did, password)
            if s.connected.wait(2) or time.monotonic() > deadline:
                assert s.connected.is_set(), s.events
                return s
            s.close()

    def __init__(self, port: int, did: str, password: str) -> None:
        self.events: list[str] = []
        self.connected = threading.Event()
        self.dropped = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"s-{did[-8:]}")
        self.client.username_pw_set(device_user(did), password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.events.append(f"connect {reason}")
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.events.append(f"disconnect {reason}")
        self.dropped.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _submit(w: World) -> Callable[[bytes], Receipt]:
    return lambda raw: w.c.node.submit(raw).result(30)


def _password(url: str) -> str:
    return url.split(":")[2].split("@")[0]


def test_revoking_a_device_on_the_ledger_ends_its_session_and_login(world: World) -> None:
    need_mosquitto()
    dev, other = world.device, world.new_device(bind_to=world.batch)
    node = world.c.node
    with mqtt_ingest(world.c.dir, None, _submit(world), key=world.c.node_key,
                     max_bytes=256 * 1024, on_block=node.on_block,
                     lookup=lambda tx: committed_receipt(node.store, tx)) as bridge:
        broker = bridge.broker
        assert broker is not None
        url = broker.enroll(dev.did)
        other_url = broker.enroll(other.did)
        mine = Session.once_enrolled(broker.port, dev.did, _password(url))
        theirs = Session.once_enrolled(broker.port, other.did, _password(other_url))
        try:
            world.c.ok(world.c.admin, "identity", "revoke", {"did": dev.did,
                                                             "reason": "logger stolen"})
            assert mine.dropped.wait(10), mine.events  # the live session is closed
            assert dev.did not in device_users(broker.dir)
            assert bridge.logins.removed == [dev.did]
            with pytest.raises(NodeError, match="Not authorized"):  # and stays out
                MqttDevices(url, node_key=world.c.node_key.public).start()
            # everyone else kept their session: the other device and the bridge
            assert not theirs.dropped.is_set(), theirs.events
            world.clock.t = T0 + MIN
            with MqttDevices(other_url, node_key=world.c.node_key.public) as devices:
                doc = devices.publish(other.did, other.sign(temps(T0, 5000))).result(20)
            assert doc["ok"] and doc["result"]["seq"] == 1
            assert not theirs.dropped.is_set() and bridge.counts["received"] == 1
        finally:
            mine.close()
            theirs.close()


def test_the_watch_alone_polls_and_a_rotated_key_keeps_its_login(world: World) -> None:
    """Without a node hook (``serve`` today) the periodic pass finds the revocation; a
    key rotation keeps the device's id, so it keeps the login."""
    need_mosquitto()
    dev, other = world.device, world.new_device(bind_to=world.batch)
    with mqtt_ingest(world.c.dir, None, _submit(world), key=world.c.node_key,
                     max_bytes=256 * 1024) as bridge:
        broker = bridge.broker
        assert broker is not None
        url = broker.enroll(dev.did)
        broker.enroll(other.did)
        mine = Session.once_enrolled(broker.port, dev.did, _password(url))
        try:
            new_key = generate("ed25519")
            world.c.ok(world.c.admin, "identity", "rotate_key", {
                "did": other.did, "public_key": base64.b64encode(
                    new_key.public.spki).decode()})
            world.c.ok(dev.key, "identity", "revoke", {"did": dev.did, "reason": "retired"})
            assert mine.dropped.wait(10), mine.events
            assert device_users(broker.dir) == [other.did]
        finally:
            mine.close()


def test_logins_of_devices_revoked_while_no_broker_ran_go_before_it_starts(
        world: World) -> None:
    need_mosquitto()
    dev, other = world.device, world.new_device(bind_to=world.batch)
    broker_dir = world.c.dir / "mosquitto"
    pw = enroll_device(broker_dir, dev.did)
    enroll_device(broker_dir, other.did)
    world.c.ok(world.c.admin, "identity", "revoke", {"did": dev.did, "reason": "lost"})
    with mqtt_ingest(world.c.dir, None, _submit(world), key=world.c.node_key,
                     max_bytes=256 * 1024) as bridge:
        assert device_users(broker_dir) == [other.did]
        assert bridge.broker is not None
        with pytest.raises(NodeError, match="Not authorized"):
            MqttDevices(f"mqtt://{device_user(dev.did)}:{pw}@127.0.0.1:{bridge.broker.port}",
                        node_key=world.c.node_key.public).start()


def test_the_watch_leaves_logins_alone_without_a_ledger(tmp_path: Any) -> None:
    did = "did:sl:" + "ab" * 20
    enroll_device(tmp_path / "mosquitto", did)
    assert LoginWatch(tmp_path / "no-ledger", tmp_path / "mosquitto").check() == []
    assert device_users(tmp_path / "mosquitto") == [did]


def test_mqtt_enroll_refuses_a_revoked_device(world: World) -> None:
    runner = CliRunner()
    data, did = world.c.dir, world.device.did
    world.c.ok(world.c.admin, "identity", "revoke", {"did": did, "reason": "lost"})
    out = runner.invoke(app, ["mqtt-enroll", "--data", str(data), "--device", did])
    assert out.exit_code == 2 and f"{did} is revoked on the ledger" in out.output, out.output
    assert not (data / "mosquitto" / "passwd").exists()
