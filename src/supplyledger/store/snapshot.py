"""A consistent copy of a ledger's database taken while its node may be writing: SQLite's
online backup in one step reads a single snapshot of the WAL database, so the copy ends at
a committed block, never inside one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from supplyledger.errors import StoreError
from supplyledger.store.readonly import open_readonly
from supplyledger.store.sqlite import DB_NAME, connect, own_file

__all__ = ["snapshot_db"]


def snapshot_db(data_dir: Path, out_dir: Path) -> int:
    """Copy ``data_dir``'s database into ``out_dir`` (which must not hold one); returns the
    copy's top block height. Login sessions are not carried over: a restored node starts
    with nobody logged in. Errors say which side failed: the ledger read, or the copy
    written (a full disk, a directory it may not write)."""
    target = Path(out_dir) / DB_NAME
    src = open_readonly(data_dir)
    try:
        try:
            src.execute("SELECT 1 FROM blocks LIMIT 1")  # reads the file: a foreign one fails
        except sqlite3.Error as exc:  # a damaged or foreign file: a clear error, not a trace
            raise StoreError(f"reading the database of {data_dir} failed: {exc}") from exc
        try:
            return _snapshot(src, target)
        except sqlite3.Error as exc:
            raise StoreError(f"writing the copy {target} failed: {exc}") from exc
    finally:
        src.close()


def _snapshot(src: sqlite3.Connection, target: Path) -> int:
    own_file(target)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
        dst.execute("DELETE FROM local_sessions")
        dst.commit()
    finally:
        dst.close()
    conn = connect(target)  # the node's settings: WAL, full sync
    try:
        row = conn.execute("SELECT MAX(height) FROM blocks").fetchone()
    finally:
        conn.close()
    return int(row[0]) if row and row[0] is not None else -1
