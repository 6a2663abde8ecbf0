"""store/history.py: the audit's reads of a ledger file, checked on a real ledger (embedded
node, several transactions per block, one failed call) against what the test submitted and
the receipts it got back, so the expected order and contents never come from SQL."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from supplyledger.bench.consortium import Consortium
from supplyledger.contracts.projection import Table, Upsert
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.ledger import block as blk
from supplyledger.node.receipts import Receipt
from supplyledger.store import history
from supplyledger.store.migrations import LOCAL_TABLES, MIGRATIONS
from supplyledger.store.readonly import open_readonly, table_names
from supplyledger.store.sqlite import DB_NAME, apply_ops

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
ORGS = [f"org{i:02d}" for i in range(11, -1, -1)]  # registered in descending id order


@dataclass
class Built:
    dir: Path
    chain: str
    raws: dict[str, bytes]  # tx id -> the signed bytes submitted
    receipts: list[Receipt]  # every call after genesis
    members: list[str]  # dids


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    c = Consortium(tmp_path_factory.mktemp("history") / "ledger", clock=lambda: T0,
                   block_max_txs=4)
    raws: dict[str, bytes] = {}
    receipts: list[Receipt] = []
    try:
        # Submitted together, so the node packs them several to a block.
        sent = [c.tx(c.admin, "identity", "register_org",
                     {"id": org, "name": org.upper(), "roles": ["manufacturer"]})
                for org in [*ORGS, ORGS[0]]]  # the last one repeats an id: it fails
        futs = [c.node.submit(raw) for raw in sent]
        for raw, fut in zip(sent, futs, strict=True):
            r = fut.result(30)
            raws[r.tx_id] = raw
            receipts.append(r)
        members = [c.member(f"m{i}", ORGS[i], ["manufacturer"]).did for i in range(2)]
    finally:
        c.stop()
    assert [r.ok for r in receipts] == [True] * len(ORGS) + [False]
    assert any(r.index > 0 for r in receipts), "wanted blocks holding several txs"
    return Built(c.dir, c.chain, raws, receipts, members)


@pytest.fixture
def conn(built: Built) -> Iterator[sqlite3.Connection]:
    conn = open_readonly(built.dir)
    yield conn
    conn.close()


def test_blocks_in_height_order_with_their_hashes(built: Built,
                                                  conn: sqlite3.Connection) -> None:
    top = history.top_height(conn)
    assert top >= max(r.height for r in built.receipts) + 2  # two member registrations
    rows = list(history.block_rows(conn, 0, top))
    assert [r[0] for r in rows] == list(range(top + 1))
    for height, hash_, header, sig, time in rows:
        h = blk.Header.decode(history.stored_bytes(header))
        assert (h.height, h.hash, h.time, h.chain) == (height, hash_, time, built.chain)
        assert isinstance(sig, bytes) and sig
    assert [r[0] for r in history.block_rows(conn, 2, 3)] == [2, 3]
    assert history.block_hash(conn, 0) == rows[0][1]
    assert history.block_hash(conn, top + 1) is None


def test_txs_in_block_then_index_order(built: Built, conn: sqlite3.Connection) -> None:
    top = history.top_height(conn)
    rows = list(history.tx_rows(conn, 0, top))
    assert [(r[0], r[2]) for r in rows] == sorted((r[0], r[2]) for r in rows)
    assert all(pos == (height << 20) + idx for height, pos, idx, *_ in rows)
    assert rows[0][0] == 0 and rows[0][2] == 0  # the genesis document
    assert history.tx_count(conn) == len(rows)
    by_id = {r[3]: r for r in rows}
    for rec in built.receipts:
        height, _pos, idx, _id, raw, receipt, signer, contract, method, ok = by_id[rec.tx_id]
        assert (height, idx) == (rec.height, rec.index)
        assert (raw, receipt) == (built.raws[rec.tx_id], rec.raw)
        assert (contract, method, ok) == ("identity", "register_org", int(rec.ok))
        assert signer.startswith("did:")
    # A range holds exactly its blocks' transactions, still in order.
    h = built.receipts[0].height
    assert list(history.tx_rows(conn, h, h)) == [r for r in rows if r[0] == h]
    assert list(history.tx_rows(conn, top + 1, top + 5)) == []


def test_tx_blobs_and_raw(built: Built, conn: sqlite3.Connection) -> None:
    top = history.top_height(conn)
    rows = list(history.tx_rows(conn, 1, top))
    assert history.tx_blobs(conn, 1, top) == [(r[1], r[3], r[4]) for r in rows]
    rec = built.receipts[3]
    assert history.tx_raw(conn, rec.tx_id) == built.raws[rec.tx_id]
    assert history.tx_raw(conn, "0" * 64) is None


def test_state_in_key_order(built: Built, conn: sqlite3.Connection) -> None:
    rows = list(history.state_rows(conn))
    keys = [k for k, _ in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(isinstance(v, bytes) for _, v in rows)
    assert {f"identity/p/{did}" for did in built.members} <= set(keys)


def test_projection_tables_in_primary_key_order(built: Built,
                                                conn: sqlite3.Connection) -> None:
    tables = {t.name: t for t in all_tables(load_builtin())}
    orgs = list(history.table_rows(conn, tables["organisations"]))
    assert [r[0] for r in orgs] == sorted(["consortium", *ORGS])  # genesis's org first
    assert orgs[1][:2] == ("org00", "ORG00")  # registered last
    people = list(history.table_rows(conn, tables["participants"]))
    assert [r[0] for r in people] == sorted(r[0] for r in people)
    assert set(built.members) <= {r[0] for r in people}
    with pytest.raises(sqlite3.Error):
        history.table_rows(conn, Table("not_here", (("a", "TEXT"),), ("a",)))


def test_meta_and_table_names(built: Built, conn: sqlite3.Connection) -> None:
    assert history.meta(conn) == {"chain": built.chain,
                                  "genesis": history.block_hash(conn, 0)}
    names = table_names(conn)
    assert names == sorted(names)
    assert {"blocks", "txs", "state", "meta", "organisations", "participants",
            *LOCAL_TABLES} <= set(names)
    assert not any(n.startswith("sqlite_") for n in names)


def test_orphan_tx(built: Built, conn: sqlite3.Connection, tmp_path: Path) -> None:
    assert history.orphan_tx(conn) is None
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    moved = built.receipts[5].tx_id
    w = sqlite3.connect(d / DB_NAME)
    with w:
        w.execute("UPDATE txs SET height = 9999 WHERE id = ?", (moved,))
    w.close()
    copy = open_readonly(d)
    try:
        assert history.orphan_tx(copy) == moved
        assert history.tx_count(copy) == history.tx_count(conn)
    finally:
        copy.close()


def test_empty_ledger_file() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(MIGRATIONS[0][2])
    assert history.top_height(conn) == -1
    assert list(history.block_rows(conn, 0, 10)) == []
    assert history.tx_count(conn) == 0 and history.orphan_tx(conn) is None
    assert history.meta(conn) == {} and history.block_hash(conn, 0) is None


def test_scratch_tables_read_back_in_key_order() -> None:
    t = Table("pairs", (("a", "TEXT"), ("b", "INTEGER"), ("v", "TEXT")), ("a", "b"))
    conn = history.scratch_tables([t])
    assert conn.in_transaction
    apply_ops(conn, {"pairs": t}, [Upsert("pairs", row) for row in
                                   (("y", 2, "q"), ("x", 9, "p"), ("y", 1, "r"), ("x", 10, "s"))])
    conn.commit()
    assert list(history.table_rows(conn, t)) == [("x", 9, "p"), ("x", 10, "s"), ("y", 1, "r"),
                                                 ("y", 2, "q")]


@pytest.mark.parametrize(("value", "expected"), [
    (b"\x00ab", b"\x00ab"), (memoryview(b"mv"), b"mv"), (bytearray(b"ba"), b"ba"),
    ("text", b"text"), (42, b"42")])
def test_stored_bytes_accepts_what_an_edit_leaves(value: object, expected: bytes) -> None:
    assert history.stored_bytes(value) == expected
