"""Ingest end to end: the HTTP endpoint and the MQTT bridge through a real mosquitto, each
taking good batches, answering bad ones with typed errors and carrying on.

mosquitto comes from Debian (``scripts/setup.sh`` installs it). Without it these MQTT tests
skip, except in CI (``CI=true``), where a missing broker is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from _serving import serving_app, wait_serving
from supplyledger.api import ApiSettings, LedgerService, create_app
from supplyledger.epcis import validate_document
from supplyledger.errors import NodeError
from supplyledger.ingest.broker import LocalBroker, free_port
from supplyledger.ingest.device import MqttDevices, post_http
from supplyledger.ingest.mqtt import MqttBridge, mqtt_ingest
from supplyledger.ledger.tx import make_tx
from supplyledger.node.receipts import Receipt, committed_receipt

from ._sensors_world import MIN, T0, World, broker, need_mosquitto, temps, world

__all__ = ["broker", "world"]
CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10)


def _forge(raw: bytes) -> bytes:
    cut = raw.rindex(b'"sig":"') + 7
    return raw[:cut] + (b"A" if raw[cut:cut + 1] != b"A" else b"B") + raw[cut + 1:]


@pytest.fixture
def served(world: World) -> Iterator[tuple[str, LedgerService]]:
    """The API over the world's node, served by uvicorn on a loopback port."""
    service = LedgerService(world.c.node, CHEAP)
    try:
        with serving_app(create_app(service)) as url:
            yield url, service
    finally:
        service.close()


def test_http_endpoint(world: World, served: tuple[str, LedgerService]) -> None:
    base, service = served
    client = httpx.Client(base_url=base, timeout=30)
    world.clock.t = T0 + MIN
    status, body = post_http(base, world.device.sign(temps(T0, 5000)).raw)  # own client
    assert status == 200 and body["receipt"]["ok"] and body["receipt"]["result"]["seq"] == 1
    # refused by the contract: on the ledger, with the error's status and the receipt
    status, body = post_http(base, world.device.sign(temps(T0 + 10, 5000), seq=1).raw,
                             client=client)
    assert status == 409 and body["error"]["code"] == "already_exists"
    assert body["receipt"]["ok"] is False
    # refused before any block: typed error bodies
    status, body = post_http(base, _forge(world.device.sign(temps(T0 + 20, 5000)).raw),
                             client=client)
    assert status == 401 and body["error"]["code"] == "invalid_signature"
    world.device.seq -= 1
    status, body = post_http(base, b"{not json", client=client)
    assert status == 400 and body["error"]["code"] in ("encoding_error", "non_canonical")
    other = make_tx(world.maker.key, chain=world.c.chain, contract="products",
                    method="create_product", args={"gtin": world.gtin, "name": "x"},
                    time_ms=world.clock(), nonce="p").raw
    status, body = post_http(base, other, client=client)
    assert status == 422 and "sensors.record" in body["error"]["message"]
    status, body = post_http(base, b"x" * (300 * 1024), client=client)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    # and ingestion goes on
    world.clock.t = T0 + 2 * MIN
    r = world.device.sign(temps(T0 + MIN, 5000))
    status, body = post_http(base, r.raw, client=client)
    assert status == 200 and body["receipt"]["result"]["seq"] == 2
    # sent again (the device missed the answer): the committed receipt, nothing new written
    again = post_http(base, r.raw, client=client)
    assert again == (200, body)
    # the committed batch as an EPCIS document (a logged-in read)
    url = f"/api/devices/readings/{r.id}/epcis"
    assert client.get(url).status_code == 401
    service.accounts.create(world.maker.did, "maker", "maker-pass-1", world.maker.key)
    token = client.post("/api/auth/token", json={"login": "maker",
                                                 "password": "maker-pass-1"}).json()["token"]
    auth = {"authorization": f"Bearer {token}"}
    doc = client.get(url, headers=auth).json()
    validate_document(doc)
    [event] = doc["epcisBody"]["eventList"]
    assert event["quantityList"] == [{"epcClass": world.batch}]
    assert event["sensorElementList"][0]["sensorReport"][0]["value"] == 5
    missing = client.get(f"/api/devices/readings/{'0' * 64}/epcis", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    client.close()


# -- MQTT --------------------------------------------------------------------------------

def _submit(w: World) -> Callable[[bytes], Receipt]:
    def submit(raw: bytes) -> Receipt:
        return w.c.node.submit(raw).result(30)
    return submit


def test_mqtt_bridge_end_to_end(world: World, broker: LocalBroker) -> None:
    submit = _submit(world)
    node = world.c.node
    with MqttBridge(broker.bridge_url, submit, key=world.c.node_key, max_bytes=256 * 1024,
                    lookup=lambda tx: committed_receipt(node.store, tx)) as bridge, \
            MqttDevices(broker.gateway_url, node_key=world.c.node_key.public) as devices:
        dev = world.device
        world.clock.t = T0 + 10 * MIN
        good = dev.sign(temps(T0, 5000, 9500, 9600, step=MIN))
        first = devices.publish(dev.did, good).result(20)
        assert first["ok"]
        # garbage never stops the bridge; its answer names no transaction
        devices.publish(dev.did, b"\x00\xffnot a transaction")
        bad = devices.unmatched.get(timeout=20)
        assert bad["ok"] is False and bad["tx"] is None
        forged = dev.sign(temps(T0 + 4 * MIN, 5000))
        answer = devices.publish(dev.did, _forge(forged.raw), forged.id).result(20)
        assert answer["error"]["code"] == "invalid_signature"
        other = world.new_device(bind_to=world.batch)
        wrong_topic = other.sign(temps(T0 + 5 * MIN, 5000))
        answer = devices.publish(dev.did, wrong_topic).result(20)
        assert answer["error"]["code"] == "validation_error" and "names" in answer[
            "error"]["message"]
        dup = devices.publish(dev.did, good).result(20)  # QoS 1 may deliver twice
        assert dup["ok"] and dup["height"] == first["height"]  # answered with its receipt
        # a contract refusal (out of order) comes back as the committed failed receipt
        late = dev.sign(temps(T0 + 6 * MIN, 5000), seq=9)
        answer = devices.publish(dev.did, late).result(20)
        assert answer["ok"] is False and answer["error"]["code"] == "invalid_state"
        assert isinstance(answer["height"], int)
        nxt = dev.sign(temps(T0 + 7 * MIN, 5000), seq=2)
        answer = devices.publish(dev.did, nxt).result(20)
        assert answer["ok"] and answer["result"]["seq"] == 2
        assert bridge.counts["committed"] == 2 and bridge.counts["failed"] == 1
        assert bridge.counts["refused"] == 3 and bridge.counts["resent"] == 1


def test_mqtt_ingest_starts_and_stops_a_local_mosquitto(world: World,
                                                         tmp_path: Path) -> None:
    need_mosquitto()
    with mqtt_ingest(tmp_path / "data", None, _submit(world), key=world.c.node_key,
                     max_bytes=256 * 1024) as bridge:
        assert (tmp_path / "data" / "mosquitto" / "mosquitto.conf").exists()
        world.clock.t = T0 + MIN
        assert bridge.broker is not None
        url = bridge.broker.enroll(world.device.did)  # a device login, its own topics
        with MqttDevices(url, node_key=world.c.node_key.public) as devices:
            doc = devices.publish(world.device.did, world.device.sign(temps(T0, 4000)))
            assert doc.result(20)["result"]["seq"] == 1
    with pytest.raises(NodeError, match=r"cannot reach|did not accept"):
        MqttDevices(bridge.url, node_key=world.c.node_key.public).start()


def test_serve_mqtt_starts_a_local_broker_and_bridges_it(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``supplyledger serve --mqtt``: a local mosquitto in the data dir, device batches
    committed through it while the server runs, and the broker gone after."""
    import time

    import uvicorn
    from typer.testing import CliRunner

    from supplyledger.cli.main import app
    from supplyledger.ingest.device import DeviceClient
    from supplyledger.node.service import wall_clock_ms

    need_mosquitto()
    data = world.c.dir
    world.c.stop()  # serve opens the ledger with its own node
    seen: dict[str, object] = {}
    enrolled = CliRunner().invoke(app, ["mqtt-enroll", "--data", str(data), "--device",
                                        world.device.did])
    assert enrolled.exit_code == 0, enrolled.output
    pw = enrolled.output.split("password ")[1].split()[0]
    user = world.device.did.rsplit(":", 1)[1]

    def fake_run(server: uvicorn.Server, *_: object) -> None:  # not serving HTTP till Ctrl-C
        conf = (data / "mosquitto" / "mosquitto.conf").read_text()
        url = f"mqtt://{user}:{pw}@127.0.0.1:" + conf.split()[1]
        dev = DeviceClient(world.device.key, world.c.chain, clock=wall_clock_ms)
        now = wall_clock_ms()
        with MqttDevices(url, node_key=world.c.node_key.public) as devices:
            seen["receipt"] = devices.publish(dev.did, dev.sign(temps(now - 1000, 5000))).result(
                30)
        seen["url"] = url
        server.started = True  # as a server stopped by Ctrl-C after it started

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    monkeypatch.setenv("SUPPLYLEDGER_NODE_PASSWORD", "node")
    out = CliRunner().invoke(app, ["serve", "--data", str(data), "--mqtt"])
    assert out.exit_code == 0, out.output
    assert "MQTT ingest" in out.output
    receipt = seen["receipt"]
    assert isinstance(receipt, dict) and receipt["ok"] and receipt["result"]["seq"] == 1
    time.sleep(0.2)
    with pytest.raises(NodeError):
        MqttDevices(str(seen["url"]), node_key=world.c.node_key.public).start()


def test_sigterm_stops_serve_mqtt_with_its_broker(world: World) -> None:
    """A service manager stops ``supplyledger serve --mqtt`` with SIGTERM: the process must
    drain and stop its local mosquitto, not die and leave the broker running."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    need_mosquitto()
    data = world.c.dir
    world.c.stop()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", "serve",
         "--data", str(data), "--mqtt", "--port", str(port)],
        env={**os.environ, "SUPPLYLEDGER_NODE_PASSWORD": "node"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_serving(proc, port)
        broker_port = int((data / "mosquitto" / "mosquitto.conf").read_text().split()[1])
        socket.create_connection(("127.0.0.1", broker_port), timeout=2).close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, proc.communicate()[0]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", broker_port), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
