"""Orderers decide the order of transactions and where blocks are cut.

``SoloOrderer`` (embedded default) orders in arrival order inside the process and cuts a
block at ``max_txs`` transactions or ``max_wait`` seconds after the block's builder took its
first one, handing it over in parts as they arrive (:meth:`SoloOrderer.parts`) so the
builder executes while the block fills. Counted from that transaction's arrival instead, a
builder back from a long block would cut at once whatever had queued: smaller blocks, more
commits, and 16 % fewer order lifecycles per second in three alternating pairs
(docs/performance.md, session 18).
Producers hand in lists (a verifier batch's admitted transactions): one queue operation per
batch rather than per transaction, which at thousands of transactions a second is a
measurable share of the node's interpreter.
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

    def put_many(self, items: list[Any]) -> None:
        """Order ``items`` after everything put before them."""
        if items:
            self._q.put(items)

    def close_one(self) -> None:
        """Each producer calls this once when it stops."""
        self._q.put(_CLOSE)

    def parts(self, producers: int) -> Iterator[tuple[list[Any], bool]]:
        """Yield each block in parts, ``(items, last)``, as its items arrive: a builder
        executes one part while the next arrives instead of waiting out the block's
        ``max_wait`` idle. A block's last part may be empty (the time ran out after a
        part was handed over); the time spent on a part counts against the block's."""
        q, open_, cap = self._q, producers, self.max_txs
        carry: list[Any] = []  # what did not fit in the last block
        while open_ or carry:
            if carry:
                part, carry = carry[:cap], carry[cap:]
            else:
                got = q.get()
                if got is _CLOSE:
                    open_ -= 1
                    continue
                part, carry = got[:cap], got[cap:]
            n = len(part)
            deadline = time.monotonic() + self.max_wait
            while n < cap and not carry and open_:
                try:
                    got = q.get_nowait()
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    if part:  # nothing more queued yet: let the builder run what it has
                        yield part, False
                        part = []
                        continue
                    try:
                        got = q.get(timeout=remaining)
                    except queue.Empty:
                        break
                if got is _CLOSE:
                    open_ -= 1
                    continue
                room = cap - n
                part.extend(got[:room])
                carry = got[room:]
                n += min(room, len(got))
            yield part, True
