"""The node's commit process, made to die inside its N-th COMMIT (``driver.py
--die-in-commit``).

Run as ``python dying_committer.py NTH STAGE SEED DATA_DIR LOCK_FD`` in place of ``python -m
supplyledger.node.committer DATA_DIR LOCK_FD``. It wraps the store's writer connection, so it
only observes statements and changes nothing the commit process does, and at the chosen
instant SIGKILLs its whole process group: the driver, its verifier processes and itself, as
a crash of the machine would.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from supplyledger.node import committer
from supplyledger.store import sqlite as store_sqlite


def _die() -> None:
    os.killpg(os.getpgid(0), signal.SIGKILL)
    time.sleep(60)  # never reached; the kernel delivers SIGKILL first


class DyingConnection:
    """Delegates to a connection; SIGKILLs the process group in the N-th COMMIT."""

    def __init__(self, conn: sqlite3.Connection, nth: int, stage: str, seed: int) -> None:
        self._conn = conn
        self._nth = nth
        self._stage = stage
        self._commits = 0
        self._rng = random.Random(seed)

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            self._commits += 1
            if self._commits == self._nth:
                if self._stage == "before":
                    _die()
                elif self._stage == "during":
                    delay = self._rng.uniform(0.0, 0.004)
                    threading.Timer(delay, _die).start()
                    out = self._conn.execute(sql, *args)
                    print("driver: COMMIT returned before the kill", file=sys.stderr,
                          flush=True)
                    time.sleep(1.0)  # the timer fires while or just after COMMIT runs
                    return out
                else:
                    out = self._conn.execute(sql, *args)
                    _die()
                    return out
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def main() -> None:
    nth, stage, seed, data_dir, lock_fd = sys.argv[1:6]
    assert stage in ("before", "during", "after"), stage
    real_connect = store_sqlite.connect
    made: list[Any] = []

    def connect(path: Path, *, readonly: bool = False) -> Any:
        conn: Any = real_connect(path, readonly=readonly)
        if not made:  # the store's first connection is its writer
            conn = DyingConnection(conn, int(nth), stage, int(seed))
        made.append(conn)
        return conn

    store_sqlite.connect = connect
    committer.main([data_dir, lock_fd])


if __name__ == "__main__":
    main()
