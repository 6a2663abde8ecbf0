"""How often the cyclic garbage collector runs in the processes of a node (its own, the commit
process, the verifier processes) and of an audit (its own and its workers, verifier
processes too).

Executing a transaction allocates a few dozen containers (the prepared call, its
receipt, writes, events, projection rows) that plain reference counting frees. At
CPython's default threshold (700 net container allocations) the collector still ran a
young collection every few dozen transactions and, with thousands of transactions in
flight, a full one every few thousand: ~30 µs per transaction, 10-12 % of the main
process at saturation (``gc.callbacks`` during ``supplyledger bench``). Raising the first
threshold keeps cycles collected, far less often.

Why 200,000: a block of 2,000 transactions in flight holds some 160,000 containers, so at
50,000 (the threshold before) the order-lifecycle benchmark still ran a young collection
every second or so, 40-60 ms each with the interpreter held, on the thread that builds
blocks: 0.42-0.48 s of a 20,000-lifecycle run. At 200,000 none ran in such a run (nor in
``supplyledger bench``'s half-load phase at either value), and lifecycles/s rose ~5 %
(docs/performance.md, session 24). The price is a longer pause when one does run, after
200,000 net allocations: up to about four times the 40-60 ms.

Verifier processes were left at the default until session 31: there each batch's parsed
envelopes, prepared calls and verdicts kept the young generation filling, and a verifier
spent 13-20 µs per transaction collecting (0.38-0.45 s per process in 19,000-34,000
transactions, ``gc.callbacks`` during ``supplyledger bench --txs 40000``); relaxed, none
ran, and the verifiers' CPU per transaction fell by about that much (docs/performance.md).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "relax_gc"]

YOUNG_THRESHOLD = 200_000


def relax_gc() -> None:
    """Raise the young-generation threshold to :data:`YOUNG_THRESHOLD` (never lower it)."""
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:  # 0 means disabled by the host: leave it
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
