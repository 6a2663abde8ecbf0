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

``--die-in-commit N:STAGE`` makes the node's commit process SIGKILL its process group (this
driver, the verifier processes and itself) inside the N-th block commit of this run (counted
from 1), at STAGE: ``before`` (every row written, COMMIT not issued), ``during`` (a helper
thread kills at a random instant while COMMIT, i.e. the WAL append and fsync, runs) or
``after`` (COMMIT returned, no future resolved yet). The commit process is started as
``dying_committer.py``, which wraps the store's writer connection, so it only observes
statements; it changes nothing the node does.
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
import subprocess
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


def _start_dying_committer(nth: str, stage: str, seed: int) -> list[bool]:
    """Make the node start ``dying_committer.py`` as its commit process; the list returned
    holds True once it has."""
    real_popen = subprocess.Popen
    module = ["-m", "supplyledger.node.committer"]
    started: list[bool] = []

    def popen(args: list[str], **kw: Any) -> Any:
        if args[1:3] != module:  # the verifier processes
            return real_popen(args, **kw)
        started.append(True)
        script = str(Path(__file__).with_name("dying_committer.py"))
        return real_popen([args[0], script, nth, stage, str(seed), *args[3:]], **kw)

    subprocess.Popen = popen  # type: ignore[assignment,misc]
    return started


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
    dying: list[bool] = [True]
    if a.die_in_commit:
        nth, stage = a.die_in_commit.split(":")
        dying = _start_dying_committer(nth, stage, a.seed)
    node = Node(settings, load_node_key(a.dir, a.password))

    ack = _AckLog(a.ack)
    errors: list[str] = []
    acked, refusals = [0], [0]
    first_refusal: list[str] = []
    lock = threading.Lock()
    node.start()
    if not dying:
        print("driver: the node started no commit process as `python -m "
              "supplyledger.node.committer`; update the --die-in-commit hook",
              file=sys.stderr, flush=True)
        return 3
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
