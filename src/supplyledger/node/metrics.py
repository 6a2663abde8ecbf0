"""Operational metrics of a running node, and their Prometheus text exposition (0.0.4).

Design decisions:

* Counters are bumped once per block by the committer thread, the only thread that writes
  them, as plain attribute and list updates: no lock on the hot path. A scrape copies them
  (a ``dict.copy`` or ``list(...)`` is atomic under the GIL) and may see one block's
  update half applied; for a histogram the ``+Inf`` bucket and ``_count`` are derived from
  the copied buckets, so they always agree.
* Failed transactions are counted per block: ``TxRow.ok`` is summed with ``map`` and
  ``attrgetter`` (no Python bytecode per transaction) and only failed receipts are decoded
  for their error code.
* Admission refusals (bad signature, replay, stale, overload...) happen before any block,
  on several threads; they take a small lock, on the refusal path only.
* No submit -> durable-commit latency histogram: it needs a timestamp on every ticket and
  an observation per transaction on the committer, which is per-transaction work on the
  node's hot threads. Block commit time and transactions per block are recorded instead.
* Gauges (height, pending, verifier processes, file sizes, seconds since the last block)
  are read when scraped. Durations are kept in integer nanoseconds and only turned into
  seconds when rendered.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from itertools import compress
from operator import attrgetter, not_
from pathlib import Path
from typing import TYPE_CHECKING

from supplyledger.ledger.encoding import decode
from supplyledger.store.records import BlockRecord

if TYPE_CHECKING:
    from supplyledger.node.service import Node

__all__ = ["CONTENT_TYPE", "Histogram", "NodeMetrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "supplyledger_"
_MS = 1_000_000  # nanoseconds in a millisecond
COMMIT_BOUNDS_NS = tuple(int(ms * _MS) for ms in (
    0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000))
BLOCK_TXS_BOUNDS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000)
_OK = attrgetter("ok")


class Histogram:
    """Cumulative-on-render histogram of integer observations; one writer thread."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Iterable[int]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is above every bound
        self.total = 0

    def observe(self, value: int) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le is "less or equal"
        self.total += value


class NodeMetrics:
    """Counters a :class:`~supplyledger.node.service.Node` keeps while it runs."""

    def __init__(self, last_block_ms: int) -> None:
        self.blocks = 0
        self.txs = 0
        self.failed: dict[str, int] = {}
        self.refused: dict[str, int] = {}
        self.commit_ns = Histogram(COMMIT_BOUNDS_NS)
        self.block_txs = Histogram(BLOCK_TXS_BOUNDS)
        self.last_block_ms = last_block_ms
        self._refused_lock = threading.Lock()

    def committed(self, rec: BlockRecord, commit_ns: int) -> None:
        """A block is durable (from the one thread that acknowledges blocks)."""
        rows = rec.txs
        n = len(rows)
        if sum(map(_OK, rows)) < n:
            failed = self.failed
            for row in compress(rows, map(not_, map(_OK, rows))):
                code = _error_code(row.receipt)
                failed[code] = failed.get(code, 0) + 1
        self.commit_ns.observe(commit_ns)
        self.block_txs.observe(n)
        self.txs += n
        self.blocks += 1
        self.last_block_ms = rec.time

    def refuse(self, code: str) -> None:
        """A submission was answered with an error before reaching any block."""
        with self._refused_lock:
            self.refused[code] = self.refused.get(code, 0) + 1

    def refused_counts(self) -> dict[str, int]:
        with self._refused_lock:
            return self.refused.copy()


def _error_code(receipt: bytes) -> str:
    err = decode(receipt).get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else "unknown"


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _seconds(ns: int) -> str:
    return repr(ns / 1e9)


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> str:
        self.lines += [f"# HELP {PREFIX}{name} {help_}", f"# TYPE {PREFIX}{name} {kind}"]
        return PREFIX + name

    def one(self, name: str, kind: str, help_: str, value: int | str) -> None:
        self.lines.append(f"{self.family(name, kind, help_)} {value}")

    def by_code(self, name: str, help_: str, counts: dict[str, int]) -> None:
        full = self.family(name, "counter", help_)
        self.lines += [f'{full}{{code="{_label(c)}"}} {n}' for c, n in sorted(counts.items())]

    def histogram(self, name: str, help_: str, h: Histogram, *, ns: bool) -> None:
        full = self.family(name, "histogram", help_)
        counts, total = list(h.counts), h.total
        running = 0
        for bound, n in zip(h.bounds, counts, strict=False):
            running += n
            le = _seconds(bound) if ns else str(bound)
            self.lines.append(f'{full}_bucket{{le="{le}"}} {running}')
        running += counts[-1]
        self.lines += [f'{full}_bucket{{le="+Inf"}} {running}',
                       f"{full}_sum {_seconds(total) if ns else total}",
                       f"{full}_count {running}"]


def render(node: Node) -> str:
    """The node's metrics in the Prometheus text format, version 0.0.4."""
    m = node.metrics
    t = _Text()
    t.one("block_height", "gauge", "Height of the last durable block.", node.height)
    t.one("blocks_committed_total", "counter", "Blocks committed since the node started.",
          m.blocks)
    t.one("txs_committed_total", "counter",
          "Transactions committed (ok or failed) since the node started.", m.txs)
    t.by_code("txs_failed_total", "Committed transactions whose receipt is a failure, by "
              "error code.", m.failed.copy())
    t.by_code("txs_refused_total", "Submissions refused before any block (bad signature, "
              "replay, stale, overload...), by error code.", m.refused_counts())
    t.one("txs_pending", "gauge", "Transactions submitted and not yet answered.",
          node.pending)
    t.one("verifier_processes", "gauge", "Verifier processes configured (0: in-process).",
          node.settings.verify_workers)
    t.one("verifier_processes_alive", "gauge", "Verifier processes still running.",
          node.verifiers_alive())
    t.one("commit_process_alive", "gauge", "1 while the commit process runs (0: commits "
          "in-process, or it died).", int(node.commit_process_alive()))
    t.one("node_failed", "gauge", "1 once the node stopped accepting after a failure.",
          int(node.check_processes() is not None))
    t.histogram("block_commit_seconds", "Time to write and sync one block.", m.commit_ns,
                ns=True)
    t.histogram("block_txs", "Transactions per committed block.", m.block_txs, ns=False)
    since_ms = max(0, node.clock() - m.last_block_ms)
    t.one("seconds_since_last_block", "gauge", "Node clock minus the last block's time.",
          repr(since_ms / 1000))
    db = node.store.path
    t.one("database_bytes", "gauge", "Size of the ledger database file.", _file_size(db))
    t.one("wal_bytes", "gauge", "Size of the ledger's write-ahead log.",
          _file_size(db.with_name(db.name + "-wal")))
    return "\n".join(t.lines) + "\n"
