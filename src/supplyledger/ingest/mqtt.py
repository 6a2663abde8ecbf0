"""MQTT ingest: a bridge from a broker's device topics to the node.

Devices publish their signed ``sensors.record`` transaction bytes to
``supplyledger/devices/<device id>/readings``; the bridge submits each to the node and
publishes the outcome to ``supplyledger/devices/<device id>/receipts``, signed with the
node's key (:mod:`~supplyledger.ingest.signed_receipts`): the committed receipt (``ok``
true or false, with the contract's error), or ``ok: false`` with the typed error of a
transaction the node refused (bad signature, unknown signer, unreadable bytes...) and the
digest of the refused bytes (a refusal answers that copy, not the transaction id). A copy
of a batch already committed (a device resending because it missed the answer) is answered
with that batch's own receipt, looked up on the ledger. Whatever arrives, the bridge
answers and carries on: one bad payload never stops ingestion. A payload over the node's
size limit is refused as it arrives, never queued, so a flood of them neither fills memory
nor waits behind pending commits.

Submissions wait for the durable commit in a pool of threads, so the MQTT network thread
never blocks and many devices' batches are in flight at once; one device's batches go to
the node one after another, in the order the broker delivered them (a device numbers its
batches, so a backlog published at once would otherwise reach the node out of order and
have its later batches refused). A device holds at most ``per_device`` batches in the
bridge (:data:`PER_DEVICE`): the broker stops delivering to the bridge once
``max_inflight_messages`` batches await its acknowledgement, so one device publishing a
flood, each batch waiting for the one before, used to hold that window and starve every
other device. A batch beyond the bound is answered ``overloaded`` ("send again later") and
acknowledged, and so is every later one of that device until its queue has drained, so
its batches still reach the node in order. Likewise once the node refuses one of its
batches "not now" (overloaded, stopping...), the device's later batches in the queue are
answered "not now" unsubmitted: taken first, the next one would be recorded as out of
order, a final answer for it. Delivery, both ways, is QoS 1 (at least once). The bridge
keeps a persistent session (clean session off, a client id fixed per node key) and
acknowledges a batch to the broker only once its answer is published, so batches
published while the bridge is down or restarting, or received but not yet answered when
it stopped, are delivered to it again by the broker (until the broker itself restarts:
the local one keeps nothing on disk; devices resend what was never answered).
Devices are authenticated by their signatures and receipts by the node's; the broker's
logins and ACLs (:mod:`~supplyledger.ingest.broker`) only keep clients off topics that are
not theirs (flooding another device's topic, reading every receipt). A URL carries its
login as ``mqtt://user:password@host:port`` (the password may instead come from
``SUPPLYLEDGER_MQTT_PASSWORD``, to keep it off command lines); the local broker
:func:`mqtt_ingest` starts gives its bridge a login of its own.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from supplyledger.errors import (
    EncodingError,
    NodeError,
    Overloaded,
    PayloadTooLarge,
    ReplayedTransaction,
    SupplyLedgerError,
)
from supplyledger.ingest.admit import check_reading
from supplyledger.ingest.signed_receipts import (
    RETRY_CODES,
    committed,
    digest,
    receipt_answer,
    sign_answer,
)
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import parse_tx
from supplyledger.node.receipts import Receipt

__all__ = ["PER_DEVICE", "MqttBridge", "connect", "display_url", "mqtt_ingest", "parse_url",
           "readings_topic", "receipts_topic", "url_login"]

READINGS = "supplyledger/devices/+/readings"
# Batches of one device the bridge holds unanswered (one being submitted, the rest queued):
# it submits them one after another anyway, so more would only hold the broker's window.
PER_DEVICE = 8
# "Not now" refusals after which a device's later batches wait (replayed_tx does not: the
# batch it names is being committed, so the next one may follow).
_HALT = RETRY_CODES - {"replayed_tx"}
Lookup = Callable[[str], Receipt | None]


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


def url_login(url: str) -> tuple[str, str | None] | None:
    """(user, password) of ``mqtt://user:password@host``; the password from
    ``SUPPLYLEDGER_MQTT_PASSWORD`` when the URL names only the user; None without a user."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if not parts.username:
        return None
    pw = unquote(parts.password) if parts.password is not None else \
        os.environ.get("SUPPLYLEDGER_MQTT_PASSWORD")
    return unquote(parts.username), pw


def display_url(url: str) -> str:
    """``url`` without its password, for messages."""
    host, port = parse_url(url)
    login = url_login(url)
    return f"mqtt://{login[0] + '@' if login else ''}{host}:{port}"


def connect(url: str, client_id: str, on_message: Callable[[Any], None],
            topics: list[str], *, timeout: float = 10.0, session: bool = False,
            on_client: Callable[[Any], None] | None = None) -> Any:
    """A started paho client subscribed to ``topics`` (again after any reconnect, which
    paho retries every 1-5 s). ``session``: keep the broker session across disconnects and
    acknowledge messages only by ``client.ack(mid, qos)``. ``on_client`` gets the client
    before it connects: a kept session's messages arrive before this returns, and whoever
    answers or acknowledges them needs the client then."""
    host, port = parse_url(url)
    ready = threading.Event()  # set once the broker acknowledged the subscriptions
    refused: list[str] = []  # the broker's reason, if it refused the login
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=not session, manual_ack=session)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 5)
    login = url_login(url)
    if login is not None:
        client.username_pw_set(*login)
    if on_client is not None:
        on_client(client)

    def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            c.subscribe([(t, 1) for t in topics])
        elif not ready.is_set():
            refused.append(str(reason))
            ready.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, msg: on_message(msg)
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise NodeError(f"cannot reach the MQTT broker at {display_url(url)}: {exc}") from None
    client.loop_start()
    if not ready.wait(timeout) or refused:
        client.disconnect()
        client.loop_stop()
        why = f": {refused[0]} (check the login)" if refused else ""
        raise NodeError(f"the MQTT broker at {display_url(url)} did not accept the "
                        f"connection{why}")
    return client


def _refusal(tx_id: str | None, err: SupplyLedgerError) -> dict[str, Any]:
    return {"tx": tx_id, "ok": False, "error": err.to_dict()}


def _of(payload: bytes, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` naming the bytes it answers, if it is a refusal (see
    :func:`~supplyledger.ingest.signed_receipts.answers`)."""
    return doc if committed(doc) else {**doc, "digest": digest(payload)}


class MqttBridge:
    """Subscribes to every device's readings topic and submits what arrives through
    ``submit`` (blocking until the durable commit: the node's, or the API service's
    ``submit_raw`` so an audit never sees half a block). Answers are signed with ``key``,
    the node's; ``lookup`` (e.g. ``lambda t: committed_receipt(node.store, t)``) finds the
    receipt of a batch sent again after it was committed."""

    def __init__(self, url: str, submit: Callable[[bytes], Receipt], *, key: PrivateKey,
                 max_bytes: int, lookup: Lookup | None = None, workers: int = 64,
                 client_id: str | None = None, per_device: int = PER_DEVICE) -> None:
        if per_device < 1:
            raise ValueError("per_device must be at least 1")
        self.url, self.submit, self.max_bytes = url, submit, max_bytes
        self.per_device = per_device
        self.key, self.lookup = key, lookup
        # Fixed per node key: the broker keeps this node's session (and what devices
        # publish meanwhile) across the bridge's restarts.
        self.client_id = client_id or f"supplyledger-bridge-{key.did.rsplit(':', 1)[-1][:16]}"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sl-mqtt")
        self._client: Any = None
        self.broker: Any = None  # the LocalBroker mqtt_ingest started for it, if any
        self.logins: Any = None  # and the LoginWatch keeping its device logins
        self._lock = threading.Lock()
        # Per device, the batches waiting behind the one being submitted (a device is in
        # here while a worker drains its queue).
        self._queues: dict[str, deque[tuple[bytes, int, int]]] = {}
        # Devices over their bound: refused until their queue has drained (keeps order).
        self._over: set[str] = set()
        self._closing = False
        self.counts = {"received": 0, "committed": 0, "failed": 0, "refused": 0,
                       "resent": 0}

    def start(self) -> MqttBridge:
        try:
            connect(self.url, self.client_id, self._on_message, [READINGS], session=True,
                    on_client=self._hold)
        except BaseException:
            self._client = None
            raise
        return self

    def _hold(self, client: Any) -> None:
        self._client = client

    def stop(self) -> None:
        """Answer what was received, then disconnect; what arrives meanwhile is left
        unacknowledged, so the broker delivers it again when the bridge is back."""
        self._closing = True
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
        if self._closing:
            return  # not acknowledged: redelivered to the next session
        self._count("received")
        parts = msg.topic.split("/")
        if len(parts) != 4 or not parts[2]:
            self._ack(msg.mid, msg.qos)  # the subscription only matches .../<id>/readings
            return
        if len(msg.payload) > self.max_bytes:
            # Answered here, never queued: oversized payloads (the broker takes up to 4 MiB)
            # must neither pile up in memory nor wait behind batches awaiting their commit.
            self._count("refused")
            self._answer(parts[2], _of(bytes(msg.payload), _refusal(None, PayloadTooLarge(
                f"transaction is {len(msg.payload)} bytes; the limit is {self.max_bytes}",
                size=len(msg.payload), limit=self.max_bytes))))
            self._ack(msg.mid, msg.qos)
            return
        device, item = parts[2], (bytes(msg.payload), msg.mid, msg.qos)
        with self._lock:
            waiting = self._queues.get(device)
            over = waiting is not None and (device in self._over
                                            or len(waiting) + 1 >= self.per_device)
            if over:
                self._over.add(device)
            elif waiting is not None:  # a worker is submitting this device's batches
                waiting.append(item)
                return
            else:
                self._queues[device] = deque([item])
        if over:
            self._overloaded(device, item, f"device {device} has {self.per_device} batches "
                             "waiting for the node: send this one again once their receipts "
                             "have come")
            return
        try:
            self._pool.submit(self._drain, device)
        except RuntimeError:  # stopping: unacknowledged, redelivered to the next session
            with self._lock:
                self._queues.pop(device, None)

    def _tx_id(self, raw: bytes) -> str | None:
        try:
            return parse_tx(raw, max_bytes=self.max_bytes).id
        except SupplyLedgerError:
            return None

    def _overloaded(self, device: str, item: tuple[bytes, int, int], why: str) -> None:
        """Answer a batch not submitted "send again later" (``overloaded``, saying
        ``why``), and acknowledge it. Parses the bytes only for the answer's ``tx``."""
        raw, mid, qos = item
        self._count("refused")
        try:
            self._answer(device, _of(raw, _refusal(self._tx_id(raw), Overloaded(
                why, device=device))))
        except Exception:  # the network thread (or a worker) must go on whatever happens
            pass
        finally:
            self._ack(mid, qos)

    def _drain(self, device: str) -> None:
        """Submit ``device``'s batches one after another until its queue is empty. Once
        one is refused "not now" (:data:`_HALT`), the later ones (other transactions) are
        answered "not now" too, unsubmitted: submitted ahead of it, the next batch would be
        committed as out of order, a final answer, and the device's numbering stuck behind
        the batch it dropped. The device sends them all again, in order."""
        halted: str | None = None  # the transaction refused "not now"
        while True:
            with self._lock:
                waiting = self._queues[device]
                if not waiting:
                    del self._queues[device]
                    self._over.discard(device)
                    return
                item = waiting.popleft()
            if halted is not None and self._tx_id(item[0]) != halted:
                self._overloaded(device, item, f"an earlier batch of device {device} "
                                 f"({halted}) was not taken: send this one again after it")
                continue
            tx_id, doc = self._handle(device, *item)
            err = doc.get("error")
            if halted is None and not committed(doc) and isinstance(err, dict) \
                    and err.get("code") in _HALT:
                halted = tx_id or ""

    def _ack(self, mid: int, qos: int) -> None:
        client = self._client
        if client is not None and qos > 0:
            client.ack(mid, qos)

    def _answer(self, device: str, doc: dict[str, Any]) -> None:
        client = self._client
        if client is None:
            return
        try:
            payload = sign_answer(self.key, device, doc)
        except EncodingError:  # an error detail outside the canonical subset: drop details
            err = doc.get("error") or {}
            payload = sign_answer(self.key, device, {
                "tx": doc.get("tx"), "ok": False, "digest": doc.get("digest"), "error": {
                    "code": str(err.get("code", "ingest_error")),
                    "message": str(err.get("message", ""))}})
        client.publish(receipts_topic(device), payload, qos=1)

    def _handle(self, device: str, raw: bytes, mid: int, qos: int) -> tuple[str | None,
                                                                           dict[str, Any]]:
        """Submit one batch and answer it: (its transaction id, the answer)."""
        tx_id: str | None = None
        doc: dict[str, Any] = {}
        try:
            try:
                tx = parse_tx(raw, max_bytes=self.max_bytes)
                tx_id = tx.id  # from here on the answer names the transaction
                check_reading(tx, device)
                receipt = self.submit(raw)
                doc = receipt_answer(receipt)
                self._count("committed" if receipt.ok else "failed")
            except ReplayedTransaction as exc:
                # Sent again (the device missed the answer): its receipt, if committed.
                found = self.lookup(exc.tx_id) if self.lookup is not None else None
                doc = receipt_answer(found) if found is not None else _refusal(tx_id, exc)
                self._count("resent" if found is not None else "refused")
            except SupplyLedgerError as exc:
                doc = _refusal(tx_id, exc)
                self._count("refused")
            except Exception as exc:  # a bridge must answer and go on
                doc = {"tx": tx_id, "ok": False, "error": {
                    "code": "ingest_error", "message": f"{type(exc).__name__}: {exc}"}}
                self._count("refused")
            self._answer(device, _of(raw, doc))
        except Exception:  # even an unpublishable answer must not stop it
            self._count("refused")
        finally:
            self._ack(mid, qos)
        return tx_id, doc


@contextmanager
def mqtt_ingest(data_dir: Path, url: str | None, submit: Callable[[bytes], Receipt], *,
                key: PrivateKey, max_bytes: int,
                lookup: Lookup | None = None,
                on_block: Callable[[Callable[[int], None]], None] | None = None,
                ) -> Iterator[MqttBridge]:
    """Run the bridge against ``url``, or with ``url`` None against a local mosquitto
    started for the purpose (config, logins and log in ``data_dir/mosquitto``; the bridge
    logs in as :data:`~supplyledger.ingest.broker.BRIDGE_USER`) and stopped after. A local
    broker's device logins follow the ledger in ``data_dir``
    (:class:`~supplyledger.ingest.login_watch.LoginWatch`, as ``bridge.logins``): checked
    before it starts, then every half second, and after every block if ``on_block`` (a
    node's) is given."""
    from supplyledger.ingest.broker import LocalBroker
    from supplyledger.ingest.login_watch import LoginWatch

    broker: LocalBroker | None = None
    watch: LoginWatch | None = None
    try:
        if not url:
            watch = LoginWatch(data_dir, Path(data_dir) / "mosquitto")
            watch.check()  # devices revoked while no broker ran never log in
            broker = LocalBroker(watch.broker_dir).start()
            watch.start()
            if on_block is not None:
                on_block(watch.notify)
        target = broker.bridge_url if broker is not None else str(url)
        with MqttBridge(target, submit, key=key, max_bytes=max_bytes,
                        lookup=lookup) as bridge:
            bridge.broker, bridge.logins = broker, watch
            yield bridge
    finally:
        if watch is not None:
            watch.stop()
        if broker is not None:
            broker.stop()
