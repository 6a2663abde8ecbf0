"""``supplyledger bench-readings``: sustained sensor-reading ingest in the embedded node.

Phases: set up a consortium ledger (a manufacturer whose product carries a full cold-chain
rule — 2-8 °C with 30 min allowed excursion, humidity band, shock ceiling, a geofence — and
D data loggers, each an identity participant with role device, enrolled and bound to its
own batch); pre-sign every reading batch with the devices' Ed25519 keys in worker processes
(not timed); then submit them concurrently, each device sending its next batch when the
previous one's receipt arrives (a device numbers its batches, so it never has two in
flight), directly to the node, through a real mosquitto and the MQTT bridge, or over HTTP
to the API served by uvicorn. Every reading carries time, position, temperature, humidity
and shock, so each is checked against all four rules; one logger in eight goes through a
40-minute excursion at 9.5 °C, which must come out as exactly one breach each.

Reported, after one untimed batch per device (verifier processes and connections warm up):
readings/s and batches/s committed (first submission to last durable receipt),
latency submit -> durable commit (p50/p99), breaches found, and — measured separately on
the same transactions — the cost per reading of the stateless preparation (verifier
processes) and of the contract body (the executor, one core).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from supplyledger.bench.readings_via import warm_then_drive
from supplyledger.bench.workdir import kept, ledger_dir
from supplyledger.contracts.executor import Executor
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import call_from_env
from supplyledger.gs1 import gtin_check_digit
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx, parse_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import SQLiteStore

__all__ = ["VIAS", "run_readings_bench"]

VIAS = ("direct", "mqtt", "http")
Progress = Callable[[str, int, int], None]
STEP_MS = 10_000  # one reading every 10 s per logger
EXCURSION = 240  # readings at 9.5 °C: 40 minutes, past the 30 minutes allowed
LAT0, LON0 = 52_000_000, 13_000_000
GTIN = "400638" + "900001"
GTIN += str(gtin_check_digit(GTIN))
RULE = {"scope": "product", "target": GTIN,
        "temp": {"min": 2000, "max": 8000, "excursion_ms": 30 * 60_000},
        "hum": {"min": 200, "max": 900, "excursion_ms": 15 * 60_000},
        "shock": {"max": 10_000},
        "geofence": {"lat": LAT0, "lon": LON0, "radius_m": 1_000_000}}


def _noop(stage: str, done: int, total: int) -> None:
    pass


@dataclasses.dataclass(frozen=True)
class Plan:
    chain: str
    t0: int
    devices: int
    batches: int  # per device
    batch: int

    def start(self) -> int:
        """Time of every logger's first reading: its last lands just before t0."""
        return self.t0 - (self.batches * self.batch + 1) * STEP_MS

    def excursion(self, dev: int) -> range:
        n = self.batches * self.batch
        if dev % 8 or n < 3 * EXCURSION:
            return range(0)
        return range(n // 2, n // 2 + EXCURSION)


def readings_of(plan: Plan, dev: int, seq: int) -> list[dict[str, int]]:
    """Batch ``seq`` of logger ``dev``: deterministic, so the bench can be re-run alike."""
    rnd = random.Random(dev * 1_000_003 + seq)
    hot = plan.excursion(dev)
    out = []
    for i in range((seq - 1) * plan.batch, seq * plan.batch):
        out.append({"t": plan.start() + i * STEP_MS,
                    "temp": 9500 if i in hot else 5000 + rnd.randint(-900, 900),
                    "hum": 550 + rnd.randint(-60, 60), "shock": rnd.randint(0, 900),
                    "lat": LAT0 + i * 9, "lon": LON0 + dev * 1000})
    return out


def _sign(job: tuple[Plan, int, bytes, int, int]) -> list[tuple[str, bytes]]:
    plan, dev, pkcs8, first, last = job
    key = PrivateKey.from_pkcs8_der(pkcs8)
    out = []
    for seq in range(first, last + 1):
        tx = make_tx(key, chain=plan.chain, contract="sensors", method="record",
                     args={"seq": seq, "readings": readings_of(plan, dev, seq)},
                     time_ms=plan.t0, nonce=f"r{seq}")
        out.append((tx.id, tx.raw))
    return out


def _setup(settings: Settings, node_key: PrivateKey, admin: PrivateKey, maker: PrivateKey,
           devices: list[PrivateKey], chain: str, t0: int, bound_at: int) -> list[str]:
    """Consortium, product with its rule, one batch per logger, loggers enrolled and bound
    (at ``bound_at``: a logger's readings must not predate its binding)."""
    n = iter(range(1 << 30))

    def tx(key: PrivateKey, contract: str, method: str, args: dict[str, Any],
           at: int = t0) -> bytes:
        return make_tx(key, chain=chain, contract=contract, method=method, args=args,
                       time_ms=at, nonce=f"s{next(n)}").raw

    batches = [f"https://id.gs1.org/01/{GTIN.zfill(14)}/10/LOG{i}" for i in range(len(devices))]
    waves = [
        [tx(admin, "identity", "register_org", {"id": "maker", "name": "Maker",
                                                "roles": ["manufacturer", "device"]})],
        [tx(admin, "identity", "register_member", {"org": "maker", "name": name, "roles": roles,
                                                   "public_key": k.public.b64})
         for name, k, roles in [("maker", maker, ["manufacturer"]),
                                *[(f"logger{i}", d, ["device"]) for i, d in enumerate(devices)]]],
        [tx(maker, "products", "create_product", {"gtin": GTIN, "name": "vaccine"})],
        [tx(maker, "sensors", "set_rule", RULE),
         *[tx(maker, "products", "create_batch", {"gtin": GTIN, "lot": f"LOG{i}"})
           for i in range(len(devices))],
         *[tx(maker, "sensors", "register_device", {"device": d.did}) for d in devices]],
        [tx(maker, "sensors", "bind", {"device": d.did, "kind": "batch", "target": b},
            bound_at)
         for d, b in zip(devices, batches, strict=True)],
    ]
    with Node(settings, node_key) as node:
        for wave in waves:
            for f in [node.submit(raw) for raw in wave]:
                r = f.result(60)
                if not r.ok:
                    raise RuntimeError(f"bench setup failed: {r.error}")
    return batches


def _costs(chains: list[list[tuple[str, bytes]]], data_dir: Path, limit: int) -> tuple[
        float, float, int]:
    """(prepare µs per reading, contract body µs per reading, readings) over a sample of the
    batches, against the set-up state (read, never written)."""
    contracts = load_builtin()
    sample = [c[:4] for c in chains[:16]]
    txs = [[parse_tx(raw, max_bytes=limit) for _, raw in c] for c in sample]
    n = sum(len(t.args["readings"]) for c in txs for t in c)
    t = time.perf_counter()
    calls = [[call_from_env(contracts, x.id, x.env, x.raw) for x in c] for c in txs]
    prep = time.perf_counter() - t
    store = SQLiteStore(data_dir)
    try:
        ex = Executor(contracts, store.get_state)
        body = 0.0
        for k in range(max(len(c) for c in calls)):
            wave = [c[k] for c in calls if k < len(c)]
            t = time.perf_counter()
            res = ex.execute(wave, height=1)
            body += time.perf_counter() - t
            if not all(res.oks) or res.rejected:
                raise RuntimeError("executor-only run failed")
    finally:
        store.close()
    return prep / n * 1e6, body / n * 1e6, n


def run_readings_bench(*, readings: int = 200_000, batch: int = 500, devices: int = 32,
                       via: str = "direct", data_dir: Path | None = None,
                       verify_workers: int | None = None,
                       progress: Progress = _noop) -> dict[str, Any]:
    """Measure sustained reading ingest; see the module docstring."""
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}")
    with ledger_dir(data_dir, "sl-readings-") as ledger:
        res = _bench(ledger, readings=readings, batch=batch, devices=devices, via=via,
                     verify_workers=verify_workers, progress=progress)
    return res | {"data_dir": kept(data_dir, ledger)}


def _bench(data_dir: Path, *, readings: int, batch: int, devices: int, via: str,
           verify_workers: int | None, progress: Progress) -> dict[str, Any]:
    per_device = max(1, -(-readings // (devices * batch)))
    t0 = wall_clock_ms()
    chain = "readings-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:8]
    plan = Plan(chain, t0, devices, per_device, batch)
    admin, node_key, maker = generate("ed25519"), generate("ed25519"), generate("ed25519")
    keys = [generate("ed25519") for _ in range(devices)]
    init_ledger(data_dir, chain=chain, time_ms=t0, node_password="bench",
                admins=[("bench-admin", admin, None)], node_key=node_key,
                kdf=KdfParams(n=2**10))
    # The window also admits the bind, dated at the first reading of the history.
    settings = Settings(data_dir, time_window_ms=max(6 * 3_600_000,
                                                     t0 - plan.start() + 3_600_000))
    if verify_workers is not None:
        settings = dataclasses.replace(settings, verify_workers=verify_workers)
    _setup(settings, node_key, admin, maker, keys, chain, t0, plan.start())
    jobs = [(plan, d, keys[d].pkcs8_der(), s, min(per_device, s + 49))
            for d in range(devices) for s in range(1, per_device + 1, 50)]
    chains: list[list[tuple[str, bytes]]] = [[] for _ in range(devices)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        for k, (job, signed) in enumerate(zip(jobs, pool.map(_sign, jobs), strict=True)):
            chains[job[1]].extend(signed)
            progress("sign", k + 1, len(jobs))
    largest = max(len(raw) for c in chains for _, raw in c)
    if largest > settings.max_tx_bytes:
        # A full five-measure reading is ~85 bytes signed: past ~750 per batch the default
        # 64 KiB transaction limit needs raising, as a node taking such batches would.
        settings = dataclasses.replace(settings, max_tx_bytes=largest)
    prep_us, body_us, sampled = _costs(chains, data_dir, settings.max_tx_bytes)
    with Node(settings, node_key) as node:
        h0 = node.height
        warm, out = warm_then_drive(via, node, chains, data_dir, progress)
        blocks = node.height - h0
    store = SQLiteStore(data_dir)
    try:
        found = store.reader().execute(
            "SELECT COUNT(DISTINCT id) FROM sensor_breaches").fetchone()[0]
    finally:
        store.close()
    lat = sorted(out.latencies)
    committed = out.ok * batch
    return {
        "via": via, "devices": devices, "batch": batch, "batches": out.ok + out.failed,
        "readings": committed, "warmup_batches": warm.ok + warm.failed,
        "largest_tx_bytes": largest, "max_tx_bytes": settings.max_tx_bytes,
        "signature": "ed25519", "verify_workers": settings.verify_workers,
        "seconds": round(out.seconds, 3),
        "readings_per_s": round(committed / out.seconds, 1),
        "tx_per_s": round(out.ok / out.seconds, 1),
        "latency_p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "latency_p99_ms": round(lat[min(len(lat) - 1, len(lat) * 99 // 100)] * 1000, 1)
        if lat else None,
        "failed_batches": out.failed + warm.failed,
        "first_error": warm.first_error or out.first_error, "blocks": blocks,
        "breaches": found,
        "breaches_expected": sum(1 for d in range(devices) if plan.excursion(d)),
        "prepare_us_per_reading": round(prep_us, 2), "body_us_per_reading": round(body_us, 2),
        "cost_sample_readings": sampled, "target_readings_per_s": 20_000,
    }
