"""Block commits in a process of their own.

SQLite releases the interpreter lock while it writes, but it needs the lock back between
rows, and in the node's process the block builder holds it most of the time: a commit
there took about twice its CPU time in waiting (docs/performance.md, session 16). A
process of its own has an interpreter of its own, so building block k+1 and writing block
k run on both cores.

The frames are the verifiers' (length-prefixed, over the child's stdin and stdout), their
contents ``marshal``-ed: a block goes as its rows in built-in types
(:func:`~supplyledger.store.sqlite.block_rows`), several times faster to encode than the
node's records pickled, and both ends are the same interpreter. The node reads one answer
per block, in order: ``None`` once the block's transaction is committed (durably: the
store's ``synchronous=FULL``) or the failure as text, with the time the child took; it
acknowledges nothing before that. It sends block k+1 while k commits; once a commit fails
the child writes no later block (a block after a gap must not land). The child holds the
ledger directory's writer lock with the node (the descriptor is inherited), so no other
writer can start while a commit the node sent may still be running, and it exits when its
stdin closes: when the node stops, or dies.

The child also projects each block (events to query-table rows,
:func:`~supplyledger.node.projections.block_op_rows`) from what the block records, which
the node's executor then skips: making the rows and marshalling them cost the block
builder's interpreter more than decoding the receipts costs here (docs/performance.md,
session 25). The node adds what a block does not hold in a usable form: each call's
signed time and the prepared values of calls whose method prepares its arguments.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.errors import StoreError
from supplyledger.node.frames import read_frame, write_frame
from supplyledger.node.gc_policy import relax_gc
from supplyledger.node.projections import block_op_rows
from supplyledger.store.records import BlockRecord
from supplyledger.store.sqlite import SQLiteStore, block_rows

__all__ = ["CommitProcess", "ProjectionSource"]

# What projecting a block needs besides its rows (node/projections.block_op_rows): each
# call's signed time, and by index the values of calls whose method has a prepare step.
ProjectionSource = tuple[list[int], dict[int, Any]]


class CommitProcess:
    """The node's end. One thread sends blocks (:meth:`send`) and another reads their
    answers in the same order (:meth:`answer`), so the child can start on the next block
    while the node acknowledges the last one."""

    def __init__(self, data_dir: Path, lock_fd: int) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "supplyledger.node.committer", str(data_dir),
             str(lock_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(lock_fd,))

    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def pid(self) -> int:
        return self._proc.pid

    def send(self, rec: BlockRecord, writes: Sequence[tuple[str, bytes | None]],
             source: ProjectionSource) -> None:
        """Hand the block over. Returns once the child has most of it: a block is larger
        than the pipe, so at most one waits while the child commits another."""
        stdin = self._proc.stdin
        assert stdin is not None
        times, prepared = source
        # Prepared values came from the verifier processes pickled; marshal may not take them.
        frame = (block_rows(rec, writes, ()), times,
                 pickle.dumps(prepared, protocol=5) if prepared else b"")
        with contextlib.suppress(OSError):  # the child is gone: reading its answer says so
            write_frame(stdin, marshal.dumps(frame))

    def answer(self, height: int) -> int:
        """Return once the oldest block sent (at ``height``) is durable, with the
        nanoseconds the child took to write it; raise :class:`StoreError` if it is not."""
        stdout = self._proc.stdout
        assert stdout is not None
        data = read_frame(stdout)
        if data is None:
            code = self._proc.wait()
            raise StoreError(f"commit of block {height} failed: the commit process "
                             f"exited (code {code})")
        failure, took_ns = marshal.loads(data)
        if failure is not None:
            raise StoreError(failure)
        return int(took_ns)

    def close(self) -> None:
        """Stop the child; called once every commit sent has been answered."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # idle yet not exiting: nothing of ours is lost
            self._proc.kill()
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m supplyledger.node.committer DATA_DIR LOCK_FD``: commits until stdin
    closes."""
    data_dir, _lock_fd = (argv or sys.argv[1:])[:2]
    # Ctrl-C reaches the whole process group: the node drains and then closes our stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    relax_gc()  # projecting a block allocates as executing does in the node
    contracts = load_builtin()
    store = SQLiteStore(Path(data_dir), all_tables(contracts))  # the node's tables
    inp = sys.stdin.buffer
    failed: str | None = None
    try:
        while (data := read_frame(inp)) is not None:
            rows, times, prepared = marshal.loads(data)
            if failed is not None:  # the node stops; a block after a gap must not land
                write_frame(out, marshal.dumps(
                    (f"commit of block {rows[0][0]} not attempted: {failed}", 0)))
                continue
            started = time.perf_counter_ns()
            try:
                block, txs, writes, _ = rows
                values = pickle.loads(prepared) if prepared else {}
                store.commit_rows((block, txs, writes,
                                   block_op_rows(contracts, txs, times, values)))
                answer: str | None = None
            except Exception as exc:  # the node stops on any failed commit, told why
                answer = str(exc) if isinstance(exc, StoreError) else (
                    f"commit of block {rows[0][0]} failed: {type(exc).__name__}: {exc}")
                failed = answer
            write_frame(out, marshal.dumps((answer, time.perf_counter_ns() - started)))
    finally:
        store.close()


if __name__ == "__main__":
    main()
