"""Crash-test driver: run an embedded node in this process and submit pre-signed transactions.

Launched by ``test_crash.py`` as ``python driver.py --dir D --txs F --ack A ...`` and killed
with SIGKILL at a random instant. What it promises, and what the test checks after each kill:

* it skips every transaction whose id is already in the ledger (so a restart continues the
  chain with the not-yet-committed remainder), and submits the rest from a few threads;
* for every acknowledged transaction (future resolved with a receipt) it appends the tx id to
  the ack log *after* the future resolved: one id per line, each line written with a single
  ``write`` and flushed at once, and the file fsync-ed after every drained group of ids.
  The ack log is the witness of what the node acknowledged.

stdout protocol (one line each, flushed): ``SUBMITTING <remaining> <height>`` once the node
has started and just before the first submission; ``FLOWING`` once the first acknowledgement
is in the ack log (the benchmark is running: verifier processes up, blocks committing);
``DONE <json>`` when everything submitted has resolved and the node stopped cleanly. Exit
status 0 only if no submission failed.

``--die-in-commit N:STAGE`` makes the process SIGKILL itself inside the N-th block commit
of this run (counted from 1), at STAGE: ``before`` (every row written, COMMIT not issued),
``during`` (a helper thread kills at a random instant while COMMIT, i.e. the WAL append and
fsync, runs) or ``after`` (COMMIT returned, no future resolved yet). It wraps the store's
writer connection, so it only observes statements; it changes nothing the node does.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import queue
import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from supplyledger.errors import ReplayedTransaction
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # never reached; the kernel delivers SIGKILL first


class _DyingConnection:
    """Delegates to the store's writer connection; SIGKILLs the process in the N-th COMMIT."""

    def __init__(self, conn: sqlite3.Connection, nth: int, stage: str, seed: int) -> None:
        self._conn = conn
        self._nth = nth
        self._stage = stage
        self._commits = 0
        self._rng = random.Random(seed)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            self._commits += 1
            if self._commits == self._nth:
                if self._stage == "before":
                    _die()
                elif self._stage == "during":
                    delay = self._rng.uniform(0.0, 0.004)
                    threading.Timer(delay, _die).start()
                    out = self._conn.execute(sql, *args)
                    print("driver: COMMIT returned before the kill", file=sys.stderr,
                          flush=True)
                    time.sleep(1.0)  # the timer fires while or just after COMMIT runs
                    return out
                else:
                    out = self._conn.execute(sql, *args)
                    _die()
                    return out
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _AckLog:
    """Appends acknowledged tx ids from a queue; write + flush per id, fsync per group."""

    def __init__(self, path: Path) -> None:
        self._f = open(path, "a", buffering=1, encoding="ascii")  # noqa: SIM115
        self._q: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._t = threading.Thread(target=self._run, name="ack-log", daemon=True)
        self._t.start()

    def put(self, tx_id: str) -> None:
        self._q.put(tx_id)

    def _run(self) -> None:
        f, q = self._f, self._q
        first = True
        while True:
            item = q.get()
            while True:
                if item is None:
                    f.flush()
                    os.fsync(f.fileno())
                    f.close()
                    return
                f.write(item + "\n")  # one write() per line: a kill never leaves half an id
                f.flush()
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
            os.fsync(f.fileno())
            if first:
                print("FLOWING", flush=True)  # the first acknowledgement is on disk
                first = False

    def close(self) -> None:
        self._q.put(None)
        self._t.join()


def _committed_ids(data_dir: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM txs")}
    finally:
        conn.close()


def _load_txs(path: Path) -> list[tuple[str, bytes]]:
    out = []
    with open(path, encoding="ascii") as f:
        for line in f:
            tx_id, raw_hex = line.split()
            out.append((tx_id, bytes.fromhex(raw_hex)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--txs", type=Path, required=True)
    p.add_argument("--ack", type=Path, required=True)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--window", type=int, default=200, help="in-flight submissions per client")
    p.add_argument("--rate", type=float, default=0.0, help="total offered tx/s; 0 = flat out")
    p.add_argument("--block-max-txs", type=int, default=2000)
    p.add_argument("--block-max-ms", type=int, default=20)
    p.add_argument("--time-window-ms", type=int, default=6 * 3_600_000)
    p.add_argument("--die-in-commit", default="", help="N:before|during|after")
    p.add_argument("--replay", type=int, default=0,
                   help="first resubmit this many already committed txs; each must be refused")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for stacks on a hang

    txs = _load_txs(a.txs)
    done_before = _committed_ids(a.dir)
    todo = [(i, raw) for i, raw in txs if i not in done_before]

    settings = Settings(a.dir, block_max_txs=a.block_max_txs, block_max_ms=a.block_max_ms,
                        time_window_ms=a.time_window_ms)
    node = Node(settings, load_node_key(a.dir, a.password))
    if a.die_in_commit:
        nth, stage = a.die_in_commit.split(":")
        assert stage in ("before", "during", "after"), stage
        writer = getattr(node.store, "_writer", None)
        if not isinstance(writer, sqlite3.Connection):
            print("driver: SQLiteStore._writer is not a sqlite3.Connection any more; "
                  "update the --die-in-commit hook", file=sys.stderr, flush=True)
            return 3
        node.store._writer = _DyingConnection(  # type: ignore[assignment]
            writer, int(nth), stage, a.seed)

    ack = _AckLog(a.ack)
    errors: list[str] = []
    acked, refusals = [0], [0]
    first_refusal: list[str] = []
    lock = threading.Lock()
    node.start()
    height0 = node.height

    # Exactly once across restarts: committed transactions sent again are refused as replays.
    refused = 0
    again = random.Random(a.seed).sample(
        [raw for i, raw in txs if i in done_before], min(a.replay, len(txs) - len(todo)))
    for fut in [node.submit(raw) for raw in again]:
        exc = fut.exception(timeout=60)
        if isinstance(exc, ReplayedTransaction):
            refused += 1
        else:
            errors.append(f"replay of a committed tx gave {exc!r}")

    def client(c: int) -> None:
        mine = todo[c::a.clients]
        sem = threading.Semaphore(a.window)
        per_client_rate = a.rate / a.clients if a.rate else 0.0
        start = time.perf_counter()
        for k, (tx_id, raw) in enumerate(mine):
            if per_client_rate:
                delay = start + k / per_client_rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sem.acquire()

            def resolved(fut: Any, tx_id: str = tx_id) -> None:
                try:
                    exc = fut.exception()
                    if exc is not None:
                        with lock:
                            errors.append(f"{tx_id}: {type(exc).__name__}: {exc}")
                        return
                    r = fut.result()
                    if r.tx_id != tx_id:
                        with lock:
                            errors.append(f"{tx_id}: receipt of another tx {r.to_dict()}")
                        return
                    # Only now, after the future resolved with a receipt. A receipt of a
                    # contract refusal counts too: that tx is committed like any other.
                    ack.put(tx_id)
                    with lock:
                        acked[0] += 1
                        refusals[0] += not r.ok
                        if not r.ok and not first_refusal:
                            first_refusal.append(str(r.error))
                finally:
                    sem.release()

            node.submit(raw).add_done_callback(resolved)
        for _ in range(a.window):
            sem.acquire()

    threads = [threading.Thread(target=client, args=(c,), name=f"client-{c}")
               for c in range(a.clients)]
    print(f"SUBMITTING {len(todo)} {height0}", flush=True)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    height = node.height
    node.stop()
    ack.close()
    for e in errors[:20]:
        print(f"driver: failed: {e}", file=sys.stderr, flush=True)
    print("DONE " + json.dumps({"skipped": len(done_before), "submitted": len(todo),
                                "replayed_refused": refused,
                                "acked": acked[0], "errors": len(errors),
                                "refused_by_contract": refusals[0],
                                "first_refusal": first_refusal[0] if first_refusal else None,
                                "height0": height0, "height": height,
                                "seconds": round(elapsed, 3)}), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
