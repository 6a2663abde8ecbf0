"""``supplyledger bench``: committed throughput, latency and the machine's limit, in one run.

Phases: set up a consortium and its signers; pre-sign the workload (not timed); measure the
limit (both cores, a process each, doing only the irreducible work per tx: one signature
verification, one SHA-256, one row write); time a verifier's checks stage by stage on a
sample, on one core; saturate the node from concurrent clients (throughput, and each node
process's CPU per transaction); then offer half that rate at a steady pace (latency, submit
-> durable commit).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from supplyledger.bench.cpu import ProcessClock, stage_costs
from supplyledger.bench.workdir import kept, ledger_dir
from supplyledger.bench.workload import Signer, batch_txs, batches_for, presign
from supplyledger.ledger.crypto import PrivateKey, PublicKey, generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.ledger.tx import make_tx, parse_tx
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings

__all__ = ["measure_limit", "run_bench"]

ROLES = ["manufacturer", "warehouse", "transporter", "supplier", "platform", "inspector"]
Progress = Callable[[str, int, int], None]
STAGE_SAMPLE = 2000  # transactions whose checks are timed one stage at a time


def _noop(stage: str, done: int, total: int) -> None:
    pass


def _setup(data_dir: Path, sig: str, n_signers: int, progress: Progress) -> tuple[
        Node, list[Signer]]:
    admin, node_key = generate(sig), generate("rsa")
    chain = "bench-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:8]
    # The bench's own keys are throwaway: a cheap KDF keeps setup fast; real keys use the
    # default scrypt cost.
    init_ledger(data_dir, chain=chain, time_ms=wall_clock_ms(), node_password="bench",
                admins=[("bench-admin", admin, None)], node_key=node_key,
                kdf=KdfParams(n=2**10))
    settings = Settings(data_dir, time_window_ms=6 * 3_600_000)
    node = Node(settings, node_key).start()
    t = wall_clock_ms()
    futs = [node.submit(make_tx(admin, chain=chain, contract="identity", method="register_org",
                                args={"id": f"org{i}", "name": f"Org {i}", "roles": ROLES},
                                time_ms=t, nonce=f"org{i}").raw) for i in range(8)]
    for f in futs:
        f.result()
    signers: list[Signer] = []
    futs = []
    for i in range(n_signers):
        k = generate(sig)
        signers.append(Signer(k.did, k.pkcs8_der()))
        futs.append(node.submit(make_tx(
            admin, chain=chain, contract="identity", method="register_member",
            args={"org": f"org{i % 8}", "public_key": k.public.b64, "name": f"member {i}",
                  "roles": ROLES}, time_ms=t, nonce=f"m{i}").raw))
        progress("keys", i + 1, n_signers)
    for f in futs:
        r = f.result()
        if not r.ok:
            raise RuntimeError(f"bench setup failed: {r.error}")
    return node, signers


def _limit_share(spkis: dict[str, bytes], raws: list[bytes], db: str, ready: Any, go: Any,
                 out: Any) -> None:
    """One process's share of :func:`measure_limit`; set-up happens before ``go``."""
    parsed = [parse_tx(r, max_bytes=1 << 20) for r in raws]
    keys = {did: PublicKey.from_spki(spki) for did, spki in spkis.items()}
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id BLOB PRIMARY KEY, raw BLOB)")
    ready.release()
    go.wait()
    rows = []
    for tx in parsed:
        keys[tx.signer].verify(tx.sig, tx.env_bytes)
        rows.append((hashlib.sha256(tx.env_bytes).digest(), tx.raw))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?,?)", rows)
    conn.execute("COMMIT")
    conn.close()
    out.put(len(rows))


def measure_limit(raws: list[bytes], keys: dict[str, PublicKey], procs: int = 2) -> float:
    """Tx/s at which ``procs`` processes do one signature check, one SHA-256 and one row
    write per transaction, with nothing else. Processes, not threads: `cryptography` holds
    the interpreter lock while it verifies, so two threads verify no faster than one."""
    ctx = multiprocessing.get_context("spawn")  # the caller may run a node's threads
    spkis = {did: k.spki for did, k in keys.items()}
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    with tempfile.TemporaryDirectory(prefix="sl-limit-") as tmp:
        ps = [ctx.Process(target=_limit_share, daemon=True,
                          args=(spkis, raws[i::procs], str(Path(tmp) / f"l{i}.sqlite"),
                                ready, go, out)) for i in range(procs)]
        for p in ps:
            p.start()
        try:
            for _ in ps:
                if not ready.acquire(timeout=120):
                    raise RuntimeError("a limit-measuring process did not start")
            t0 = time.perf_counter()
            go.set()
            done = sum(out.get(timeout=600) for _ in ps)
            elapsed = time.perf_counter() - t0
        finally:
            for p in ps:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
        if done != len(raws):
            raise RuntimeError(f"limit measured {done} of {len(raws)} transactions")
        return len(raws) / elapsed


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def _drive(node: Node, raws: list[bytes], *, clients: int, rate: float | None,
           window: int, progress: Progress, stage: str) -> tuple[float, list[float], int]:
    """Submit ``raws`` from ``clients`` threads; ``rate`` paces the total offered load."""
    n = len(raws)
    lat = [0.0] * n
    done_at = [0.0] * n
    errors: list[Any] = [0, None]
    sems = [threading.Semaphore(window) for _ in range(clients)]
    finished = threading.Semaphore(0)
    counter = [0]
    lock = threading.Lock()

    def client(c: int) -> None:
        sem = sems[c]
        idxs = range(c, n, clients)
        start = time.perf_counter()
        for k, i in enumerate(idxs):
            if rate is not None:
                due = start + k * clients / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sem.acquire()
            t_sub = time.perf_counter()

            def cb(f: Any, i: int = i, t_sub: float = t_sub) -> None:
                now = time.perf_counter()
                exc = f.exception()
                if exc is not None:
                    errors[0] += 1
                    errors[1] = errors[1] or f"{type(exc).__name__}: {exc}"
                elif not f.result().ok:  # committed, but the call failed: not throughput
                    errors[0] += 1
                    errors[1] = errors[1] or f"failed receipt: {f.result().error}"
                lat[i] = now - t_sub
                done_at[i] = now
                sem.release()
                finished.release()
                with lock:
                    counter[0] += 1
            node.submit(raws[i]).add_done_callback(cb)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in ts:
        t.start()
    for k in range(n):
        finished.acquire()
        if k % 2000 == 0:
            progress(stage, k, n)
    progress(stage, n, n)
    for t in ts:
        t.join()
    elapsed = max(done_at) - t0
    if errors[0]:
        progress(f"errors: {errors[0]}, first: {errors[1]}", n, n)
    return n / elapsed, lat, errors[0]


def run_bench(*, txs: int = 200_000, sig: str = "rsa", data_dir: Path | None = None,
              signers: int = 64, clients: int = 4, progress: Progress = _noop) -> dict[str, Any]:
    """One run of every figure; the ledger stays in ``data_dir/ledger`` when given."""
    with ledger_dir(data_dir, "sl-bench-") as ledger:
        res = _bench(ledger, txs=txs, sig=sig, signers=signers, clients=clients,
                     progress=progress)
    return res | {"data_dir": kept(data_dir, ledger)}


def _bench(data_dir: Path, *, txs: int, sig: str, signers: int, clients: int,
           progress: Progress) -> dict[str, Any]:
    node, signer_list = _setup(data_dir, sig, signers, progress)
    try:
        lat_n = max(1000, txs // 4)
        t0 = wall_clock_ms()
        for phase in batch_txs(node.chain, signer_list, batches_for(txs + lat_n), t0=t0):
            for f in [node.submit(r) for r in phase]:
                if not f.result().ok:  # trace events need their batches to exist
                    raise RuntimeError(f"bench setup failed: {f.result().error}")
        signed = presign(node.chain, signer_list, txs + lat_n, t0=t0,
                         progress=lambda k: progress("sign", k, txs + lat_n))
        load, paced = signed[:txs], signed[txs:]
        keys = {s.did: PrivateKey.from_pkcs8_der(s.pkcs8).public for s in signer_list}
        limit = measure_limit(load[: min(len(load), 20_000)], keys)
        stages = stage_costs(load[:STAGE_SAMPLE], keys, node.contracts,
                             node.settings.max_tx_bytes)
        clock = ProcessClock(node.process_ids())
        clock.start()
        tps, sat_lat, err1 = _drive(node, load, clients=clients, rate=None, window=4000,
                                    progress=progress, stage="saturate")
        cpu = clock.stop(len(load))
        offered = tps / 2
        _, lat, err2 = _drive(node, paced, clients=clients, rate=offered, window=4000,
                              progress=progress, stage="half-load")
        height = node.height
    finally:
        node.stop()
    ms = [x * 1000 for x in lat]
    sat_ms = [x * 1000 for x in sat_lat]
    return {
        "txs": txs, "sig": sig, "signers": signers, "clients": clients,
        "tps": round(tps, 1), "limit_tps": round(limit, 1), "ratio": round(tps / limit, 3),
        "offered_tps": round(offered, 1), "latency_txs": len(paced),
        "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(_pct(ms, 99), 2),
        "saturated_p50_ms": round(statistics.median(sat_ms), 2),
        "saturated_p99_ms": round(_pct(sat_ms, 99), 2),
        "errors": err1 + err2,  # refused, or committed with a failed receipt
        "blocks": height,
        # Where the saturated phase's CPU went (None where /proc cannot be read), and what
        # a verifier's checks cost on one core (docs/performance.md).
        "cpu_us_per_tx": cpu, "stage_us_per_tx": stages,
    }
