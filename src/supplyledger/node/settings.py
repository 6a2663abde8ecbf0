"""Node settings: one frozen object built at the edge (CLI/API) and passed down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    # A block is cut at whichever comes first: this many txs, or this many ms after the
    # node's block builder took the block's first tx (node/orderer.py).
    block_max_txs: int = 2000
    block_max_ms: int = 20
    # Accepted |tx time - node clock|. Replays older than this fail as stale, so the node
    # only remembers ids inside the window.
    time_window_ms: int = 300_000
    max_tx_bytes: int = 64 * 1024
    # Processes that parse and verify submissions (0: a thread of this process instead,
    # for small nodes and tests where process start-up would dominate).
    verify_workers: int = 2
    # A transaction at least this large (a whole EPCIS document) is prepared in shares by
    # every verifier process at once, when its method can be split.
    split_tx_bytes: int = 256 * 1024
    # Admission limit: beyond this many unfinished submissions new ones get Overloaded.
    max_pending: int = 100_000
    # State values the executor keeps in memory above the store; past this many it drops
    # the ones already committed, so a long-running node's memory stays bounded.
    state_cache_keys: int = 500_000
