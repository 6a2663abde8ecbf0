"""MQTT ingest: a bridge from a broker's device topics to the node.

Devices publish their signed ``sensors.record`` transaction bytes to
``supplyledger/devices/<device id>/readings``; the bridge submits each to the node and
publishes the outcome to ``supplyledger/devices/<device id>/receipts`` as JSON: the
committed receipt (``ok`` true or false, with the contract's error), or ``ok: false`` with
the typed error of a transaction the node refused (bad signature, unknown signer, replay,
unreadable bytes...). Whatever arrives, the bridge answers and carries on: one bad payload
never stops ingestion. A payload over the node's size limit is refused as it arrives, never
queued, so a flood of them neither fills memory nor waits behind pending commits.

Submissions wait for the durable commit in a pool of threads, so the MQTT network thread
never blocks and many batches are in flight at once. Messages use QoS 1 (at least once):
a batch delivered twice is refused the second time as a replay, with nothing written.
The broker is transport only: devices are authenticated by their signatures, so the local
broker :func:`mqtt_ingest` starts listens on loopback without passwords.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from supplyledger.errors import NodeError, PayloadTooLarge, SupplyLedgerError
from supplyledger.ingest.admit import check_reading
from supplyledger.ledger.tx import parse_tx
from supplyledger.node.receipts import Receipt

__all__ = ["MqttBridge", "connect", "mqtt_ingest", "parse_url", "readings_topic",
           "receipts_topic"]

READINGS = "supplyledger/devices/+/readings"


def readings_topic(device: str) -> str:
    return f"supplyledger/devices/{device}/readings"


def receipts_topic(device: str) -> str:
    return f"supplyledger/devices/{device}/receipts"


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of ``mqtt://host[:port]`` (``tcp://`` too; port 1883 by default)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise NodeError(f"{url!r} is not an MQTT broker URL (mqtt://host:port)")
    return parts.hostname, parts.port or 1883


def connect(url: str, client_id: str, on_message: Callable[[Any], None],
            topics: list[str], *, timeout: float = 10.0) -> Any:
    """A started paho client subscribed to ``topics`` (again after any reconnect)."""
    host, port = parse_url(url)
    ready = threading.Event()  # set once the broker acknowledged the subscriptions
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)

    def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe([(t, 1) for t in topics])

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, msg: on_message(msg)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise NodeError(f"cannot reach the MQTT broker at {url}: {exc}") from None
    client.loop_start()
    if not ready.wait(timeout):
        client.loop_stop()
        raise NodeError(f"the MQTT broker at {url} did not accept the connection")
    return client


def _outcome(tx_id: str | None, receipt: Receipt | None,
             err: SupplyLedgerError | None) -> dict[str, Any]:
    if receipt is not None:
        return receipt.to_dict()
    assert err is not None
    return {"tx": tx_id, "ok": False, "error": err.to_dict()}


class MqttBridge:
    """Subscribes to every device's readings topic and submits what arrives through
    ``submit`` (blocking until the durable commit: the node's, or the API service's
    ``submit_raw`` so an audit never sees half a block)."""

    def __init__(self, url: str, submit: Callable[[bytes], Receipt], *, max_bytes: int,
                 workers: int = 64, client_id: str = "supplyledger-bridge") -> None:
        self.url, self.submit, self.max_bytes = url, submit, max_bytes
        self.client_id = client_id
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sl-mqtt")
        self._client: Any = None
        self._lock = threading.Lock()
        self.counts = {"received": 0, "committed": 0, "failed": 0, "refused": 0}

    def start(self) -> MqttBridge:
        self._client = connect(self.url, self.client_id, self._on_message, [READINGS])
        return self

    def stop(self) -> None:
        """Answer what was received, then disconnect."""
        self._pool.shutdown(wait=True)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def __enter__(self) -> MqttBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def _on_message(self, msg: Any) -> None:
        self._count("received")
        parts = msg.topic.split("/")
        if len(parts) != 4 or not parts[2]:
            return  # the subscription only matches supplyledger/devices/<id>/readings
        if len(msg.payload) > self.max_bytes:
            # Answered here, never queued: oversized payloads (the broker takes up to 4 MiB)
            # must neither pile up in memory nor wait behind batches awaiting their commit.
            self._refuse(parts[2], PayloadTooLarge(
                f"transaction is {len(msg.payload)} bytes; the limit is {self.max_bytes}",
                size=len(msg.payload), limit=self.max_bytes))
            return
        self._pool.submit(self._handle, parts[2], bytes(msg.payload))

    def _refuse(self, device: str, err: SupplyLedgerError) -> None:
        self._count("refused")
        client = self._client
        if client is not None:
            client.publish(receipts_topic(device), json.dumps(_outcome(None, None, err)),
                           qos=1)

    def _handle(self, device: str, raw: bytes) -> None:
        tx_id: str | None = None
        try:
            try:
                tx = parse_tx(raw, max_bytes=self.max_bytes)
                tx_id = tx.id  # from here on the answer names the transaction
                check_reading(tx, device)
                receipt = self.submit(raw)
                doc = _outcome(tx_id, receipt, None)
                self._count("committed" if receipt.ok else "failed")
            except SupplyLedgerError as exc:
                doc = _outcome(tx_id, None, exc)
                self._count("refused")
            except Exception as exc:  # a bridge must answer and go on
                doc = {"tx": tx_id, "ok": False, "error": {
                    "code": "ingest_error", "message": f"{type(exc).__name__}: {exc}"}}
                self._count("refused")
            client = self._client
            if client is not None:
                client.publish(receipts_topic(device), json.dumps(doc), qos=1)
        except Exception:  # even an unpublishable answer must not stop it
            self._count("refused")


@contextmanager
def mqtt_ingest(data_dir: Path, url: str | None, submit: Callable[[bytes], Receipt], *,
                max_bytes: int) -> Iterator[MqttBridge]:
    """Run the bridge against ``url``, or with ``url`` None against a local mosquitto
    started for the purpose (config and log in ``data_dir/mosquitto``) and stopped after."""
    from supplyledger.ingest.broker import LocalBroker

    broker = None if url else LocalBroker(Path(data_dir) / "mosquitto").start()
    target = broker.url if broker is not None else str(url)
    try:
        with MqttBridge(target, submit, max_bytes=max_bytes) as bridge:
            yield bridge
    finally:
        if broker is not None:
            broker.stop()
