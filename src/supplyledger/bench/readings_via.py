"""How ``bench-readings`` delivers the pre-signed batches: straight to the node, through a
real mosquitto and the MQTT bridge, or over HTTP to the API served by uvicorn.

Every way keeps one batch in flight per device (a device numbers its batches, so its next
one waits for the receipt of the last) and times each batch from submission to its durable
receipt at the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supplyledger.node.receipts import Receipt
from supplyledger.node.service import Node

__all__ = ["Outcome", "drive", "warm_then_drive"]

Chains = list[list[tuple[str, bytes]]]  # per device: (tx id, signed bytes), in seq order


@dataclass
class Outcome:
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, started: float, ok: bool, error: str | None) -> None:
        with self.lock:
            self.latencies.append(time.perf_counter() - started)
            if ok:
                self.ok += 1
            else:
                self.failed += 1
                self.first_error = self.first_error or error


def _chain(chains: Chains, out: Outcome, progress: Callable[[str, int, int], None],
           send: Callable[[str, str, bytes, Callable[[bool, str | None], None]], None],
           dids: list[str]) -> None:
    """Run every device's chain with ``send(device, tx id, raw, done)``; ``done(ok, err)``
    is called by the transport when the receipt is in."""
    total = sum(len(c) for c in chains)
    finished = threading.Semaphore(0)

    def step(d: int, k: int) -> None:
        started = time.perf_counter()

        def done(ok: bool, err: str | None) -> None:
            out.record(started, ok, err)
            finished.release()
            if k + 1 < len(chains[d]):
                step(d, k + 1)

        tx_id, raw = chains[d][k]
        send(dids[d], tx_id, raw, done)

    t0 = time.perf_counter()
    for d in range(len(chains)):
        if chains[d]:
            step(d, 0)
    for i in range(total):
        finished.acquire()
        if i % 50 == 0:
            progress("batches", i, total)
    out.seconds = time.perf_counter() - t0
    progress("batches", total, total)


def _error(r: Receipt) -> str | None:
    return None if r.ok else str(r.error)


def _direct(node: Node, chains: Chains, dids: list[str], out: Outcome,
            progress: Callable[[str, int, int], None]) -> None:
    def send(_did: str, _tx: str, raw: bytes, done: Callable[[bool, str | None], None]) -> None:
        def cb(f: Any) -> None:
            exc = f.exception()
            done(exc is None and f.result().ok,
                 str(exc) if exc is not None else _error(f.result()))
        node.submit(raw).add_done_callback(cb)

    _chain(chains, out, progress, send, dids)


def _mqtt(node: Node, chains: Chains, dids: list[str], out: Outcome, data_dir: Path,
          progress: Callable[[str, int, int], None]) -> None:
    from supplyledger.ingest.broker import LocalBroker
    from supplyledger.ingest.device import MqttDevices
    from supplyledger.ingest.mqtt import MqttBridge
    from supplyledger.node.receipts import committed_receipt

    def submit(raw: bytes) -> Receipt:
        return node.submit(raw).result(120)

    with LocalBroker(data_dir.parent / "mosquitto") as broker, \
            MqttBridge(broker.bridge_url, submit, key=node.key,
                       max_bytes=node.settings.max_tx_bytes,
                       lookup=lambda tx: committed_receipt(node.store, tx),
                       workers=len(chains) + 4), \
            MqttDevices(broker.gateway_url, node_key=node.key.public) as devices:
        def send(did: str, tx_id: str, raw: bytes,
                 done: Callable[[bool, str | None], None]) -> None:
            def cb(f: Future[dict[str, Any]]) -> None:
                exc = f.exception()  # no genuine receipt after every resend
                doc = f.result() if exc is None else {"ok": False, "error": str(exc)}
                done(bool(doc.get("ok")), None if doc.get("ok") else str(doc.get("error")))
            devices.publish(did, raw, tx_id).add_done_callback(cb)

        _chain(chains, out, progress, send, dids)


def _http(node: Node, chains: Chains, dids: list[str], out: Outcome,
          progress: Callable[[str, int, int], None]) -> None:
    import httpx
    import uvicorn

    from supplyledger.api import ApiSettings, LedgerService, create_app
    from supplyledger.ingest.broker import free_port
    from supplyledger.ingest.device import post_http

    service = LedgerService(node, ApiSettings())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    pool = ThreadPoolExecutor(max_workers=len(chains))
    local = threading.local()
    try:
        def post(raw: bytes, done: Callable[[bool, str | None], None]) -> None:
            client = getattr(local, "client", None) or httpx.Client(timeout=120)
            local.client = client
            status, body = post_http(base, raw, client=client)
            done(status == 200, None if status == 200 else str(body.get("error")))

        def send(_did: str, _tx: str, raw: bytes,
                 done: Callable[[bool, str | None], None]) -> None:
            pool.submit(post, raw, done)

        _chain(chains, out, progress, send, dids)
    finally:
        pool.shutdown(wait=True)
        server.should_exit = True
        serving.join(timeout=10)
        service.close()


def drive(via: str, node: Node, chains: Chains, data_dir: Path,
          progress: Callable[[str, int, int], None]) -> Outcome:
    """Submit every chain through ``via``; returns the counts, time and latencies."""
    from supplyledger.ledger.tx import parse_tx

    dids = [parse_tx(c[0][1], max_bytes=1 << 30).signer if c else "" for c in chains]
    if not any(chains):
        return Outcome()
    out = Outcome()
    if via == "direct":
        _direct(node, chains, dids, out, progress)
    elif via == "mqtt":
        _mqtt(node, chains, dids, out, data_dir, progress)
    else:
        _http(node, chains, dids, out, progress)
    return out


def warm_then_drive(via: str, node: Node, chains: Chains, data_dir: Path,
                    progress: Callable[[str, int, int], None]) -> tuple[Outcome, Outcome]:
    """Each device's first batch untimed (verifier processes and connections start up),
    then the rest timed: what is reported is sustained ingest."""
    warm = drive(via, node, [c[:1] for c in chains], data_dir, progress)
    return warm, drive(via, node, [c[1:] for c in chains], data_dir, progress)
