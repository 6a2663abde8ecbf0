"""Write back what the blocks say the derived tables hold: the state, the meta rows and the
projection tables, in one transaction. Used by ``supplyledger repair`` after an audit found
only these edited; the blocks and transactions are never written here. Before it writes,
the repair asks what the query tables name that the blocks do not hold (a block height, a
transaction): the trace of blocks cut off the end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from supplyledger.contracts.projection import Table
from supplyledger.errors import StoreError
from supplyledger.store.readonly import open_readonly
from supplyledger.store.sqlite import DB_NAME, connect, rollback

__all__ = ["highest_heights", "restore_derived", "unknown_txs"]


def highest_heights(data_dir: Path, tables: Iterable[Table]) -> dict[str, int]:
    """The highest ``height`` stored in each of ``tables`` that has that column (a block
    that a projection row names must still be stored)."""
    conn = open_readonly(data_dir)
    try:
        out: dict[str, int] = {}
        for t in tables:
            if "height" in t.column_names:
                try:
                    top = conn.execute(f"SELECT MAX(height) FROM {t.name}").fetchone()[0]
                except sqlite3.Error:  # dropped or edited: the audit named it already
                    continue
                if isinstance(top, int):
                    out[t.name] = top
        return out
    finally:
        conn.close()


def unknown_txs(data_dir: Path, tables: Iterable[Table]) -> dict[str, str]:
    """Per table of ``tables`` with a column naming a transaction (``tx``, ``*_tx``): one
    transaction id one of its rows names that the ``txs`` table does not hold."""
    conn = open_readonly(data_dir)
    try:
        out: dict[str, str] = {}
        for t in tables:
            for col in (c for c in t.column_names if c == "tx" or c.endswith("_tx")):
                try:  # an anti-join: txs' id index (or one SQLite builds) answers each row
                    row = conn.execute(
                        f"SELECT t.{col} FROM {t.name} AS t LEFT JOIN txs ON txs.id = t.{col} "
                        f"WHERE t.{col} IS NOT NULL AND t.{col} != '' AND txs.id IS NULL "
                        "LIMIT 1").fetchone()
                except sqlite3.Error:  # dropped or edited: the audit named it already
                    continue
                if row is not None:
                    out[t.name] = str(row[0])
                    break
        return out
    finally:
        conn.close()


def restore_derived(data_dir: Path, *, state: Iterable[tuple[str, bytes]] | None,
                    meta: Mapping[str, str] | None,
                    tables: Mapping[Table, Iterable[tuple[Any, ...]]]) -> None:
    """Replace the whole ``state`` table (when given), the ``meta`` rows (when given) and each
    of ``tables`` (dropped and re-created from its declaration, so a dropped column or index
    comes back too, its schema recorded in ``projection_schema``) with the given rows. All
    or nothing."""
    conn = connect(Path(data_dir) / DB_NAME)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if state is not None:
                conn.execute("DELETE FROM state")
                conn.executemany("INSERT INTO state (key, value) VALUES (?, ?)", state)
            if meta is not None:
                conn.execute("DELETE FROM meta")
                conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 sorted(meta.items()))
            for t, rows in tables.items():
                conn.execute(f"DROP TABLE IF EXISTS {t.name}")
                for stmt in t.ddl():
                    conn.execute(stmt)
                # As a node records it when it builds a table: the audit compares the rows
                # of a table built under this schema only.
                conn.execute("INSERT OR REPLACE INTO projection_schema (name, hash) VALUES "
                             "(?, ?)", (t.name, t.schema_hash))
                cols = t.column_names
                conn.executemany(f"INSERT INTO {t.name} ({', '.join(cols)}) VALUES "
                                 f"({', '.join('?' * len(cols))})", rows)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"restoring the derived tables failed, nothing changed: {exc}") from exc
    finally:
        conn.close()
