"""How often the cyclic garbage collector runs in a process that hosts a node or an audit.

Executing a transaction allocates a few dozen containers (the prepared call, its
receipt, writes, events, projection rows) that plain reference counting frees. At
CPython's default threshold (700 net container allocations) the collector still ran a
young collection every few dozen transactions and, with thousands of transactions in
flight, a full one every few thousand: ~30 µs per transaction, 10-12 % of the main
process at saturation (``gc.callbacks`` during ``supplyledger bench``). Raising the first
threshold keeps cycles collected, about seventy times less often.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "relax_gc"]

YOUNG_THRESHOLD = 50_000


def relax_gc() -> None:
    """Raise the young-generation threshold to :data:`YOUNG_THRESHOLD` (never lower it)."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:  # 0 means disabled by the host: leave it
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
