"""A ledger file read back in the order the audit re-checks it: blocks by height with their
transactions by position, the stored state and every projection table in key order, the
meta rows and the list of tables; plus the in-memory database a projection rebuild writes
into, to be compared with the stored tables.

The store layer holds the only SQL (DESIGN.md, "Layers"), so the audit's queries live here
and ``node/audit.py`` keeps only the checking. Design decisions:

- **Streaming.** Whole-ledger reads return the SQLite cursor itself: rows arrive as plain
  tuples, one at a time, with no per-row Python work here (the audit is bound by its
  per-row cost). Range reads take block heights; the ``txs.pos`` encoding
  (``height * 2**20 + idx``, see ``store/migrations.py``) stays in this module.
- **Plain values, as stored.** Nothing is decoded: headers, signatures, transactions,
  receipts and state values come back as SQLite holds them. On an intact ledger they are
  bytes, but the audit reads files someone may have edited through SQL, where a blob can
  have become TEXT or a number; :func:`stored_bytes` turns either back into bytes without
  failing, so the audit reports the damage instead of crashing on it.
- **Read-only.** The connections come from ``store/readonly.py``'s ``open_readonly``; these
  functions only read, except on the scratch database of :func:`scratch_tables`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from supplyledger.contracts.projection import Table

__all__ = ["BlockRow", "StoredTx", "TxBlob", "block_hash", "block_rows", "meta", "orphan_tx",
           "scratch_tables", "state_rows", "stored_bytes", "table_rows",
           "top_height", "tx_blobs", "tx_count", "tx_raw", "tx_rows"]

# (height, hash, header, signature, time); header and signature as stored (see stored_bytes)
BlockRow = tuple[int, str, Any, Any, int]
# (height, pos, idx, id, raw, receipt, signer, contract, method, ok)
StoredTx = tuple[int, int, int, str, Any, Any, str, str, str, int]
# (pos, id, raw)
TxBlob = tuple[int, str, Any]


def _positions(lo: int, hi: int) -> tuple[int, int]:
    """First and last ``txs.pos`` of blocks ``lo``..``hi``."""
    return lo << 20, ((hi + 1) << 20) - 1


def stored_bytes(value: Any) -> bytes:
    """Stored blobs as bytes; an edit through SQL may have turned one into TEXT or a number."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


# -- blocks and transactions --------------------------------------------------------------
def top_height(conn: sqlite3.Connection) -> int:
    """Height of the newest stored block; -1 without blocks."""
    top = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
    return -1 if top is None else int(top)


def block_rows(conn: sqlite3.Connection, lo: int, hi: int) -> Iterator[BlockRow]:
    """Stored blocks ``lo``..``hi`` in height order (gaps are the caller's finding)."""
    return conn.execute("SELECT height, hash, header, signature, time FROM blocks "
                        "WHERE height BETWEEN ? AND ? ORDER BY height", (lo, hi))


def tx_rows(conn: sqlite3.Connection, lo: int, hi: int) -> Iterator[StoredTx]:
    """Stored transactions of blocks ``lo``..``hi`` in block order, then index order."""
    return conn.execute("SELECT height, pos, idx, id, raw, receipt, signer, contract, "
                        "method, ok FROM txs WHERE pos BETWEEN ? AND ? ORDER BY pos",
                        _positions(lo, hi))


def tx_blobs(conn: sqlite3.Connection, lo: int, hi: int) -> list[TxBlob]:
    """(pos, id, raw) of the transactions of blocks ``lo``..``hi`` in block order: what an
    audit worker process checks without state. A list: a worker answers for all at once."""
    rows: list[TxBlob] = conn.execute(
        "SELECT pos, id, raw FROM txs WHERE pos BETWEEN ? AND ? ORDER BY pos",
        _positions(lo, hi)).fetchall()
    return rows


def tx_raw(conn: sqlite3.Connection, tx_id: str) -> Any | None:
    """The stored signed bytes of transaction ``tx_id`` (as stored); None without it."""
    row = conn.execute("SELECT raw FROM txs WHERE id=?", (tx_id,)).fetchone()
    return None if row is None else row[0]


def tx_count(conn: sqlite3.Connection) -> int:
    """Stored transaction rows, in blocks or not."""
    return int(conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0])


def orphan_tx(conn: sqlite3.Connection) -> Any | None:
    """Id (as stored) of one stored transaction whose height has no stored block, if any."""
    row = conn.execute("SELECT id FROM txs WHERE height NOT IN "
                       "(SELECT height FROM blocks) LIMIT 1").fetchone()
    return None if row is None else row[0]


def block_hash(conn: sqlite3.Connection, height: int) -> Any | None:
    """The stored hash column of block ``height`` (as stored); None without the block."""
    row = conn.execute("SELECT hash FROM blocks WHERE height=?", (height,)).fetchone()
    return None if row is None else row[0]


# -- state, meta, tables -------------------------------------------------------------------
def state_rows(conn: sqlite3.Connection) -> Iterator[tuple[str, Any]]:
    """(key, value as stored) of the stored state in key order."""
    return conn.execute("SELECT key, value FROM state ORDER BY key")


def meta(conn: sqlite3.Connection) -> dict[str, Any]:
    """The meta rows, key to value as stored."""
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def table_rows(conn: sqlite3.Connection, table: Table) -> Iterator[tuple[Any, ...]]:
    """Rows of projection table ``table`` (its declared columns) in primary-key order.
    Raises ``sqlite3.Error`` at once when the stored table is missing or lacks a column."""
    cols = ", ".join(table.column_names)
    order = ", ".join(table.primary_key)
    return conn.execute(f"SELECT {cols} FROM {table.name} ORDER BY {order}")


def scratch_tables(tables: Iterable[Table]) -> sqlite3.Connection:
    """An in-memory database with empty ``tables``, in one open transaction (a rebuild
    writes every projection row of the ledger: one commit instead of one per statement).
    Write with ``store.sqlite.apply_ops``; ``commit()``, then read with
    :func:`table_rows`."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for t in tables:
        for stmt in t.ddl():
            conn.execute(stmt)
    conn.execute("BEGIN")
    return conn
