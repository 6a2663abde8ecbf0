"""store/tx_ids.py: transactions found by id through the index of the ids' first 12 hex
digits (migration 5), on a real SQLite file. Ids that share those digits must still find
their own row, and every look-up by id must use the index: a whole-table scan answers the
same, only slower, so the query plans are checked as well as the answers."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.errors import NotFound
from supplyledger.store import history, tx_ids
from supplyledger.store.listings import Listings
from supplyledger.store.readonly import committed_ids, open_readonly
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

from .test_upgrade import old_ledger as old_ledger


def _id(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


# Two ids sharing their first 12 digits: the index alone cannot tell them apart.
TWIN_A = _id(1)
TWIN_B = TWIN_A[:tx_ids.PREFIX] + _id(2)[tx_ids.PREFIX:]
IDS = [TWIN_A, TWIN_B, *(_id(n) for n in range(3, 40))]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SQLiteStore(tmp_path, all_tables(load_builtin()))
    s.ensure_projections()
    for height in (1, 2):
        part = IDS[::2] if height == 1 else IDS[1::2]
        s.commit_rows(((height, f"h{height}", b"header", b"sig", height),
                       [((height << 20) + i, tx, height, i, f"raw-{tx}".encode(), "did:sl:x",
                         "identity", "register", 1, f"receipt-{tx}".encode())
                        for i, tx in enumerate(part)], [], []))
    yield s
    s.close()


def test_ids_sharing_a_prefix_each_find_their_own_row(store: SQLiteStore) -> None:
    assert TWIN_A != TWIN_B and TWIN_A[:12] == TWIN_B[:12]
    assert store.tx_location(TWIN_A) == (1, 0) and store.tx_location(TWIN_B) == (2, 0)
    assert store.tx_location(TWIN_A[:12] + "0" * 52) is None
    got = store.txs_by_id([TWIN_B, IDS[5], "f" * 64])
    assert sorted(got) == sorted([TWIN_B, IDS[5]])
    assert got[TWIN_B][2] == f"raw-{TWIN_B}".encode()
    listings = Listings(store, {})
    assert listings.tx(TWIN_B)["raw"] == f"raw-{TWIN_B}".encode()
    assert listings.receipt(TWIN_A) == (1, 0, f"receipt-{TWIN_A}".encode())
    with pytest.raises(NotFound):
        listings.receipt(TWIN_A[:12] + "1" * 52)
    conn = open_readonly(store.path.parent)
    try:
        assert committed_ids(conn, [TWIN_A, TWIN_B[:12] + "2" * 52, IDS[7]]) == {TWIN_A, IDS[7]}
        assert bytes(history.tx_raw(conn, TWIN_B)) == f"raw-{TWIN_B}".encode()
    finally:
        conn.close()


def test_every_look_up_by_id_uses_the_prefix_index(store: SQLiteStore) -> None:
    statements: list[str] = []
    reader = store.reader()
    reader.set_trace_callback(statements.append)
    store.tx_location(IDS[3])
    store.tx_method(IDS[3])
    store.txs_by_id(IDS[:5])
    store.trace_links(["urn:x"], upstream=True)
    store.trace_unpacked(["urn:x"], upstream=False)
    listings = Listings(store, {})
    listings.tx(IDS[3])
    listings.receipt(IDS[3])
    reader.set_trace_callback(None)
    conn = open_readonly(store.path.parent)
    conn.set_trace_callback(statements.append)
    committed_ids(conn, IDS[:3])
    history.tx_raw(conn, IDS[4])
    conn.set_trace_callback(None)
    on_txs = [s for s in statements if " txs" in s]
    assert len(on_txs) == 9, statements
    for sql in on_txs:
        plan = " / ".join(r[3] for r in reader.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "USING INDEX txs_id_prefix" in plan and "SCAN t " not in f"{plan} ", (
            sql, plan)
        assert "SCAN txs" not in plan, (sql, plan)
    conn.close()


def test_migration_5_keeps_every_transaction_and_replaces_the_unique_index(
        old_ledger: Path) -> None:
    def rows(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute("SELECT * FROM txs ORDER BY pos").fetchall()

    conn = sqlite3.connect(old_ledger / DB_NAME)
    before = rows(conn)
    conn.close()
    SQLiteStore(old_ledger).close()
    conn = sqlite3.connect(old_ledger / DB_NAME)
    try:
        assert rows(conn) == before and len(before) > 900
        indexes = {r[0]: r[1] for r in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='txs'")}
        # The UNIQUE constraint's index went with the old table; the prefix index came.
        assert indexes == {"txs_id_prefix":
                           "CREATE INDEX txs_id_prefix ON txs (substr(id, 1, 12))"}
        assert 5 in {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
