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
per block, ``None`` once the block's transaction is committed (durably: the store's
``synchronous=FULL``) or the failure as text; it acknowledges nothing before that. The
child holds the ledger directory's writer lock with the node (the descriptor is inherited),
so no other writer can start while a commit the node sent may still be running, and it
exits when its stdin closes: when the node stops, or dies.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from supplyledger.contracts.projection import Op
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.errors import StoreError
from supplyledger.node.frames import read_frame, write_frame
from supplyledger.store.records import BlockRecord
from supplyledger.store.sqlite import SQLiteStore, block_rows

__all__ = ["CommitProcess"]


class CommitProcess:
    """The node's end: one block at a time, from one thread (the node's committer)."""

    def __init__(self, data_dir: Path, lock_fd: int) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "supplyledger.node.committer", str(data_dir),
             str(lock_fd)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(lock_fd,))

    def alive(self) -> bool:
        return self._proc.poll() is None

    def commit_block(self, rec: BlockRecord, writes: Sequence[tuple[str, bytes | None]],
                     ops: Sequence[Op]) -> None:
        """Return once the block is durable; raise :class:`StoreError` if it is not."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        with contextlib.suppress(OSError):  # the child is gone: reading its answer says so
            write_frame(stdin, marshal.dumps(block_rows(rec, writes, ops)))
        data = read_frame(stdout)
        if data is None:
            code = self._proc.wait()
            raise StoreError(f"commit of block {rec.height} failed: the commit process "
                             f"exited (code {code})")
        failure = marshal.loads(data)
        if failure is not None:
            raise StoreError(failure)

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
    store = SQLiteStore(Path(data_dir), all_tables(load_builtin()))  # the node's tables
    inp = sys.stdin.buffer
    try:
        while (data := read_frame(inp)) is not None:
            rows = marshal.loads(data)
            try:
                store.commit_rows(rows)
                answer: str | None = None
            except Exception as exc:  # the node stops on any failed commit, told why
                answer = str(exc) if isinstance(exc, StoreError) else (
                    f"commit of block {rows[0][0]} failed: {type(exc).__name__}: {exc}")
            write_frame(out, marshal.dumps(answer))
    finally:
        store.close()


if __name__ == "__main__":
    main()
