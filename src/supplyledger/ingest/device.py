"""The device's side of ingest: number and sign reading batches, send them over HTTP or MQTT.

A device holds its own key (Ed25519 here, the usual choice for loggers: small keys, fast
signatures; RSA works the same) and signs each batch as a ``sensors.record`` transaction
whose ``seq`` is one more than the last it sent. The signed bytes are the whole message:
MQTT and HTTP only carry them, so neither the broker nor the web server is trusted.

A batch uses up its number here when it is signed, on the ledger only when it is recorded.
A batch the node refuses before any block (over HTTP an error body without ``receipt``:
bad signature, a time outside the node's window, too large; over MQTT a final answer
without ``height``) leaves the ledger's count where it was, so the device's next batch is
recorded as refused, "out of order: expected N" (``invalid_state``, ``details.expected``
N). That refusal is committed and changes nothing: its readings are not on the ledger and N
is the number the ledger takes next. :meth:`DeviceClient.resync` signs them again as batch
N. It is safe only when no earlier batch of the device still waits for its final answer (a
device that sends one batch and waits, as over HTTP; over MQTT, once every earlier future is
done): one still on its way could be recorded as N, and the renumbered batch then refused
as already recorded. A "not now" answer (:data:`~supplyledger.ingest.signed_receipts.
RETRY_CODES`) is no final answer: send that batch again, unchanged, before any later one.

:class:`MqttDevices` publishes for any number of devices over one connection (a gateway, or
the benchmark's load generator) and matches the receipts the bridge publishes back by
transaction id. It trusts only receipts signed by the node's key
(:mod:`~supplyledger.ingest.signed_receipts`): whoever else publishes on a receipts topic
cannot make a device drop a batch the ledger does not hold. Until a genuine receipt comes,
it sends the same signed bytes again every ``resend_after`` seconds (a lost batch, a lost
answer, a bridge, node or broker restart); that is safe because a transaction id is
committed at most once, and a copy of a committed batch is answered with its receipt.
A refusal settles a batch only if it names the bytes the device sent (anyone can publish a
copy with a broken signature, which has the same transaction id). After ``attempts`` sends
the future fails: the device keeps the batch and decides. Publishing a batch that is still
awaited returns the future it already has. At most ``window`` batches of one device are
on the wire unanswered (the bridge holds at most
:data:`~supplyledger.ingest.mqtt.PER_DEVICE` of a device and answers more ``overloaded``);
the rest wait here, in the order they were published, and go out as receipts come. What
arrives that settles nothing (forgeries, answers about other copies, replays) is kept for
inspection up to ``keep`` each, the newest; the rest only counted in :attr:`dropped`, so a
flood cannot grow memory.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

from supplyledger.errors import NodeError
from supplyledger.ingest.admit import CONTRACT, METHOD
from supplyledger.ingest.mqtt import PER_DEVICE, connect, readings_topic
from supplyledger.ingest.signed_receipts import answers, digest, open_answer, retryable
from supplyledger.ledger.crypto import PrivateKey, PublicKey
from supplyledger.ledger.tx import SignedTx, make_tx

__all__ = ["HTTP_PATH", "DeviceClient", "MqttDevices", "post_http"]

HTTP_PATH = "/api/devices/readings"


class DeviceClient:
    """One device: its key, the chain it reports to and the number of its last batch
    (after a refusal, :meth:`resync`)."""

    def __init__(self, key: PrivateKey, chain: str, *, clock: Callable[[], int],
                 last_seq: int = 0) -> None:
        self.key, self.chain, self.clock = key, chain, clock
        self.seq = last_seq

    @property
    def did(self) -> str:
        return self.key.did

    def resync(self, tx: SignedTx, answer: Mapping[str, Any]) -> SignedTx | None:
        """``tx``'s readings signed again as the batch the ledger expects, when ``answer``
        (the node's to ``tx``: the HTTP body or the committed receipt or MQTT answer) is the
        committed refusal "out of order: expected N"; this client then numbers on from N.
        None for any other answer, or when ``tx`` is not the last batch this client signed
        (a later one's answer decides). Call it only once every earlier batch of the device
        has its final answer (module docstring)."""
        receipt = answer.get("receipt", answer)
        err = receipt.get("error") if isinstance(receipt, Mapping) else None
        details = err.get("details") if isinstance(err, Mapping) else None
        expected = details.get("expected") if isinstance(details, Mapping) else None
        seq = tx.args.get("seq")
        if not (isinstance(receipt, Mapping) and receipt.get("tx") == tx.id
                and type(receipt.get("height")) is int and receipt.get("ok") is False
                and isinstance(err, Mapping) and err.get("code") == "invalid_state"
                and type(expected) is int and type(seq) is int and 1 <= expected < seq
                and seq == self.seq and tx.signer == self.did):
            return None
        self.seq = expected - 1
        return self.sign(tx.args["readings"])

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


@dataclass
class _Sent:
    """A batch awaiting its genuine receipt."""

    device: str
    raw: bytes
    digest: str  # of ``raw``: what a refusal of these bytes names
    fut: Future[dict[str, Any]]
    sends: int  # 0 while it waits for room in its device's window
    last: float  # time.monotonic() of the last send
    answer: dict[str, Any] | None = None  # the last "not now" answer, for the error


class MqttDevices:
    """Publishes signed batches for many devices over one MQTT connection and resolves a
    future per batch with the first receipt for it signed by ``node_key`` (the node's
    public key): committed (``height`` set; ``ok`` false when the contract refused it) or
    finally refused. Answers meaning "not now" (:data:`~supplyledger.ingest.
    signed_receipts.RETRY_CODES`) and silence make it resend the batch every
    ``resend_after`` s; after ``attempts`` sends the future fails with :class:`NodeError`.
    Each device has at most ``window`` batches on the wire unanswered; later ones wait
    their turn in publish order (their sends and attempts start when they go out), and
    fail unsent with the first of their device that fails.
    Payloads that are not genuine go to :attr:`forged`; genuine answers naming no awaited
    transaction (a payload the bridge could not read, a second answer, the refusal of a
    copy with other bytes) to :attr:`unmatched`; each keeps the newest ``keep``."""

    def __init__(self, url: str, *, node_key: PublicKey, client_id: str | None = None,
                 resend_after: float = 10.0, attempts: int = 6, keep: int = 1000,
                 window: int = PER_DEVICE // 2) -> None:
        if resend_after <= 0 or attempts < 1 or keep < 1 or window < 1:
            raise ValueError("resend_after must be positive, attempts, keep and window at "
                             "least 1")
        self.url, self.node_key, self.window = url, node_key, window
        self.resend_after, self.attempts = resend_after, attempts
        self.client_id = client_id or f"sl-devices-{uuid.uuid4().hex[:12]}"
        self.unmatched: queue.Queue[dict[str, Any]] = queue.Queue(keep)
        self.forged: queue.Queue[bytes] = queue.Queue(keep)
        self.resent = self.dropped = 0
        self._waiting: dict[str, _Sent] = {}
        # Per device: how many of its batches are on the wire, and those waiting for room.
        self._wire: dict[str, int] = {}
        self._held: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._client: Any = None
        self._stopping = threading.Event()
        self._timer: threading.Thread | None = None

    def start(self) -> MqttDevices:
        self._client = connect(self.url, self.client_id, self._on_message,
                               ["supplyledger/devices/+/receipts"])
        self._stopping.clear()
        self._timer = threading.Thread(target=self._resend_loop, daemon=True,
                                       name="sl-device-resend")
        self._timer.start()
        return self

    def stop(self) -> None:
        """Disconnect; futures still waiting fail (their batches were not acknowledged)."""
        self._stopping.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
        with self._lock:
            left, self._waiting = self._waiting, {}
            self._wire, self._held = {}, {}
        for tx, sent in left.items():
            _settle(sent.fut, error=NodeError(
                f"stopped before a receipt for transaction {tx} of device {sent.device}"))

    def __enter__(self) -> MqttDevices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def publish(self, device: str, tx: SignedTx | bytes,
                tx_id: str | None = None) -> Future[dict[str, Any]]:
        """Publish a batch as ``device`` (bytes need their ``tx_id`` to be awaited and
        resent; without one they are sent once, for tests); the future resolves with the
        genuine receipt."""
        client = self._client  # (stop() may clear it meanwhile)
        if client is None:
            raise NodeError("MqttDevices is not started")
        fut: Future[dict[str, Any]] = Future()
        raw = tx.raw if isinstance(tx, SignedTx) else tx
        key = tx.id if isinstance(tx, SignedTx) else tx_id
        if key is None:
            client.publish(readings_topic(device), raw, qos=1)
            return fut
        with self._lock:
            sent = self._waiting.get(key)
            if sent is not None and sent.device == device:
                if sent.fut.cancelled():  # its owner gave up on it; this one waits
                    sent.fut = fut
                fut = sent.fut  # already awaited: one future, and it resolves
                # Sent again now if it is on the wire; else it goes out in its turn.
                out = [sent] if sent.sends else []
            else:
                out = self._release(sent) if sent is not None else []  # another device's
                self._waiting[key] = _Sent(device, raw, digest(raw), fut, 0, 0.0)
                self._held.setdefault(device, deque()).append(key)
                out += self._pump(device)
        self._send(out)
        return fut

    def _send(self, batches: list[_Sent]) -> None:
        """Publish ``batches`` (never while holding the lock)."""
        client = self._client
        if client is not None:
            for sent in batches:
                client.publish(readings_topic(sent.device), sent.raw, qos=1)

    def _pump(self, device: str) -> list[_Sent]:
        """The held batches of ``device`` its window now has room for, marked sent (the
        lock is held; the caller publishes them)."""
        out: list[_Sent] = []
        held = self._held.get(device)
        while held and self._wire.get(device, 0) < self.window:
            sent = self._waiting.get(held.popleft())
            if sent is None or sent.sends or sent.device != device:
                continue  # settled meanwhile (a receipt answers every copy) or replaced
            sent.sends, sent.last = 1, time.monotonic()
            self._wire[device] = self._wire.get(device, 0) + 1
            out.append(sent)
        if not held:
            self._held.pop(device, None)
        return out

    def _release(self, sent: _Sent) -> list[_Sent]:
        """``sent`` left the waiting map (the lock is held): its room in the window goes
        to the next held batch of its device, returned to be published."""
        if not sent.sends:
            return []
        left = self._wire.get(sent.device, 0) - 1
        if left > 0:
            self._wire[sent.device] = left
        else:
            self._wire.pop(sent.device, None)
        return self._pump(sent.device)

    def _resend_loop(self) -> None:
        tick = min(0.5, self.resend_after / 4)
        while not self._stopping.wait(tick):
            now = time.monotonic()
            again: list[_Sent] = []
            failed: list[tuple[str, _Sent]] = []
            with self._lock:
                for tx, sent in list(self._waiting.items()):
                    if not sent.sends or now - sent.last < self.resend_after:
                        continue
                    if sent.sends >= self.attempts:
                        failed.append((tx, self._waiting.pop(tx)))
                        # Its device's held batches are not sent past the gap: the next
                        # would be recorded as out of order, a final answer.
                        for later in self._held.pop(sent.device, deque()):
                            held = self._waiting.get(later)
                            if held is not None and not held.sends \
                                    and held.device == sent.device:
                                failed.append((later, self._waiting.pop(later)))
                        self._release(sent)  # (nothing of its device is left to send)
                    else:
                        sent.sends += 1
                        sent.last = now
                        again.append(sent)
            for tx, sent in failed:
                _settle(sent.fut, error=NodeError(self._unacknowledged(tx, sent) if sent.sends
                                                  else self._not_sent(tx, sent)))
            self.resent += sum(1 for sent in again if sent.sends > 1)
            self._send(again)

    def _unacknowledged(self, tx: str, sent: _Sent) -> str:
        last = ""
        if sent.answer is not None:
            err = sent.answer.get("error") or {}
            last = f"; the last answer was {err.get('code')}: {err.get('message')}"
        return (f"no receipt for transaction {tx} of device {sent.device} after "
                f"{sent.sends} sends {self.resend_after:g} s apart{last}; it is not "
                "known to be on the ledger: keep the batch and send it again later")

    @staticmethod
    def _not_sent(tx: str, sent: _Sent) -> str:
        return (f"transaction {tx} of device {sent.device} was not sent: an earlier batch "
                "of the device has no receipt; send them again, in order")

    def _on_message(self, msg: Any) -> None:
        parts = msg.topic.split("/")
        device = parts[2] if len(parts) == 4 else ""
        doc = open_answer(self.node_key, device, bytes(msg.payload))
        if doc is None:
            self._keep(self.forged, bytes(msg.payload))
            return
        tx = str(doc.get("tx"))
        with self._lock:
            sent = self._waiting.get(tx)
            if sent is not None and (sent.device != device
                                     or not answers(doc, sent.digest)):
                sent = None
            if sent is not None and retryable(doc):
                sent.answer = doc  # not now: the resend loop sends it again
                return
            out: list[_Sent] = []
            if sent is not None:
                del self._waiting[tx]
                out = self._release(sent)
        self._send(out)
        if sent is None:
            self._keep(self.unmatched, doc)
        else:
            _settle(sent.fut, doc)

    def _keep(self, q: queue.Queue[Any], item: Any) -> None:
        """Keep ``item`` for inspection, dropping the oldest when full (only the MQTT
        network thread puts, so the slot freed is its own)."""
        while True:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                with suppress(queue.Empty):
                    q.get_nowait()
                    self.dropped += 1


def _settle(fut: Future[dict[str, Any]], doc: dict[str, Any] | None = None, *,
            error: BaseException | None = None) -> None:
    """Resolve ``fut`` unless its owner cancelled it (an exception here would end the
    MQTT network thread or the resend loop)."""
    with suppress(InvalidStateError):
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(doc or {})
