"""Orderers decide the order of transactions and where blocks are cut.

``SoloOrderer`` (embedded default) orders in arrival order inside the process and cuts a
block at ``max_txs`` transactions or ``max_wait`` seconds after the first one arrived.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["SoloOrderer"]

_CLOSE = object()


class SoloOrderer:
    def __init__(self, max_txs: int, max_wait: float) -> None:
        self.max_txs = max_txs
        self.max_wait = max_wait
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def put(self, item: Any) -> None:
        self._q.put(item)

    def close_one(self) -> None:
        """Each producer calls this once when it stops."""
        self._q.put(_CLOSE)

    def blocks(self, producers: int) -> Iterator[list[Any]]:
        """Yield batches until every producer has closed and the queue is drained."""
        q, open_ = self._q, producers
        while open_:
            item = q.get()
            if item is _CLOSE:
                open_ -= 1
                continue
            batch = [item]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_txs:
                remaining = deadline - time.monotonic()
                try:
                    item = q.get(timeout=remaining) if remaining > 0 else q.get_nowait()
                except queue.Empty:
                    break
                if item is _CLOSE:
                    open_ -= 1
                    if not open_:
                        break
                    continue
                batch.append(item)
            yield batch
