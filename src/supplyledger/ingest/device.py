"""The device's side of ingest: number and sign reading batches, send them over HTTP or MQTT.

A device holds its own key (Ed25519 here, the usual choice for loggers: small keys, fast
signatures; RSA works the same) and signs each batch as a ``sensors.record`` transaction
whose ``seq`` is one more than the last it sent. The signed bytes are the whole message:
MQTT and HTTP only carry them, so neither the broker nor the web server is trusted.
:class:`MqttDevices` publishes for any number of devices over one connection (a gateway, or
the benchmark's load generator) and matches the receipts the bridge publishes back by
transaction id.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import httpx

from supplyledger.ingest.admit import CONTRACT, METHOD
from supplyledger.ingest.mqtt import connect, readings_topic
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import SignedTx, make_tx

__all__ = ["HTTP_PATH", "DeviceClient", "MqttDevices", "post_http"]

HTTP_PATH = "/api/devices/readings"


class DeviceClient:
    """One device: its key, the chain it reports to and the number of its last batch."""

    def __init__(self, key: PrivateKey, chain: str, *, clock: Callable[[], int],
                 last_seq: int = 0) -> None:
        self.key, self.chain, self.clock = key, chain, clock
        self.seq = last_seq

    @property
    def did(self) -> str:
        return self.key.did

    def sign(self, readings: Sequence[Mapping[str, int]], *, seq: int | None = None,
             time_ms: int | None = None) -> SignedTx:
        """Sign the next batch (or batch ``seq``, to resend or to test the node)."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        return make_tx(self.key, chain=self.chain, contract=CONTRACT, method=METHOD,
                       args={"seq": seq, "readings": [dict(r) for r in readings]},
                       time_ms=self.clock() if time_ms is None else time_ms,
                       nonce=f"r{seq}")


def post_http(base_url: str, raw: bytes, *, client: httpx.Client | None = None,
              timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """POST signed batch bytes to a node's device endpoint: (HTTP status, JSON body).
    ``timeout`` applies when no ``client`` is given."""
    url = base_url.rstrip("/") + HTTP_PATH
    headers = {"content-type": "application/json"}
    if client is None:
        r = httpx.post(url, content=raw, headers=headers, timeout=timeout)
    else:  # the client's own timeout applies
        r = client.post(url, content=raw, headers=headers)
    return r.status_code, r.json()


class MqttDevices:
    """Publishes signed batches for many devices over one MQTT connection and resolves a
    future per batch with the receipt the bridge publishes on the device's receipts topic.
    Receipts that name no known transaction (a payload the bridge could not read) go to
    :attr:`unmatched`."""

    def __init__(self, url: str, *, client_id: str | None = None) -> None:
        self.url = url
        self.client_id = client_id or f"sl-devices-{uuid.uuid4().hex[:12]}"
        self.unmatched: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._waiting: dict[str, Future[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    def start(self) -> MqttDevices:
        self._client = connect(self.url, self.client_id, self._on_message,
                               ["supplyledger/devices/+/receipts"])
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def __enter__(self) -> MqttDevices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def publish(self, device: str, tx: SignedTx | bytes,
                tx_id: str | None = None) -> Future[dict[str, Any]]:
        """Publish a batch (or any bytes, for tests) as ``device``; the future resolves with
        the receipt document the bridge sends back."""
        fut: Future[dict[str, Any]] = Future()
        raw = tx.raw if isinstance(tx, SignedTx) else tx
        key = tx.id if isinstance(tx, SignedTx) else tx_id
        if key is not None:
            with self._lock:
                self._waiting[key] = fut
        self._client.publish(readings_topic(device), raw, qos=1)
        return fut

    def _on_message(self, msg: Any) -> None:
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        with self._lock:
            fut = self._waiting.pop(str(doc.get("tx")), None)
        if fut is None:
            self.unmatched.put(doc)
        else:
            fut.set_result(doc)
