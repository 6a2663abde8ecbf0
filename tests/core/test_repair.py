"""Operating a ledger directory: one writer at a time, verified backups taken while the node
runs, and repair of derived tables from the blocks (refused, changing nothing, when the
blocks or transactions themselves are damaged).

The tampered ledgers come from test_audit.py's module ledger (identity calls, trace events,
a failed call), copied per test.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import LedgerInUse, NotRepairable, StoreError
from supplyledger.node.audit import run_audit
from supplyledger.node.backup import backup
from supplyledger.node.repair import repair
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import T0, Ledger
from .test_audit import Built
from .test_audit import built as built

DERIVED = ("state", "meta", "trace_events", "participants", "batches")


def _copy(built: Built, tmp_path: Path) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    return d


def _edit(d: Path, *sql: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(d / DB_NAME)
    try:
        for stmt, params in sql:
            conn.execute(stmt, params)
        conn.commit()
    finally:
        conn.close()


def _dump(d: Path, tables: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in tables}
    finally:
        conn.close()


def _digest(d: Path) -> str:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


# -- repair ---------------------------------------------------------------------------------

def test_repair_restores_every_edited_derived_table(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    _edit(d,
          ("UPDATE trace_events SET biz_step='receiving' WHERE batch=? AND seq=?",
           (built.batch, built.seq)),
          ("DELETE FROM trace_events WHERE batch=? AND seq=?", (built.batch, built.seq + 1)),
          ("UPDATE participants SET roles='admin' WHERE did=?", (built.member,)),
          ("DELETE FROM state WHERE key=?", (f"trace/b/{built.batch}",)),
          ("INSERT INTO state VALUES (?, ?)", ("trace/b/forged", b"{}")),
          ("UPDATE meta SET value='another-chain' WHERE key='chain'", ()),
          ("ALTER TABLE batches DROP COLUMN remaining", ()))
    before = run_audit(d, workers=0)
    assert {f.table for f in before.findings} == set(DERIVED)

    rep = repair(d, workers=0)

    assert rep.ok and rep.after is not None and rep.after.ok
    assert rep.restored == sorted(DERIVED)
    # Row for row what the untouched ledger holds, and the blocks were never written.
    assert _dump(d, (*DERIVED, "blocks", "txs")) == _dump(built.dir, (*DERIVED, "blocks", "txs"))


def test_repair_of_a_clean_ledger_writes_nothing(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    digest = _digest(d)
    rep = repair(d, workers=0)
    assert rep.ok and rep.after is None and rep.restored == []
    assert _digest(d) == digest


@pytest.mark.parametrize("damage", [
    # a transaction's argument: the signed record itself is wrong
    ("UPDATE txs SET raw=CAST(replace(CAST(raw AS TEXT), 'shipping', 'receivin') AS BLOB) "
     "WHERE id=?", "tx", "restore the ledger from a backup"),
    # a table nobody declared: not the repair's to drop, and no damage to the blocks
    ("CREATE TABLE shadow_ledger (id TEXT)", None,
     r"nothing was changed: the table\(s\) shadow_ledger were not created by supplyledger"),
])
def test_repair_refuses_damage_the_blocks_cannot_restore(
        built: Built, tmp_path: Path, damage: tuple[str, str | None, str]) -> None:
    d = _copy(built, tmp_path)
    sql, param, says = damage
    # A derived edit as well: even that one must stay as it is.
    _edit(d, (sql, (built.tx,) if param else ()),
          ("UPDATE participants SET roles='admin' WHERE did=?", (built.member,)))
    digest = _digest(d)
    with pytest.raises(NotRepairable, match=says):
        repair(d, workers=0)
    assert _digest(d) == digest


def test_repair_command(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    _edit(d, ("UPDATE participants SET roles='admin' WHERE did=?", (built.member,)))
    run = CliRunner().invoke(app, ["repair", "--data", str(d)], env={"COLUMNS": "200"})
    assert run.exit_code == 0, run.output
    assert "1 finding(s) repaired from the blocks in participants; audit after: CLEAN" in (
        run.output)
    _edit(d, ("CREATE TABLE shadow_ledger (id TEXT)", ()))
    run = CliRunner().invoke(app, ["repair", "--data", str(d)], env={"COLUMNS": "200"})
    assert run.exit_code == 2 and "[not_repairable]" in run.output


# -- one writer -------------------------------------------------------------------------------

def test_one_node_per_ledger_directory(ledger: Ledger) -> None:
    node = ledger.start()
    with pytest.raises(LedgerInUse, match=r"in use by node \(pid \d+\)"):
        Node(Settings(ledger.dir, verify_workers=0), ledger.node_key, clock=lambda: T0)
    with pytest.raises(LedgerInUse):
        repair(ledger.dir, workers=0)
    node.stop()
    ledger.nodes.remove(node)
    ledger.start().stop()  # the lock went with the first node


# -- backup -----------------------------------------------------------------------------------

def test_backup_while_the_node_commits(ledger: Ledger, tmp_path: Path) -> None:
    node = ledger.start(block_max_txs=4)
    assert node.submit(ledger.tx(ledger.admin, "identity", "register_org", {
        "id": "acme", "name": "Acme", "roles": ["manufacturer"]})).result(10).ok
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            node.submit(ledger.tx(ledger.admin, "identity", "register_org", {
                "id": f"org{i}", "name": f"Org {i}", "roles": ["supplier"]})).result(10)

    writer = threading.Thread(target=load)
    writer.start()
    (ledger.dir / "private" / "records").mkdir(parents=True)
    (ledger.dir / "private" / "records" / "r1.bin").write_bytes(b"ciphertext")
    (ledger.dir / "mosquitto").mkdir()
    (ledger.dir / "mosquitto" / "passwd").write_text("ab12:$7$hash\n")
    (ledger.dir / "mosquitto" / "mosquitto.pid").write_text("1")
    _edit(ledger.dir, ("INSERT INTO local_sessions VALUES ('h', 'did:sl:x', 0, 1)", ()))
    try:
        rep = backup(ledger.dir, tmp_path / "copy", workers=0)
    finally:
        stop.set()
        writer.join()
    assert rep.audit is not None and rep.audit.ok, rep.audit
    assert rep.height >= 1
    out = tmp_path / "copy"
    assert (out / "node.key").read_bytes() == (ledger.dir / "node.key").read_bytes()
    assert (out / "private" / "records" / "r1.bin").read_bytes() == b"ciphertext"
    assert [p.name for p in (out / "mosquitto").iterdir()] == ["passwd"]
    assert not (out / "node.lock").exists()
    # A node starts on the copy at the copied height.
    copy_node = Node(Settings(out, verify_workers=0), ledger.node_key, clock=lambda: T0)
    try:
        assert copy_node.height == rep.height
    finally:
        copy_node.stop()
    # Logins are not carried over: a restored node starts with nobody logged in.
    assert _dump(out, ("local_sessions",)) == {"local_sessions": []}


def test_backup_needs_a_new_directory_and_leaves_nothing_on_failure(
        ledger: Ledger, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep")
    with pytest.raises(StoreError, match="not a new or empty directory"):
        backup(ledger.dir, busy, workers=0)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(StoreError, match="no ledger in"):
        backup(tmp_path / "nowhere", tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()
