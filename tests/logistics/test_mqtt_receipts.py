"""Device receipts over MQTT: only the node's signed answers count, and a batch is sent
again until one comes, through lost answers and bridge, node and broker restarts, with the
batch on the ledger exactly once. Real mosquitto, real embedded node."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from supplyledger.errors import NodeError, NodeStopped, Overloaded
from supplyledger.ingest.broker import LocalBroker
from supplyledger.ingest.device import MqttDevices
from supplyledger.ingest.mqtt import MqttBridge, parse_url, receipts_topic, url_login
from supplyledger.ingest.signed_receipts import (
    DOMAIN,
    answers,
    digest,
    open_answer,
    retryable,
    sign_answer,
)
from supplyledger.ledger.crypto import b64e, generate
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.node.receipts import Receipt, committed_receipt
from supplyledger.node.service import Node

from ._sensors_world import MIN, T0, World, broker, need_mosquitto, temps, world

__all__ = ["broker", "world"]


def _bridge(world: World, url: str,
            submit: Callable[[bytes], Receipt] | None = None) -> MqttBridge:
    node = world.c.node
    return MqttBridge(url, submit or (lambda raw: node.submit(raw).result(30)),
                      key=world.c.node_key, max_bytes=256 * 1024,
                      lookup=lambda tx: committed_receipt(node.store, tx))


def _devices(world: World, url: str, **kw: float) -> MqttDevices:
    return MqttDevices(url, node_key=world.c.node_key.public, **kw)  # type: ignore[arg-type]


def _batches_on_ledger(world: World, device: str) -> int:
    conn = sqlite3.connect(world.c.dir / "ledger.sqlite")
    try:
        return int(conn.execute("SELECT COUNT(*) FROM txs WHERE signer=? AND method='record'",
                                (device,)).fetchone()[0])
    finally:
        conn.close()


def _publish_raw(url: str, topic: str, payloads: list[bytes]) -> None:
    """What a client holding the login in ``url`` can do (the broker's ACLs let only the
    bridge write receipts: a forger would need its login, or a broker not run by the node,
    e.g. ``--mqtt-url``)."""
    host, port = parse_url(url)
    rogue = paho.Client(CallbackAPIVersion.VERSION2, client_id="rogue")
    login = url_login(url)
    if login is not None:
        rogue.username_pw_set(*login)
    rogue.connect(host, port)
    rogue.loop_start()
    try:
        for p in payloads:
            rogue.publish(topic, p, qos=1).wait_for_publish(10)
    finally:
        rogue.disconnect()
        rogue.loop_stop()


# -- the signature alone ------------------------------------------------------------------

def test_only_the_node_key_opens_an_answer_for_its_device() -> None:
    node, other = generate("ed25519"), generate("ed25519")
    doc = {"tx": "ab" * 32, "height": 7, "index": 0, "ok": True, "result": {"seq": 1}}
    signed = sign_answer(node, "did:sl:dev", doc)
    assert open_answer(node.public, "did:sl:dev", signed) == {**doc, "device": "did:sl:dev"}
    assert open_answer(node.public, "did:sl:other", signed) is None  # another device's
    assert open_answer(other.public, "did:sl:dev", signed) is None  # another key
    assert open_answer(node.public, "did:sl:dev",
                       sign_answer(other, "did:sl:dev", doc)) is None
    body = decode(signed)
    altered = canonical({**body, "height": 8})
    assert open_answer(node.public, "did:sl:dev", altered) is None
    unsigned = canonical({k: v for k, v in body.items() if k != "sig"})
    assert open_answer(node.public, "did:sl:dev", unsigned) is None
    # the domain tag: the node's signature over the bare canonical bytes (as it signs
    # block headers) is no receipt signature
    bare = {k: v for k, v in body.items() if k != "sig"}
    headerlike = canonical({**bare, "sig": b64e(node.sign(canonical(bare)))})
    assert open_answer(node.public, "did:sl:dev", headerlike) is None
    assert open_answer(node.public, "did:sl:dev", DOMAIN + signed) is None
    for junk in (b"", b"[1]", b'{"sig": 5, "device": "did:sl:dev"}', b"\xff"):
        assert open_answer(node.public, "did:sl:dev", junk) is None
    # JSON layout in transit does not matter, only the content
    import json
    assert open_answer(node.public, "did:sl:dev", json.dumps(body, indent=2).encode())


def test_which_answers_mean_send_again() -> None:
    assert retryable({"tx": "t", "ok": False, "error": {"code": "overloaded"}})
    assert retryable({"tx": "t", "ok": False, "error": {"code": "replayed_tx"}})
    assert not retryable({"tx": "t", "ok": False, "error": {"code": "invalid_signature"}})
    # a committed failure is final even with a retry-like code
    assert not retryable({"tx": "t", "height": 3, "ok": False,
                          "error": {"code": "node_error"}})
    # a refusal answers the bytes it names; a committed receipt, every copy
    mine, other = digest(b"batch"), digest(b"batch, broken signature")
    assert answers({"tx": "t", "ok": False, "digest": mine}, mine)
    assert not answers({"tx": "t", "ok": False, "digest": other}, mine)
    assert not answers({"tx": "t", "ok": False}, mine)
    assert answers({"tx": "t", "height": 3, "ok": True}, mine)


# -- end to end ---------------------------------------------------------------------------

def test_forged_receipts_never_resolve_a_batch(world: World, broker: LocalBroker) -> None:
    world.clock.t = T0 + MIN
    dev = world.device
    tx = dev.sign(temps(T0, 5000))
    fake = {"tx": tx.id, "height": 9, "index": 0, "ok": True, "result": {"seq": 1},
            "device": dev.did}
    genuine_failure = sign_answer(world.c.node_key, dev.did, {
        "tx": tx.id, "ok": False, "error": {"code": "overloaded", "message": "later"}})
    forgeries = [
        canonical(fake),  # unsigned
        sign_answer(generate("ed25519"), dev.did, fake),  # signed, by someone else
        sign_answer(world.c.node_key, "did:sl:" + "0" * 40, fake),  # another device's
        genuine_failure.replace(b'"ok":false', b'"ok":true', 1),  # a genuine one, altered
    ]
    with _devices(world, broker.gateway_url, resend_after=0.5, attempts=40) as devices:
        fut = devices.publish(dev.did, tx)  # nobody bridges yet: no answer
        _publish_raw(broker.bridge_url, receipts_topic(dev.did), forgeries)
        got = {devices.forged.get(timeout=10) for _ in forgeries}
        assert got == set(forgeries)
        assert not fut.done() and _batches_on_ledger(world, dev.did) == 0
        with _bridge(world, broker.bridge_url):
            doc = fut.result(20)  # the resend reaches the bridge: a genuine receipt
        assert doc["ok"] and doc["result"]["seq"] == 1 and doc["device"] == dev.did
        assert committed_receipt(world.c.node.store, tx.id) is not None
        assert devices.resent >= 1 and _batches_on_ledger(world, dev.did) == 1


def test_a_lost_answer_is_recovered_by_resending(world: World, broker: LocalBroker) -> None:
    """The node commits, then the answer is lost (here: the bridge reports the node
    stopping). The device sends the batch again and gets the original receipt."""
    node = world.c.node
    calls: list[int] = []

    def commit_then_fail(raw: bytes) -> Receipt:
        r = node.submit(raw).result(30)
        calls.append(r.height)
        if len(calls) == 1:
            raise NodeStopped("node stopped before answering")
        return r

    world.clock.t = T0 + MIN
    tx = world.device.sign(temps(T0, 5000, 5100, step=MIN // 4))
    with _bridge(world, broker.bridge_url, commit_then_fail) as bridge, \
            _devices(world, broker.gateway_url, resend_after=0.5) as devices:
        doc = devices.publish(world.device.did, tx).result(20)
        assert doc["ok"] and doc["tx"] == tx.id and doc["height"] == calls[0], doc
        assert bridge.counts["resent"] == 1 and devices.resent >= 1
    assert _batches_on_ledger(world, world.device.did) == 1


def test_batches_survive_a_bridge_and_node_restart(world: World,
                                                   broker: LocalBroker) -> None:
    dev = world.device
    world.clock.t = T0 + 2 * MIN
    # resend far off: what arrives while the bridge is down waits in its broker session
    with _devices(world, broker.gateway_url, resend_after=60) as devices:
        with _bridge(world, broker.bridge_url):
            assert devices.publish(dev.did, dev.sign(temps(T0, 5000))).result(20)["ok"]
        world.c.node.stop()
        second = dev.sign(temps(T0 + MIN, 5200))
        fut = devices.publish(dev.did, second)
        # Give the broker time to drop a clean session; a persistent one keeps the batch.
        time.sleep(0.5)
        world.c.node = Node(world.c.settings, world.c.node_key, clock=world.clock).start()
        with _bridge(world, broker.bridge_url):
            doc = fut.result(20)
        assert doc["ok"] and doc["result"]["seq"] == 2 and devices.resent == 0
    assert _batches_on_ledger(world, dev.did) == 2


def test_batches_survive_a_broker_restart(world: World, tmp_path: Path) -> None:
    need_mosquitto()
    dev = world.device
    world.clock.t = T0 + 2 * MIN
    broker = LocalBroker(tmp_path / "mosquitto").start()
    try:
        with _bridge(world, broker.bridge_url), \
                _devices(world, broker.gateway_url, resend_after=1) as devices:
            assert devices.publish(dev.did, dev.sign(temps(T0, 5000))).result(20)["ok"]
            broker.stop()  # keeps nothing: the bridge's session and queue are gone
            fut = devices.publish(dev.did, dev.sign(temps(T0 + MIN, 5200)))
            broker.start()  # same port; both clients reconnect, the device resends
            doc = fut.result(30)
            assert doc["ok"] and doc["result"]["seq"] == 2
    finally:
        broker.stop()
    assert _batches_on_ledger(world, dev.did) == 2


def test_without_a_genuine_receipt_the_future_fails_after_bounded_sends(
        world: World, broker: LocalBroker) -> None:
    world.clock.t = T0 + MIN
    tx = world.device.sign(temps(T0, 5000))
    with _devices(world, broker.gateway_url, resend_after=0.2, attempts=3) as devices:
        fut = devices.publish(world.device.did, tx)  # no bridge at all
        with pytest.raises(NodeError, match=r"after 3 sends 0\.2 s apart.*not known to be "
                                            r"on the ledger"):
            fut.result(20)
        assert devices.resent == 2

    def busy(raw: bytes) -> Receipt:
        raise Overloaded("100000 transactions pending; try again shortly")

    with _bridge(world, broker.bridge_url, busy) as bridge, \
            _devices(world, broker.gateway_url, resend_after=0.2, attempts=2) as devices:
        fut = devices.publish(world.device.did, tx)
        with pytest.raises(NodeError, match=r"last answer was overloaded"):
            fut.result(20)
        assert bridge.counts["refused"] >= 2
    assert _batches_on_ledger(world, world.device.did) == 0


def test_stopping_fails_what_still_waits(world: World, broker: LocalBroker) -> None:
    world.clock.t = T0 + MIN
    devices = _devices(world, broker.gateway_url).start()
    fut = devices.publish(world.device.did, world.device.sign(temps(T0, 5000)))
    devices.stop()
    with pytest.raises(NodeError, match="stopped before a receipt"):
        fut.result(5)
    with pytest.raises(NodeError, match="not started"):
        devices.publish(world.device.did, b"x")
    with pytest.raises(ValueError):
        MqttDevices(broker.gateway_url, node_key=world.c.node_key.public, attempts=0)


def test_a_cancelled_batch_does_not_stop_the_client(world: World,
                                                    broker: LocalBroker) -> None:
    dev = world.device
    world.clock.t = T0 + 2 * MIN
    with _devices(world, broker.gateway_url, resend_after=0.3) as devices:
        first = devices.publish(dev.did, dev.sign(temps(T0, 5000)))
        assert first.cancel()  # the owner gave up; its receipt still comes (resent)
        other = world.new_device(bind_to=world.batch)
        with _bridge(world, broker.bridge_url) as bridge:
            assert bridge.counts["received"] == 0
            time.sleep(0.6)  # the cancelled batch is resent, committed and answered
            world.clock.t = T0 + 3 * MIN  # readings after its binding
            second = devices.publish(other.did, other.sign(temps(T0 + 2 * MIN + 1, 5000)))
            doc = second.result(20)
            assert doc["ok"] and bridge.counts["committed"] == 2, doc
    assert _batches_on_ledger(world, dev.did) == 1


# -- review: answers about someone else's copy, memory, a batch published twice --------------

def test_a_refused_copy_with_a_broken_signature_does_not_settle_the_batch(
        world: World, broker: LocalBroker) -> None:
    """The transaction id hashes the envelope only. Anyone on the broker could republish a
    device's batch with a broken signature: the bridge's genuine 'invalid_signature'
    refusal named the same transaction, and the device took it as the final answer for
    its own, valid, batch and gave up on it."""
    import threading

    from supplyledger.ingest.mqtt import readings_topic

    node = world.c.node
    world.clock.t = T0 + MIN
    dev = world.device
    tx = dev.sign(temps(T0, 5000))
    env = decode(tx.raw)["env"]
    broken = canonical({"env": env, "sig": b64e(dev.key.sign(b"something else"))})
    gate = threading.Event()

    def submit(raw: bytes) -> Receipt:
        # The genuine copy is put off ("not now": the device sends it again) until the
        # broken one has been answered. (The bridge takes one device's batches in order.)
        if raw == tx.raw and not gate.is_set():
            raise Overloaded("busy")
        return node.submit(raw).result(30)

    with _bridge(world, broker.bridge_url, submit) as bridge, \
            _devices(world, broker.gateway_url, resend_after=0.5, attempts=60) as devices:
        fut = devices.publish(dev.did, tx)
        _publish_raw(broker.gateway_url, readings_topic(dev.did), [broken])
        refusal = devices.unmatched.get(timeout=20)  # answered, and not taken for the batch
        assert refusal["tx"] == tx.id and refusal["error"]["code"] == "invalid_signature"
        assert refusal["digest"] != digest(tx.raw) and not fut.done()
        gate.set()
        doc = fut.result(20)
        assert doc["ok"] and doc["tx"] == tx.id and isinstance(doc["height"], int), doc
        assert bridge.counts["committed"] == 1
    assert _batches_on_ledger(world, dev.did) == 1


def test_payloads_kept_for_inspection_are_bounded(world: World, broker: LocalBroker) -> None:
    """Anyone may publish on a receipts topic: every forgery (and every replayed genuine
    answer) was kept in an unbounded queue, so a flood grew the device's memory without
    end. The newest ``keep`` are kept; the rest are counted."""
    dev = world.device
    junk = [f"forged {i}".encode() for i in range(20)]
    with _devices(world, broker.gateway_url, keep=5) as devices:
        _publish_raw(broker.bridge_url, receipts_topic(dev.did), junk)
        deadline = time.monotonic() + 20
        while devices.dropped < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert devices.dropped == 15
        assert [devices.forged.get_nowait() for _ in range(5)] == junk[15:]
        assert devices.forged.empty()


def test_a_batch_published_again_while_awaited_shares_its_future(
        world: World, broker: LocalBroker) -> None:
    """Publishing the same transaction twice replaced the first future in the waiting map:
    it never resolved, not even when the client stopped."""
    world.clock.t = T0 + MIN
    tx = world.device.sign(temps(T0, 5000))
    with _devices(world, broker.gateway_url, resend_after=0.5) as devices:
        first = devices.publish(world.device.did, tx)
        second = devices.publish(world.device.did, tx)
        assert first.cancel() and second.cancelled()  # ...and a cancelled one is replaced
        third = devices.publish(world.device.did, tx)
        with _bridge(world, broker.bridge_url):
            assert third.result(20)["ok"] and not third.cancelled()
    assert _batches_on_ledger(world, world.device.did) == 1


def test_a_kept_sessions_batch_is_answered_when_it_arrives_before_the_bridge_is_up(
        world: World, broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker hands a kept session's batches over as soon as it accepts the bridge's
    connection, before ``connect`` returns. A batch committed in that moment was neither
    answered nor acknowledged (the bridge had no client yet), so its device waited until
    it sent the batch again. Here ``connect`` returns late, as on a loaded machine."""
    import supplyledger.ingest.mqtt as mqtt

    dev = world.device
    world.clock.t = T0 + 2 * MIN
    real = mqtt.connect

    def late(*args: object, **kw: object) -> object:
        client = real(*args, **kw)  # type: ignore[arg-type]
        time.sleep(1.0)
        return client

    with _devices(world, broker.gateway_url, resend_after=60) as devices:
        with _bridge(world, broker.bridge_url):
            assert devices.publish(dev.did, dev.sign(temps(T0, 5000))).result(20)["ok"]
        fut = devices.publish(dev.did, dev.sign(temps(T0 + MIN, 5200)))
        time.sleep(0.3)  # queued in the bridge's kept session
        monkeypatch.setattr(mqtt, "connect", late)
        with _bridge(world, broker.bridge_url):
            doc = fut.result(10)
        assert doc["ok"] and doc["result"]["seq"] == 2 and devices.resent == 0
    assert _batches_on_ledger(world, dev.did) == 2
