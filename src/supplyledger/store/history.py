"""A ledger file read back in the order the audit re-checks it: blocks by height with their
transactions by position, the stored state and every projection table in key order, the
meta rows and the list of tables; plus the scratch database a re-execution writes into (the
state, the transaction ids seen and the projection tables as the blocks give them), to be
compared with the stored tables.

The store layer holds the only SQL (DESIGN.md, "Layers"), so the audit's queries live here
and ``node/audit.py`` keeps only the checking. Design decisions:

- **Streaming.** Whole-ledger reads return the SQLite cursor itself: rows arrive as plain
  tuples, one at a time, with no per-row Python work here (the audit is bound by its
  per-row cost). Range reads take block heights; the ``txs.pos`` encoding
  (``height * 2**20 + idx``, see ``store/migrations.py``) stays in this module, except
  that the audit groups the rows it reads by ``pos >> 20`` to check ``height`` and ``idx``
  against the position.
- **Plain values, as stored.** Nothing is decoded: headers, signatures, transactions,
  receipts and state values come back as SQLite holds them. On an intact ledger they are
  bytes, but the audit reads files someone may have edited through SQL, where a blob can
  have become TEXT or a number; :func:`stored_bytes` turns either back into bytes without
  failing, so the audit reports the damage instead of crashing on it.
- **Read-only.** The connections come from ``store/readonly.py``'s ``open_readonly``; these
  functions only read, except on the scratch database of :func:`scratch_tables`.
- **Bounded memory.** The scratch database is a private temporary file (SQLite deletes it on
  close) behind a page cache of :data:`SCRATCH_CACHE_KIB`: a re-execution holds neither the
  whole state nor every projection row in memory, however large the ledger. Small ledgers
  never leave the cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from supplyledger.contracts.projection import Table
from supplyledger.store import tx_ids

__all__ = ["SCRATCH_CACHE_KIB", "BlockRow", "StoredTx", "TxBlob", "block_hash", "block_rows",
           "meta", "nth_tx_height", "orphan_tx", "projection_schemas", "record_ids",
           "scratch_state",
           "scratch_state_rows", "scratch_tables", "state_rows", "stored_bytes", "table_rows",
           "top_height", "tx_blobs", "tx_count", "tx_raw", "tx_rows", "write_scratch_state"]

# (height, hash, header, signature, time); header and signature as stored (see stored_bytes)
BlockRow = tuple[int, str, Any, Any, int]
# (height, pos, idx, id, raw, receipt, signer, contract, method, ok)
StoredTx = tuple[int, int, int, str, Any, Any, str, str, str, int]
# (pos, id, raw)
TxBlob = tuple[int, str, Any]

SCRATCH_CACHE_KIB = 32 * 1024  # the scratch database's page cache
_PER_QUERY = 500  # bound parameters per IN (...), well under SQLite's limit


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


def nth_tx_height(conn: sqlite3.Connection, lo: int, n: int) -> int | None:
    """Height of the block holding the stored transaction ``n`` places after the first one
    of blocks ``lo`` and later (``n`` = 0: that first one); None with fewer stored. Lets the
    audit cut its work into ranges of about ``n`` transactions, whatever the block sizes."""
    row = conn.execute("SELECT pos FROM txs WHERE pos >= ? ORDER BY pos LIMIT 1 OFFSET ?",
                       (lo << 20, n)).fetchone()
    return None if row is None else int(row[0]) >> 20


def tx_raw(conn: sqlite3.Connection, tx_id: str) -> Any | None:
    """The stored signed bytes of transaction ``tx_id`` (as stored); None without it."""
    row = conn.execute(f"SELECT raw FROM txs WHERE {tx_ids.match('id', '?1')}",
                       (tx_id,)).fetchone()
    return None if row is None else row[0]


def tx_count(conn: sqlite3.Connection) -> int:
    """Stored transaction rows, in blocks or not."""
    return int(conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0])


def orphan_tx(conn: sqlite3.Connection) -> Any | None:
    """Id (as stored) of one stored transaction whose height, or the block its position
    falls in, has no stored block, if any."""
    row = conn.execute("SELECT id FROM txs WHERE height NOT IN (SELECT height FROM blocks) "
                       "OR (pos >> 20) NOT IN (SELECT height FROM blocks) LIMIT 1").fetchone()
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


def projection_schemas(conn: sqlite3.Connection) -> dict[str, Any]:
    """Projection table name to the schema hash (as stored) the ledger's tables were built
    with (``SQLiteStore.ensure_projections`` records it). Raises ``sqlite3.Error`` when the
    record itself is unreadable."""
    return dict(conn.execute("SELECT name, hash FROM projection_schema").fetchall())


def table_rows(conn: sqlite3.Connection, table: Table) -> Iterator[tuple[Any, ...]]:
    """Rows of projection table ``table`` (its declared columns) in primary-key order.
    Raises ``sqlite3.Error`` at once when the stored table is missing or lacks a column."""
    cols = ", ".join(table.column_names)
    order = ", ".join(table.primary_key)
    return conn.execute(f"SELECT {cols} FROM {table.name} ORDER BY {order}")


def scratch_tables(tables: Iterable[Table]) -> sqlite3.Connection:
    """A scratch database (a private temporary file, deleted on close) with empty ``tables``,
    the re-executed state and the transaction ids seen, in one open transaction (a rebuild
    writes every projection row of the ledger: one commit instead of one per statement).
    Write projections with ``store.sqlite.apply_ops`` and the rest with
    :func:`write_scratch_state` and :func:`record_ids`; ``commit()``, then read with
    :func:`table_rows` and :func:`scratch_state_rows`."""
    conn = sqlite3.connect("", isolation_level=None)  # "": a private temporary file
    conn.execute(f"PRAGMA cache_size=-{SCRATCH_CACHE_KIB}")
    conn.execute("CREATE TABLE scratch_state (key TEXT PRIMARY KEY, value BLOB NOT NULL) "
                 "WITHOUT ROWID")
    conn.execute("CREATE TABLE scratch_ids (id TEXT PRIMARY KEY, pos INTEGER NOT NULL) "
                 "WITHOUT ROWID")
    for t in tables:
        for stmt in t.ddl():
            conn.execute(stmt)
    conn.execute("BEGIN")
    return conn


def write_scratch_state(conn: sqlite3.Connection,
                        writes: Iterable[tuple[str, bytes | None]]) -> None:
    """Apply a block's write set (None: the key was deleted) to the scratch state."""
    writes = list(writes)
    conn.executemany("INSERT OR REPLACE INTO scratch_state VALUES (?,?)",
                     [(k, v) for k, v in writes if v is not None])
    conn.executemany("DELETE FROM scratch_state WHERE key=?",
                     [(k,) for k, v in writes if v is None])


def scratch_state(conn: sqlite3.Connection, keys: list[str]) -> dict[str, bytes]:
    """The scratch state's values of those ``keys`` it holds."""
    out: dict[str, bytes] = {}
    for i in range(0, len(keys), _PER_QUERY):
        part = keys[i:i + _PER_QUERY]
        out.update(conn.execute("SELECT key, value FROM scratch_state WHERE key IN "
                                f"({','.join('?' * len(part))})", part).fetchall())
    return out


def scratch_state_rows(conn: sqlite3.Connection) -> Iterator[tuple[str, bytes]]:
    """(key, value) of the scratch state in key order (the stored state's order)."""
    return conn.execute("SELECT key, value FROM scratch_state ORDER BY key")


def record_ids(conn: sqlite3.Connection, ids: list[tuple[str, int]]) -> set[int]:
    """Record transaction ids with the position each was found at (``(id, pos)``); returns
    the positions whose id was recorded before at another position (a repeated
    transaction). The common case, no repeat, costs one batched insert."""
    before = conn.total_changes
    conn.executemany("INSERT OR IGNORE INTO scratch_ids VALUES (?,?)", ids)
    if conn.total_changes - before == len(ids):
        return set()
    first: dict[str, int] = {}
    for i in range(0, len(ids), _PER_QUERY):
        part = [t[0] for t in ids[i:i + _PER_QUERY]]
        first.update(conn.execute("SELECT id, pos FROM scratch_ids WHERE id IN "
                                  f"({','.join('?' * len(part))})", part).fetchall())
    return {pos for tx_id, pos in ids if first.get(tx_id) != pos}
