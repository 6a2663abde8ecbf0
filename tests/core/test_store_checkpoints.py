"""The store's background checkpoints keep the WAL bounded while readers never stop.

SQLite rewinds its WAL only when a write starts while no reader uses it; a node always has
readers (verifier processes, API threads), so without the checkpointer's RESTART rounds the
file grows by every committed page. Measured while writing this test, 5,000 one-page
commits under two busy readers: 6,700-15,000 frames without the restarts, under 1,000
with them. Before each RESTART, which holds the writer, passive passes catch up with the
commits so that it has little left to copy.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from supplyledger.store.sqlite import _Checkpointer, connect

FRAME = 4096 + 24  # page plus frame header


def test_wal_is_rewound_although_readers_never_stop(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    writer = connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")  # as the node's writer
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    checkpointer = _Checkpointer(path, interval_s=0.01, restart_frames=64)
    stop = threading.Event()

    def read() -> None:  # short lookups, one after another, like the verifiers'
        conn = connect(path)
        while not stop.is_set():
            conn.execute("SELECT v FROM t WHERE id=?", (7,)).fetchone()
        conn.close()

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    high = 0
    try:
        for i in range(5000):
            writer.execute("BEGIN")
            writer.execute("INSERT INTO t VALUES (?, ?)", (i, os.urandom(3000)))
            writer.execute("COMMIT")
            high = max(high, os.stat(f"{path}-wal").st_size)
    finally:
        stop.set()
        for r in readers:
            r.join()
        checkpointer.close()
    assert high < 3000 * FRAME, f"WAL grew to {high // FRAME} frames"
    writer.close()
    # Nothing committed was lost on the way, and the file alone holds all of it.
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        assert conn.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM t").fetchone() == (
            5000, 0, 4999)
    finally:
        conn.close()


class _Scripted(_Checkpointer):
    """The round's decisions on scripted pass results: no thread, no file."""

    def __init__(self, passes: list[tuple[int, int]]) -> None:  # (frames, copied) per pass
        self._restart_frames = 1000
        self.passes = passes
        self.calls: list[str] = []

    def _passive(self) -> tuple[int, int]:
        self.calls.append("passive")
        return self.passes.pop(0)

    def _restart(self) -> None:
        self.calls.append("restart")


@pytest.mark.parametrize(("passes", "calls"), [
    # Below the rewind threshold: one pass.
    ([(999, 999)], ["passive"]),
    # A reader holds part of the WAL: nothing more this round.
    ([(5000, 4000)], ["passive"]),
    # Catching up: the RESTART waits for a pass that found fewer than 100 new frames...
    ([(5000, 5000), (5600, 5600), (5650, 5650)], ["passive"] * 3 + ["restart"]),
    # ... or for three more passes at most, ...
    ([(5000, 5000), (5600, 5600), (6200, 6200), (6800, 6800)], ["passive"] * 4 + ["restart"]),
    # ... and is skipped when a reader holds back what a catch-up pass would copy.
    ([(5000, 5000), (5600, 5300)], ["passive"] * 2),
])
def test_a_restart_comes_after_passes_that_leave_it_little_to_copy(
        passes: list[tuple[int, int]], calls: list[str]) -> None:
    scripted = _Scripted(list(passes))
    scripted._round()
    assert scripted.calls == calls
