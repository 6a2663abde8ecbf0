"""Write back what the blocks say the derived tables hold: the state, the meta rows and the
projection tables, in one transaction that first drops the indexes, triggers and views the
audit found supplyledger did not create, re-creates ``state`` and ``meta`` when they were
defined otherwise, and last creates again the indexes of supplyledger's that were missing
or redefined. Used by ``supplyledger repair`` after an audit found only these; the blocks
and transactions are never written here. Before it writes,
the repair asks what the query tables name that the blocks do not hold (a block height, a
transaction): the trace of blocks cut off the end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from supplyledger.contracts.projection import Table
from supplyledger.errors import StoreError
from supplyledger.store import tx_ids
from supplyledger.store.readonly import open_readonly
from supplyledger.store.sqlite import DB_NAME, connect, rollback

__all__ = ["DROPPABLE", "RECREATABLE", "Restored", "highest_heights", "restore_derived",
           "unknown_txs"]

# The schema objects restore_derived drops: none holds data (a table is dropped here only
# to be written back: a projection table, or one of RECREATABLE).
DROPPABLE = ("index", "trigger", "view")
# The core tables restore_derived re-creates: both hold derived data only.
RECREATABLE = ("state", "meta")


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
                try:  # an anti-join: txs' id prefix index answers each row
                    row = conn.execute(
                        f"SELECT t.{col} FROM {t.name} AS t LEFT JOIN txs "
                        f"ON {tx_ids.match('txs.id', f't.{col}')} "
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


class Restored(NamedTuple):
    dropped: list[str]  # "<type> <name>" of each object dropped
    created: list[str]  # "<type> <name>" of each object created again


def restore_derived(data_dir: Path, *, state: Iterable[tuple[str, bytes]] | None,
                    meta: Mapping[str, str] | None,
                    tables: Mapping[Table, Iterable[tuple[Any, ...]]],
                    drop: Mapping[str, tuple[str, str] | None] | None = None,
                    recreate: Mapping[str, str] | None = None,
                    create: Mapping[str, str] | None = None) -> Restored:
    """Drop each schema object named in ``drop`` that is an index, trigger or view, then
    replace the whole ``state`` table (when given), the ``meta`` rows (when given) and each
    of ``tables`` (dropped and re-created from its declaration, so a dropped column or index
    comes back too, its schema recorded in ``projection_schema``) with the given rows. A
    name in ``drop`` maps to the (table, SQL) of the index this release creates under it,
    if any: a dropped index of that name on that table is created again from that SQL.
    ``recreate`` maps ``state`` or ``meta`` (whose rows must then be given) to the SQL
    that creates it: the table is dropped and created again before its rows are written.
    ``create`` maps the name of an index, trigger or view to the SQL that creates it: it
    is created last, once the rows are in, if no object has that name.
    All or nothing, in one transaction."""
    recreate, create = recreate or {}, dict(create or {})
    for name in recreate:  # the record is never rewritten here
        if name not in RECREATABLE or {"state": state, "meta": meta}[name] is None:
            raise ValueError(f"restore_derived re-creates only state and meta, with their "
                             f"rows given, not {name!r}")
    conn = connect(Path(data_dir) / DB_NAME)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # First: a trigger on a table written back would fire on its rows.
            dropped = _drop_objects(conn, drop or {}, create)
            for name, sql in recreate.items():
                conn.execute(f"DROP TABLE IF EXISTS {name}")
                conn.execute(sql)
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
            # Last: a table re-created above took its indexes with it, and an index is
            # built faster over the rows than row by row.
            created = _create_objects(conn, create)
            conn.execute("COMMIT")
            return Restored(dropped, created)
        except BaseException:
            rollback(conn)
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"restoring the derived tables failed, nothing changed: {exc}") from exc
    finally:
        conn.close()


def _drop_objects(conn: sqlite3.Connection, drop: Mapping[str, tuple[str, str] | None],
                  create: dict[str, str]) -> list[str]:
    """Within the caller's transaction: see :func:`restore_derived`. A redefined index
    dropped here is added to ``create``."""
    dropped: list[str] = []
    for name, expected in drop.items():
        row = conn.execute("SELECT type, tbl_name FROM sqlite_master WHERE name=?",
                           (name,)).fetchone()
        if row is None or row[0] not in DROPPABLE:
            continue
        conn.execute(f"DROP {row[0].upper()} IF EXISTS {_quoted(name)}")
        dropped.append(f"{row[0]} {name}")
        if row[0] == "index" and expected is not None and expected[0] == row[1]:
            create.setdefault(name, expected[1])
    return dropped


def _create_objects(conn: sqlite3.Connection, create: Mapping[str, str]) -> list[str]:
    """Within the caller's transaction: each object of ``create`` that no object's name
    takes (a table written back may have brought it back already)."""
    created: list[str] = []
    for name, sql in create.items():
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchone():
            continue
        conn.execute(sql)
        row = conn.execute("SELECT type FROM sqlite_master WHERE name=?", (name,)).fetchone()
        created.append(f"{row[0] if row else 'object'} {name}")
    return created


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
