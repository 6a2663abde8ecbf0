"""The ledger directory's writer lock: one process at a time cuts blocks into a ledger.

SQLite lets several connections write one database file, so two nodes started on the same
directory (say `supplyledger serve` and `supplyledger tx submit`) would both cut block N+1
and one commit would fail after it had executed its transactions. The lock makes the second
writer stop before it does anything. It is an advisory ``flock`` on ``DIR/node.lock``: the
kernel drops it when the holder exits, even on SIGKILL, so a crash never leaves a stale
lock behind. Readers (audit, proofs, trace queries) do not take it. The file is opened
without following a symbolic link, since taking the lock rewrites it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from supplyledger.errors import LedgerInUse, StoreError

__all__ = ["LOCK_NAME", "WriterLock", "check_free"]

LOCK_NAME = "node.lock"


def _in_use(data_dir: Path, holder: str) -> LedgerInUse:
    return LedgerInUse(f"the ledger in {data_dir} is in use by {holder}; stop it first, or "
                       "send transactions through its API", holder=holder)


def check_free(data_dir: Path) -> None:
    """Raise :class:`LedgerInUse` if a process holds the lock now. For the commands that
    would take it only after asking for a password (``tx submit``, ``keys rotate``): the
    operator of a running node learns that first, not after typing the node key's
    password. Writes nothing; taking the lock afterwards is still what counts."""
    try:
        fd = os.open(Path(data_dir) / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # no lock file (no node ever ran here) or none to read: WriterLock says
        return
    try:
        # A shared lock conflicts only with the writer's exclusive one.
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
        raise _in_use(data_dir, holder) from None
    finally:
        os.close(fd)  # and with it the shared lock, if taken


def _lock_advice(exc: OSError, path: Path) -> str:
    if os.path.islink(path):
        return " (a symbolic link; remove it)"
    if isinstance(exc, PermissionError):
        # A directory made read-only, or a lock file left by a command run as another user.
        return (" (run the node as the user that owns the ledger directory, and give that "
                "user the directory and its files: chown -R)")
    return ""


class WriterLock:
    """Held from construction until :meth:`release` (or the process ends)."""

    def __init__(self, data_dir: Path, purpose: str = "node") -> None:
        self.path = Path(data_dir) / LOCK_NAME
        try:
            # O_NOFOLLOW: the file is truncated below, so never through a link to another.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file {self.path}: {exc.strerror}"
                             + _lock_advice(exc, self.path)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise _in_use(data_dir, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{purpose} (pid {os.getpid()})\n".encode())
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    @property
    def fd(self) -> int:
        """The locked descriptor: a child process that inherits it holds the lock too."""
        if self._fd is None:
            raise StoreError(f"the lock on {self.path} was released")
        return self._fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
