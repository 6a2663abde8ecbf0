"""Tamper coverage: every table the audit covers, changed, deleted from and forged into.

One demo ledger (a week of the demo consortium: identity, products, trace, custody, orders,
payments, customs, fx, credit, privacy, sensors, shipments, dispatch) is built per module.
Each test copies it, edits the copy through sqlite3 as an insider with database access
would, and audits it: every edit must be found and named by table and row. The list of
tables comes from the contracts, so a table added later is covered without editing this
file; a table the demo leaves empty still gets a forged row.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from supplyledger.api import ApiSettings
from supplyledger.contracts.projection import Table
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.demo import load_demo
from supplyledger.ledger import block as blk
from supplyledger.ledger.crypto import generate
from supplyledger.node.audit import AuditReport, Finding, run_audit
from supplyledger.store.sqlite import DB_NAME

CHEAP = ApiSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1,
                    seal_log2_n=10, login_rate=1000)
TABLES = {t.name: t for t in all_tables(load_builtin())}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tamper") / "ledger"
    load_demo(d, weeks=1, api=CHEAP, now_ms=1_795_176_000_000)
    return d


def _audit_copy(demo: Path, tmp_path: Path, edit: Callable[[sqlite3.Connection], Any]
                ) -> AuditReport:
    d = tmp_path / "copy"
    shutil.copytree(demo, d)
    conn = sqlite3.connect(d / DB_NAME)
    try:
        edit(conn)
        conn.commit()
    finally:
        conn.close()
    return run_audit(d, workers=0, max_findings=10_000)


def _first_row(conn: sqlite3.Connection, t: Table) -> tuple[Any, ...] | None:
    cols, order = ", ".join(t.column_names), ", ".join(t.primary_key)
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT {cols} FROM {t.name} ORDER BY {order} LIMIT 1").fetchone()
    return row


def _key_of(t: Table, row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(row[t.column_names.index(c)] for c in t.primary_key)


def _names(f: Finding, key: tuple[Any, ...]) -> bool:
    """The finding's row names the primary key (as the audit shows it)."""
    if len(key) == 1:
        return f.row == str(key[0])
    return f.row == json.dumps(list(key), default=str)


def _other(v: Any) -> Any:
    """A different value of the same kind (a forger keeps the column's type)."""
    if isinstance(v, bool | int):
        return int(v) + 1
    if isinstance(v, str):
        return v + "~"
    if isinstance(v, bytes):
        return v + b"~"
    return "forged"


# Tables whose primary key is not their leading columns (the audit once named their rows by
# the leading columns: see test_rows_of_every_table_are_named_by_their_primary_key).
UNNAMED = {n for n, t in TABLES.items()
           if t.column_names[:len(t.primary_key)] != t.primary_key}


def _found(report: AuditReport, kind: str, table: str, key: tuple[Any, ...]) -> bool:
    """A finding of ``kind`` in ``table`` names the row by its primary key."""
    return any(f.kind == kind and f.table == table and _names(f, key)
               for f in report.findings)


def test_the_untouched_demo_ledger_audits_clean(demo: Path) -> None:
    report = run_audit(demo, workers=0)
    assert report.ok, report.findings[:3]
    conn = sqlite3.connect(demo / DB_NAME)
    try:
        filled = [n for n, t in TABLES.items() if _first_row(conn, t) is not None]
    finally:
        conn.close()
    # The demo fills most projection tables, so the row edits below mean something.
    assert len(filled) >= len(TABLES) - 6, sorted(set(TABLES) - set(filled))


def test_a_changed_cell_in_every_projection_table_is_named(demo: Path, tmp_path: Path) -> None:
    changed: dict[str, tuple[Any, ...]] = {}

    def edit(conn: sqlite3.Connection) -> None:
        for name, t in TABLES.items():
            row = _first_row(conn, t)
            free = [c for c in t.column_names if c not in t.primary_key]
            if row is None or not free:
                continue
            col = free[-1]
            key = _key_of(t, row)
            where = " AND ".join(f"{c} IS ?" for c in t.primary_key)
            conn.execute(f"UPDATE {name} SET {col}=? WHERE {where}",
                         (_other(row[t.column_names.index(col)]), *key))
            changed[name] = key

    report = _audit_copy(demo, tmp_path, edit)
    assert report.ok is False and len(changed) >= len(TABLES) - 6
    missed = [n for n, k in changed.items() if not _found(report, "changed_row", n, k)]
    assert missed == [], missed


def test_a_deleted_row_of_every_projection_table_is_named(demo: Path, tmp_path: Path) -> None:
    deleted: dict[str, tuple[Any, ...]] = {}

    def edit(conn: sqlite3.Connection) -> None:
        for name, t in TABLES.items():
            row = _first_row(conn, t)
            if row is None:
                continue
            key = _key_of(t, row)
            where = " AND ".join(f"{c} IS ?" for c in t.primary_key)
            assert conn.execute(f"DELETE FROM {name} WHERE {where}", key).rowcount == 1
            deleted[name] = key

    report = _audit_copy(demo, tmp_path, edit)
    missed = [n for n, k in deleted.items() if not _found(report, "missing_row", n, k)]
    assert report.ok is False and deleted and missed == [], missed


def test_a_forged_row_in_every_projection_table_is_named(demo: Path, tmp_path: Path) -> None:
    forged: dict[str, tuple[Any, ...]] = {}

    def edit(conn: sqlite3.Connection) -> None:
        for name, t in TABLES.items():
            row = _first_row(conn, t)
            if row is None:  # an empty table: a row of the right column types
                row = tuple(1 if typ.upper() == "INTEGER" else "forged"
                            for _, typ in t.columns)
            else:  # a copy of a real row under a key no block produced
                first = t.column_names.index(t.primary_key[0])
                row = (*row[:first], _other(row[first]), *row[first + 1:])
            conn.execute(f"INSERT INTO {name} ({', '.join(t.column_names)}) VALUES "
                         f"({', '.join('?' * len(row))})", row)
            forged[name] = _key_of(t, row)

    report = _audit_copy(demo, tmp_path, edit)
    assert len(forged) == len(TABLES)
    missed = [n for n, k in forged.items() if not _found(report, "extra_row", n, k)]
    assert report.ok is False and missed == [], missed


def test_rows_of_every_table_are_named_by_their_primary_key(demo: Path,
                                                           tmp_path: Path) -> None:
    # The audit keyed rows by their leading columns: trace_links (PK src, dst, tx) had its
    # rows named by src, dst, kind, and its stored and rebuilt rows merged out of step.
    assert UNNAMED, "no table's primary key differs from its leading columns"
    changed: dict[str, tuple[Any, ...]] = {}

    def edit(conn: sqlite3.Connection) -> None:
        for name in sorted(UNNAMED):
            t = TABLES[name]
            row = _first_row(conn, t)
            assert row is not None, name
            key = _key_of(t, row)
            where = " AND ".join(f"{c} IS ?" for c in t.primary_key)
            free = [c for c in t.column_names if c not in t.primary_key]
            conn.execute(f"UPDATE {name} SET {free[-1]}=? WHERE {where}",
                         (_other(row[t.column_names.index(free[-1])]), *key))
            changed[name] = key

    report = _audit_copy(demo, tmp_path, edit)
    assert changed and all(_found(report, "changed_row", n, k) for n, k in changed.items())
    # One finding per edit, no missing/extra noise from streams merged out of step.
    assert {(f.kind, f.table) for f in report.findings} == {
        ("changed_row", n) for n in changed}, report.findings[:5]


# -- the core tables, column by column --------------------------------------------------------

def _mid_tx(conn: sqlite3.Connection) -> tuple[int, int, str]:
    """(height, idx, id) of the last transaction of the block in the middle of the ledger
    (every block but genesis holds at least one)."""
    top = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
    row = conn.execute("SELECT height, idx, id FROM txs WHERE height = ? ORDER BY idx DESC "
                       "LIMIT 1", (top // 2,)).fetchone()
    return int(row[0]), int(row[1]), str(row[2])


_TX_EDITS = {
    "id": "UPDATE txs SET id='ab' || substr(id, 3) WHERE id=?",
    "raw": "UPDATE txs SET raw=CAST(replace(CAST(raw AS TEXT), '\"time\":', "
           "'\"time\": ') AS BLOB) WHERE id=?",
    "receipt": "UPDATE txs SET receipt=CAST(CAST(receipt AS TEXT) || ' ' AS BLOB) WHERE id=?",
    "signer": "UPDATE txs SET signer='did:sl:' || substr(id, 1, 40) WHERE id=?",
    "contract": "UPDATE txs SET contract='identity' || contract WHERE id=?",
    "method": "UPDATE txs SET method=method || '_' WHERE id=?",
    "ok": "UPDATE txs SET ok=1-ok WHERE id=?",
}


@pytest.mark.parametrize("column", sorted(_TX_EDITS))
def test_a_changed_transaction_column_names_the_transaction(demo: Path, tmp_path: Path,
                                                            column: str) -> None:
    where: list[tuple[int, int, str]] = []

    def edit(conn: sqlite3.Connection) -> None:
        where.append(_mid_tx(conn))
        assert conn.execute(_TX_EDITS[column], (where[0][2],)).rowcount == 1

    report = _audit_copy(demo, tmp_path, edit)
    h, _, tx_id = where[0]
    assert report.ok is False
    named = [f for f in report.findings if f.height == h and f.table == "txs"]
    assert named, report.findings[:3]
    if column != "id":  # the edited id itself is named when it is the id that changed
        assert any(f.row == tx_id for f in named), named


@pytest.mark.parametrize("column", ["height", "idx"])
def test_a_moved_transaction_names_its_block_and_itself(demo: Path, tmp_path: Path,
                                                        column: str) -> None:
    # The block was named (tx_count), the moved transaction was not.
    where: list[tuple[int, int, str]] = []

    def edit(conn: sqlite3.Connection) -> None:
        where.append(_mid_tx(conn))
        assert conn.execute(f"UPDATE txs SET {column}={column}+7 WHERE id=?",
                            (where[0][2],)).rowcount == 1

    report = _audit_copy(demo, tmp_path, edit)
    h, _, tx_id = where[0]
    assert report.ok is False
    assert any(f.height == h and f.table == "txs" for f in report.findings)
    moved = [f for f in report.findings if f.kind == "tx_position"]
    assert [(f.height, f.tx, f.table, f.row) for f in moved] == [(h, tx_id, "txs", tx_id)]


@pytest.mark.parametrize("to", ["the next block", "its own block"])
def test_a_transaction_moved_by_its_position_alone_is_found(demo: Path, tmp_path: Path,
                                                            to: str) -> None:
    # txs.pos was not checked against height * 2**20 + idx, yet store.block_txs (proofs,
    # the block API) reads a block's transactions by position.
    moved: list[str] = []

    def edit(conn: sqlite3.Connection) -> None:
        # Block 40's last tx into block 41's range (both in the audit's chunk 32..63), or
        # further into its own, at an index after every other, so every block's order of
        # positions still holds.
        idx, tx_id = conn.execute("SELECT idx, id FROM txs WHERE height=40 ORDER BY idx DESC "
                                  "LIMIT 1").fetchone()
        conn.execute("UPDATE txs SET pos=? WHERE id=?",
                     (((41 if to == "the next block" else 40) << 20) + 1000 + idx, tx_id))
        moved.append(tx_id)

    report = _audit_copy(demo, tmp_path, edit)
    assert report.ok is False
    named = [f for f in report.findings if f.kind == "tx_position"]
    assert [(f.tx, f.table, f.row) for f in named] == [(moved[0], "txs", moved[0])], named
    assert named[0].height == (41 if to == "the next block" else 40)


def test_a_transaction_moved_past_the_last_block_by_its_position_is_named(
        demo: Path, tmp_path: Path) -> None:
    # Its height still named a stored block, so the extra row went unnamed (row None).
    where: list[tuple[int, int, str]] = []

    def edit(conn: sqlite3.Connection) -> None:
        where.append(_mid_tx(conn))
        top = conn.execute("SELECT MAX(height) FROM blocks").fetchone()[0]
        conn.execute("UPDATE txs SET pos=? WHERE id=?", ((top + 5) << 20, where[0][2]))

    report = _audit_copy(demo, tmp_path, edit)
    h, _, tx_id = where[0]
    assert any(f.kind == "tx_count" and f.height == h for f in report.findings)
    assert [(f.table, f.row) for f in report.findings if f.kind == "extra_rows"] == [
        ("txs", tx_id)], report.findings


def test_a_changed_block_hash_column_is_named(demo: Path, tmp_path: Path) -> None:
    report = _audit_copy(demo, tmp_path, lambda c: c.execute(
        "UPDATE blocks SET hash='ab' || substr(hash, 3) WHERE height=5"))
    assert any(f.kind == "block_hash" and f.height == 5 and f.table == "blocks"
               for f in report.findings), report.findings[:3]


@pytest.mark.parametrize(("sql", "kind", "table", "row"), [
    ("DELETE FROM blocks WHERE height=5", "missing_block", None, None),
    ("DELETE FROM txs WHERE height=5; DELETE FROM blocks WHERE height=5", "missing_block",
     None, None),
    ("DELETE FROM meta WHERE key='chain'", "changed_row", "meta", "chain"),
    ("DELETE FROM meta WHERE key='genesis'", "changed_row", "meta", "genesis"),
], ids=["block", "block and its txs", "meta chain", "meta genesis"])
def test_a_deleted_core_row_is_named(demo: Path, tmp_path: Path, sql: str, kind: str,
                                     table: str | None, row: str | None) -> None:
    report = _audit_copy(demo, tmp_path, lambda c: c.executescript(sql))
    f = [f for f in report.findings if f.kind == kind and f.table == table]
    assert f and (f[0].row == row if row else f[0].height == 5), report.findings[:3]


@pytest.mark.parametrize("proposer", ["its own id", "the node's id"])
def test_a_forged_block_on_top_is_named(demo: Path, tmp_path: Path, proposer: str) -> None:
    # A block with a correct link, roots and time, signed by a key that is not the node's,
    # naming either that key's own id (no registered node) or the node's id.
    key = generate("ed25519")
    top: list[int] = []

    def edit(conn: sqlite3.Connection) -> None:
        h, header_bytes = conn.execute(
            "SELECT height, header FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
        prev = blk.Header.decode(bytes(header_bytes))
        header = blk.Header(chain=prev.chain, height=h + 1, prev=prev.hash, time=prev.time,
                            tx_root=blk.tx_root([]), receipts_root=blk.receipts_root([]),
                            state_root=blk.state_root(prev.state_root, []), tx_count=0,
                            proposer=key.did if proposer == "its own id" else prev.proposer)
        sig = blk.SignedHeader.sign(header, key).signature
        conn.execute("INSERT INTO blocks VALUES (?,?,?,?,?)",
                     (h + 1, header.hash, header.encode(), sig, header.time))
        top.append(h + 1)

    report = _audit_copy(demo, tmp_path, edit)
    kinds = {f.kind for f in report.findings if f.height == top[0] and f.table == "blocks"}
    assert kinds == ({"proposer"} if proposer == "its own id" else {"block_signature"}), \
        report.findings[:3]


# -- the recorded schema of the projection tables ---------------------------------------------

def test_an_edited_projection_schema_is_one_finding_not_clean(demo: Path,
                                                             tmp_path: Path) -> None:
    # A recorded schema that is not this release's reads as a table built by another
    # release: one finding per table, its rows not compared (a node rebuilds it on open).
    def edit(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE projection_schema SET hash='0123456789abcdef' WHERE name='orders'")
        conn.execute("DELETE FROM projection_schema WHERE name='batches'")
        conn.execute("UPDATE orders SET state='forged'")
        conn.execute("DELETE FROM batches")

    report = _audit_copy(demo, tmp_path, edit)
    assert report.ok is False
    assert sorted((f.kind, f.table) for f in report.findings) == [
        ("projection_schema", "batches"), ("projection_schema", "orders")], report.findings
    by_table = {f.table: f.detail for f in report.findings}
    assert "'0123456789abcdef'" in by_table["orders"]
    assert "no schema is recorded" in by_table["batches"]
    assert "rebuilds it from the blocks" in by_table["orders"]


def test_an_unreadable_projection_schema_leaves_every_table_compared(demo: Path,
                                                                    tmp_path: Path) -> None:
    report = _audit_copy(demo, tmp_path, lambda c: c.executescript(
        "DROP TABLE projection_schema; UPDATE orders SET state='forged'"))
    kinds = {(f.kind, f.table) for f in report.findings}
    assert kinds == {("projection_schema", "projection_schema"), ("changed_row", "orders")}
