"""SQLite store: WAL mode, one writer connection, one durable commit per block.

``synchronous=FULL`` makes each block's commit reach the disk before it returns, which is
what lets the node acknowledge a transaction only after its block is durable. Readers use
their own connections (one per thread) and never block the writer under WAL.

Copying the WAL back into the database file (a checkpoint, with its own fsync) is taken
off the commit path: the writer does not checkpoint automatically, and once the store
has written, a background thread runs passive checkpoints (they never wait for or block
the writer) a few times a second, and a full one at close. Durability is unchanged — a
commit is durable once its WAL frames are synced.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from supplyledger.contracts.projection import Delete, Op, Table, Update, Upsert
from supplyledger.errors import MigrationError, StoreError
from supplyledger.store import tx_ids
from supplyledger.store.migrations import MIGRATIONS
from supplyledger.store.records import BlockRecord

__all__ = ["BlockRows", "OpRow", "SQLiteStore", "apply_op_rows", "apply_ops", "block_rows",
           "connect", "op_row", "own_file", "rollback"]

DB_NAME = "ledger.sqlite"


def own_file(path: Path) -> None:
    """Create the database file ``path``, if there is none, readable by its owner only, as
    the key files are: it holds the web logins' password hashes and sealed keys, and
    SQLite gives its ``-wal`` and ``-shm`` files the database's permissions."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A connection with the node's settings (WAL, full sync), for the store's own
    connections and the store modules that write outside a node (restore, snapshot); a
    new file is its owner's only (:func:`own_file`)."""
    if not readonly:
        own_file(path)
    uri = f"file:{path}{'?mode=ro' if readonly else ''}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any: SQLite has already rolled back one that
    failed on a full disk or an I/O error, and a second ROLLBACK would raise "no
    transaction is active" in place of the error that says what happened."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def apply_ops(conn: sqlite3.Connection, tables: dict[str, Table], ops: Iterable[Op]) -> None:
    """Apply projection operations, batching runs of the same statement (see
    :func:`apply_op_rows`)."""
    apply_op_rows(conn, tables, [op_row(op) for op in ops])


UPSERT, UPDATE, DELETE = range(3)
# A projection operation as built-in values, so a block's can be marshal-ed to the commit
# process (node/committer.py): (UPSERT, table, row), (UPDATE, table, key, ((column, value),
# ...)) or (DELETE, table, key).
OpRow = tuple[Any, ...]


def op_row(op: Op) -> OpRow:
    t = type(op)
    if t is Upsert:  # most ops
        return (UPSERT, *op)
    if t is Update:
        return (UPDATE, *op)
    assert t is Delete, t
    return (DELETE, *op)


def apply_op_rows(conn: sqlite3.Connection, tables: dict[str, Table],
                  ops: Iterable[OpRow]) -> None:
    """Apply projection operations (:func:`op_row`), batching runs of the same statement.

    Projection tables have no triggers or foreign keys, so operations on different tables
    commute: they are applied table by table, each table's in their order. A block's
    transactions interleave tables (an order row, its event, a balance, ...); grouped,
    each table's rows go to SQLite in one call instead of one call per run."""
    by_table: defaultdict[str, list[OpRow]] = defaultdict(list)
    for op in ops:
        by_table[op[1]].append(op)
    for name, table_ops in by_table.items():
        t = tables[name]
        where = " AND ".join(f"{k}=?" for k in t.primary_key)
        upsert = f"INSERT OR REPLACE INTO {name} VALUES ({','.join('?' * len(t.columns))})"
        delete = f"DELETE FROM {name} WHERE {where}"
        updates: dict[tuple[str, ...], str] = {}  # columns set -> statement
        batch_sql = ""
        batch: list[Sequence[Any]] = []
        for op in table_ops:
            kind = op[0]
            if kind == UPSERT:  # most ops
                sql = upsert
                params: Sequence[Any] = op[2]
            elif kind == UPDATE:
                cols, vals = zip(*op[3], strict=True) if op[3] else ((), ())
                sql = updates.get(cols) or updates.setdefault(
                    cols, f"UPDATE {name} SET {','.join(f'{c}=?' for c in cols)} WHERE {where}")
                params = (*vals, *op[2])
            else:
                assert kind == DELETE
                sql = delete
                params = op[2]
            if sql != batch_sql:
                if batch:
                    conn.executemany(batch_sql, batch)
                batch_sql, batch = sql, []
            batch.append(params)
        if batch:
            conn.executemany(batch_sql, batch)


# Transaction, receipt and state bytes are bound as bytearray: sqlite3 binds that type
# directly, while bytes take its adaptation path (two failed attribute look-ups, an
# exception formatted and cleared), which costs more than the copy.
_blob = bytearray


# A block as the rows it adds, in built-in types only, so the node can hand it to the
# process that commits it with `marshal` (node/committer.py): (blocks row, txs rows, state
# writes, projection operations as :func:`op_row` gives them).
BlockRows = tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[str, bytes | None]],
                  list[OpRow]]


def block_rows(rec: BlockRecord, writes: Sequence[tuple[str, bytes | None]],
               ops: Sequence[Op]) -> BlockRows:
    base = rec.height << 20
    return ((rec.height, rec.hash, rec.header, rec.signature, rec.time),
            [(base + t.index, t.id, rec.height, t.index, t.raw, t.signer, t.contract, t.method,
              int(t.ok), t.receipt) for t in rec.txs],
            writes if isinstance(writes, list) else list(writes),
            [op_row(op) for op in ops])


# 64 MB of 4 KB pages. Past this the WAL is rewound after a complete checkpoint (below).
RESTART_FRAMES = 16_384
# Passive passes before a RESTART, and the new frames (a fraction of one block's pages)
# below which the WAL counts as caught up.
CATCH_UP_PASSES = 3
CATCH_UP_FRAMES = 100


class _Checkpointer:
    """WAL checkpoints on a connection and thread of their own.

    Passive checkpoints never block the writer. But SQLite rewinds the WAL only when a write
    starts while no reader still uses it, and a busy node always has readers (verifier
    processes, API threads): the file then grows by every committed page, past 2 GB within
    a two-minute benchmark. So once the WAL holds ``restart_frames`` frames, all of them
    copied, a RESTART checkpoint waits up to 25 ms for the readers of older snapshots and
    makes the next commit write from the start of the file again; when they take longer it
    gives up, and the next round tries again.

    A RESTART holds the writer while it copies what was committed since the pass before it
    and syncs the database file: behind it, commits stalled 60-150 ms once a second in a
    200,000-transaction benchmark. So up to ``CATCH_UP_PASSES`` more passive passes run
    first, until one finds fewer than ``CATCH_UP_FRAMES`` new frames, and the RESTART has
    little left to copy (docs/performance.md, session 30).
    """

    def __init__(self, path: Path, interval_s: float = 0.25,
                 restart_frames: int = RESTART_FRAMES) -> None:
        self._conn = connect(path)
        self._conn.execute("PRAGMA busy_timeout=25")
        self._interval = interval_s
        self._restart_frames = restart_frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sl-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            # Busy: the next round (or close) catches up.
            with contextlib.suppress(sqlite3.Error):
                self._round()

    def _round(self) -> None:
        frames, copied = self._passive()
        if frames < self._restart_frames or copied < frames:
            return
        for _ in range(CATCH_UP_PASSES):
            before = frames
            frames, copied = self._passive()
            if copied < frames:  # a reader holds part of the WAL: the next round tries again
                return
            if frames - before < CATCH_UP_FRAMES:
                break
        self._restart()

    def _passive(self) -> tuple[int, int]:
        """(frames in the WAL, frames copied into the database file)."""
        _, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied

    def _restart(self) -> None:
        self._conn.execute("PRAGMA wal_checkpoint(RESTART)")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        # A reader may still hold a snapshot: then the next writer's checkpoints resume.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()


class SQLiteStore:
    def __init__(self, data_dir: Path, tables: Sequence[Table] = (), *,
                 migrations: Sequence[tuple[int, str, str]] = MIGRATIONS) -> None:
        """Open (or create) the ledger in ``data_dir`` and run the ``migrations`` it has
        not recorded: all of them, but for the audit's picture of an earlier schema."""
        self.path = Path(data_dir) / DB_NAME
        self.tables = {t.name: t for t in tables}
        self._local = threading.local()
        self._writer = connect(self.path)
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer: _Checkpointer | None = None
        self._migrate(migrations)

    def _wrote(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = _Checkpointer(self.path)

    # -- schema ---------------------------------------------------------------------------
    def _migrate(self, migrations: Sequence[tuple[int, str, str]]) -> None:
        c = self._writer
        c.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                  "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        done = {r[0] for r in c.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations:
            if version in done:
                continue
            try:
                c.execute("BEGIN IMMEDIATE")
                for stmt in filter(str.strip, sql.split(";")):
                    c.execute(stmt)
                c.execute("INSERT INTO schema_migrations VALUES (?,?,?)",
                          (version, name, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
                c.execute("COMMIT")
            except sqlite3.Error as exc:
                rollback(c)
                raise MigrationError(f"migration {version} ({name}) failed: {exc}") from exc

    def check_writable(self) -> None:
        """Raise :class:`StoreError` when this process cannot write the database. SQLite
        opens a file it may not write read-only without a word, and only the first write
        fails; a node would then serve while refusing every login and block. A write that
        changes nothing finds out at once (a full disk it does not find: that needs a
        page written; the first commit stops the node then)."""
        try:
            self._writer.execute("BEGIN IMMEDIATE")
            self._writer.execute("DELETE FROM schema_migrations WHERE 0")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path} cannot be written: {exc}; make the ledger "
                             "directory and its files writable by the node's user (the "
                             "owner of the key files)") from exc
        finally:
            rollback(self._writer)

    def ensure_projections(self, refill: Callable[[list[str]], Iterable[Op]] | None = None
                           ) -> list[str]:
        """Create projection tables; drop those whose schema changed. Returns their names.
        ``refill(names)`` gives their rows (the blocks' events replayed), written in the
        same transaction as the drop and the schema record: a process stopped during the
        rebuild (Ctrl-C on a long first start after an upgrade) leaves the old tables, so
        the next start rebuilds them, instead of empty ones recorded as current."""
        c = self._writer
        known = dict(c.execute("SELECT name, hash FROM projection_schema").fetchall())
        stale: list[str] = []
        c.execute("BEGIN IMMEDIATE")
        try:
            for t in self.tables.values():
                if known.get(t.name) != t.schema_hash:
                    c.execute(f"DROP TABLE IF EXISTS {t.name}")
                    stale.append(t.name)
                    # Recorded only when it changed: a start that rebuilds nothing writes
                    # nothing (a full disk, a ledger this release then refuses).
                    c.execute("INSERT OR REPLACE INTO projection_schema VALUES (?,?)",
                              (t.name, t.schema_hash))
                for stmt in t.ddl():
                    c.execute(stmt)
            if stale and refill is not None:
                apply_ops(c, self.tables, [op for op in refill(stale) if op.table in stale])
            c.execute("COMMIT")
        except BaseException as exc:
            rollback(c)
            if isinstance(exc, sqlite3.Error):
                what = f"rebuilding {', '.join(stale)}" if stale else "checking them"
                raise StoreError(f"preparing the query tables ({what}) failed, nothing "
                                 f"changed: {exc}") from exc
            raise
        return stale

    # -- reads ----------------------------------------------------------------------------
    def reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
        return conn

    def height(self) -> int:
        row = self.reader().execute("SELECT MAX(height) FROM blocks").fetchone()
        return -1 if row[0] is None else int(row[0])

    def get_state(self, key: str) -> bytes | None:
        row = self.reader().execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def get_states(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The stored values of those ``keys`` that exist (one query per 500 keys)."""
        out: dict[str, bytes] = {}
        conn = self.reader()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            out.update((k, bytes(v)) for k, v in conn.execute(
                f"SELECT key, value FROM state WHERE key IN ({','.join('?' * len(part))})",
                part))
        return out

    def get_meta(self, key: str) -> str | None:
        row = self.reader().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def block(self, height: int) -> tuple[str, bytes, bytes] | None:
        row = self.reader().execute(
            "SELECT hash, header, signature FROM blocks WHERE height=?", (height,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]), bytes(row[2]))

    def block_txs(self, height: int) -> list[tuple[str, int, bytes, bytes]]:
        return [(r[0], r[1], bytes(r[2]), bytes(r[3])) for r in self.reader().execute(
            "SELECT id, idx, raw, receipt FROM txs WHERE pos BETWEEN ? AND ? ORDER BY pos",
            (height << 20, (height << 20) + (1 << 20) - 1))]

    def tx_location(self, tx_id: str) -> tuple[int, int] | None:
        row = self.reader().execute(
            f"SELECT height, idx FROM txs WHERE {tx_ids.match('id', '?1')}",
            (tx_id,)).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def has_tx(self, tx_id: str) -> bool:
        return self.tx_location(tx_id) is not None

    def iter_blocks(self, start: int = 0, end: int | None = None) -> Iterator[
            tuple[int, str, bytes, bytes, list[tuple[str, int, bytes, bytes]]]]:
        """Blocks with their txs, in height order; reads in chunks to bound memory."""
        conn = connect(self.path, readonly=True)
        try:
            top = self.height() if end is None else end
            h = start
            while h <= top:
                hi = min(top, h + 63)
                txs: dict[int, list[tuple[str, int, bytes, bytes]]] = {}
                for r in conn.execute("SELECT height, id, idx, raw, receipt FROM txs "
                                      "WHERE pos BETWEEN ? AND ? ORDER BY pos",
                                      (h << 20, ((hi + 1) << 20) - 1)):
                    txs.setdefault(r[0], []).append((r[1], r[2], bytes(r[3]), bytes(r[4])))
                for r in conn.execute("SELECT height, hash, header, signature FROM blocks "
                                      "WHERE height BETWEEN ? AND ? ORDER BY height", (h, hi)):
                    yield r[0], r[1], bytes(r[2]), bytes(r[3]), txs.get(r[0], [])
                h = hi + 1
        finally:
            conn.close()

    # -- traceability reads (supplyledger.node.queries) ----------------------------------
    def _select_in(self, sql: str, values: Sequence[Any], extra: Sequence[Any] = ()) -> (
            list[tuple[Any, ...]]):
        """Run ``sql`` (with ``{inn}`` where the IN list goes) over ``values`` in chunks."""
        out: list[tuple[Any, ...]] = []
        vals = list(dict.fromkeys(values))
        for i in range(0, len(vals), 500):
            part = vals[i:i + 500]
            out.extend(self.reader().execute(sql.format(inn=",".join("?" * len(part))),
                                             (*part, *extra)))
        return out

    def trace_rows(self, batches: Sequence[str]) -> list[tuple[Any, ...]]:
        """trace_events rows of ``batches`` (all columns), by batch and sequence."""
        rows = self._select_in("SELECT * FROM trace_events WHERE batch IN ({inn})", batches)
        rows.sort(key=lambda r: (r[0], r[1]))
        return rows

    def trace_links(self, ids: Sequence[str], *, upstream: bool) -> list[tuple[Any, ...]]:
        """(src, dst, kind, tx, pos) of genealogy edges ending at (upstream) or leaving
        ``ids``; pos is the ledger position of the transaction (height * 2**20 + index,
        height * 2**20 if the transaction is missing)."""
        col = "dst" if upstream else "src"
        return self._select_in(
            "SELECT l.src, l.dst, l.kind, l.tx, COALESCE(t.pos, l.height * 1048576) "
            f"FROM trace_links l LEFT JOIN txs t ON {tx_ids.match('t.id', 'l.tx')} "
            f"WHERE l.{col} IN ({{inn}})",
            ids)

    def trace_unpacked(self, ids: Sequence[str], *, upstream: bool) -> list[tuple[Any, ...]]:
        """(child, parent, tx, pos) of each time a child was taken out of its parent whole
        (trace rules v3), for the parents ``ids`` (upstream) or the children ``ids``, as
        :meth:`trace_links` reads edges; pos as there."""
        col = "parent" if upstream else "child"
        return self._select_in(
            "SELECT u.child, u.parent, u.tx, COALESCE(t.pos, u.height * 1048576) FROM "
            f"trace_unpacked u LEFT JOIN txs t ON {tx_ids.match('t.id', 'u.tx')} "
            f"WHERE u.{col} IN ({{inn}})",
            ids)

    def trace_rows_of_tx(self, tx_id: str) -> list[tuple[Any, ...]]:
        """trace_events rows recorded by one transaction, in capture order."""
        return sorted(self.reader().execute(
            "SELECT e.* FROM txs t JOIN trace_events e ON e.height = t.height AND e.tx = t.id "
            f"WHERE {tx_ids.match('t.id', '?')}", (tx_id, tx_id)), key=lambda r: r[3])

    def txs_by_id(self, ids: Sequence[str]) -> dict[str, tuple[int, int, bytes, bytes]]:
        """id -> (height, index, raw, receipt) of committed transactions."""
        want = set(ids)
        return {r[0]: (r[1], r[2], bytes(r[3]), bytes(r[4])) for r in self._select_in(
            f"SELECT id, height, idx, raw, receipt FROM txs WHERE {tx_ids.key()} IN ({{inn}})",
            [i[:tx_ids.PREFIX] for i in ids]) if r[0] in want}

    def holdings(self, batches: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """batch -> (owner, owner_org, custodian, custodian_org, since) from custody."""
        return {r[0]: tuple(r[1:]) for r in self._select_in(
            "SELECT batch, owner, owner_org, custodian, custodian_org, since "
            "FROM custody_holdings WHERE batch IN ({inn})", batches)}

    def participant_names(self, dids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """did -> (name, organisation)."""
        return {r[0]: (r[1], r[2]) for r in self._select_in(
            "SELECT did, name, org FROM participants WHERE did IN ({inn})", dids)}

    def batch_rows(self, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """batch id -> (gtin, lot, quantity, uom, remaining) for registered batches."""
        return {r[0]: tuple(r[1:]) for r in self._select_in(
            "SELECT id, gtin, lot, quantity, uom, remaining FROM batches WHERE id IN ({inn})",
            ids)}

    def tx_method(self, tx_id: str) -> tuple[str, str] | None:
        row = self.reader().execute(
            f"SELECT contract, method FROM txs WHERE {tx_ids.match('id', '?1')}",
            (tx_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    # -- the one write path ---------------------------------------------------------------
    def commit_block(self, rec: BlockRecord, writes: Sequence[tuple[str, bytes | None]],
                     ops: Sequence[Op], meta: dict[str, str] | None = None) -> None:
        self.commit_rows(block_rows(rec, writes, ops), meta)

    def commit_rows(self, rows: BlockRows, meta: dict[str, str] | None = None) -> None:
        """Write one block (:func:`block_rows`) in one durable transaction."""
        block, txs, writes, ops = rows
        c = self._writer
        try:
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO blocks VALUES (?,?,?,?,?)", block)
            c.executemany("INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?)", [
                (pos, i, h, x, _blob(raw), s, ct, m, ok, _blob(r))
                for pos, i, h, x, raw, s, ct, m, ok, r in txs])
            c.executemany("INSERT OR REPLACE INTO state VALUES (?,?)",
                          [(k, _blob(v)) for k, v in writes if v is not None])
            dels = [(k,) for k, v in writes if v is None]
            if dels:
                c.executemany("DELETE FROM state WHERE key=?", dels)
            apply_op_rows(c, self.tables, ops)
            if meta:
                c.executemany("INSERT OR REPLACE INTO meta VALUES (?,?)", list(meta.items()))
            c.execute("COMMIT")
        except BaseException as exc:
            rollback(c)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"commit of block {block[0]} failed: {exc}") from exc
            raise
        self._wrote()

    def replace_projections(self, names: Sequence[str], ops: Iterable[Op]) -> None:
        """Empty the named projection tables and refill them (used for rebuilds)."""
        c = self._writer
        c.execute("BEGIN IMMEDIATE")
        try:
            for n in names:
                c.execute(f"DELETE FROM {n}")
            apply_ops(c, self.tables, [op for op in ops if op.table in names])
            c.execute("COMMIT")
        except BaseException:
            rollback(c)
            raise
        self._wrote()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self._writer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
