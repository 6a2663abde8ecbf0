"""Review 9 (operations): defects found in the writer lock, backup and repair, each pinned
by a test that failed before its fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NodeStopped, NotRepairable, StoreError
from supplyledger.node import repair as repair_mod
from supplyledger.node.backup import backup
from supplyledger.node.repair import repair
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import T0, Ledger
from .test_audit import Built
from .test_audit import built as built
from .test_repair import _copy, _digest, _edit

# -- repair -----------------------------------------------------------------------------------

def test_repair_refuses_a_ledger_whose_tail_blocks_were_cut(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    top = built.height
    _edit(d, ("DELETE FROM txs WHERE height>=?", (top - 1,)),
          ("DELETE FROM blocks WHERE height>=?", (top - 1,)))
    digest = _digest(d)
    with pytest.raises(NotRepairable, match=rf"blocks end at {top - 2} but .*trace_events "
                       "names block"):
        repair(d, workers=0)
    assert _digest(d) == digest


def test_repair_refuses_a_ledger_without_blocks(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    _edit(d, ("DELETE FROM txs", ()), ("DELETE FROM blocks", ()))
    digest = _digest(d)
    with pytest.raises(NotRepairable, match="holds no blocks"):
        repair(d, workers=0)
    assert _digest(d) == digest


def test_repair_refuses_when_the_findings_overflow_its_cap(
        built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An unknown table is found last; behind a full list of derived findings it must still
    # stop the repair.
    d = _copy(built, tmp_path)
    _edit(d, ("DELETE FROM state WHERE key IN (SELECT key FROM state LIMIT 5)", ()),
          ("CREATE TABLE shadow_ledger (id TEXT)", ()))
    monkeypatch.setattr(repair_mod, "MAX_FINDINGS", 3, raising=False)
    digest = _digest(d)
    with pytest.raises(NotRepairable, match="more than 3 findings"):
        repair(d, workers=0)
    assert _digest(d) == digest


# -- backup -----------------------------------------------------------------------------------

@pytest.mark.parametrize("inside", ["private/bk", "bk", "."])
def test_backup_refuses_a_directory_inside_the_ledger(ledger: Ledger, inside: str) -> None:
    # Into private/ it copied itself into itself until Python's recursion limit; anywhere
    # inside, the copy would be lost with the directory it is meant to outlive.
    (ledger.dir / "private" / "records").mkdir(parents=True)
    (ledger.dir / "private" / "records" / "r1.bin").write_bytes(b"ciphertext")
    before = sorted(p.relative_to(ledger.dir) for p in ledger.dir.rglob("*"))
    with pytest.raises(StoreError, match="inside the ledger directory"):
        backup(ledger.dir, ledger.dir / inside, workers=0)
    assert sorted(p.relative_to(ledger.dir) for p in ledger.dir.rglob("*")) == before


def test_backup_and_repair_of_a_damaged_database_fail_with_a_typed_error(
        tmp_path: Path) -> None:
    # sqlite3.DatabaseError escaped both (a traceback from the CLI, exit 1 = "findings").
    d = tmp_path / "ledger"
    d.mkdir()
    (d / DB_NAME).write_bytes(b"not a database" * 1000)
    with pytest.raises(StoreError, match="not a database"):
        backup(d, tmp_path / "out", workers=0)
    assert not (tmp_path / "out").exists()
    with pytest.raises(StoreError, match="not a database"):
        repair(d, workers=0)
    run = CliRunner().invoke(app, ["backup", "--data", str(d), "--out", str(tmp_path / "o")])
    assert run.exit_code == 2 and "[store_error]" in run.output, run.output


# -- the writer lock --------------------------------------------------------------------------

def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(
        ledger: Ledger, tmp_path: Path) -> None:
    # The holder's name is written into the lock file after truncating it: through a link
    # that truncated whatever the link pointed at (the database, a key file...).
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (ledger.dir / "node.lock").symlink_to(victim)
    with pytest.raises(StoreError, match=r"node\.lock"):
        ledger.start()
    with pytest.raises(StoreError, match=r"node\.lock"):
        repair(ledger.dir, workers=0)
    assert victim.read_text() == "precious"


def test_the_lock_goes_even_when_closing_the_store_fails(ledger: Ledger) -> None:
    node = ledger.start()
    ledger.nodes.remove(node)

    def broken_close() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    real_close = node.store.close
    node.store.close = broken_close  # type: ignore[method-assign]
    with pytest.raises(sqlite3.OperationalError):
        node.stop()
    real_close()
    ledger.start().stop()  # not ledger_in_use: the lock went with the failed stop


def test_a_node_stopped_before_it_started_cannot_start_without_the_lock(
        ledger: Ledger) -> None:
    node = Node(Settings(ledger.dir, verify_workers=0), ledger.node_key, clock=lambda: T0)
    node.stop()
    other = ledger.start()  # the directory is free again: another node holds it now
    with pytest.raises(NodeStopped):
        node.start()
    assert other.submit(ledger.tx(ledger.admin, "identity", "register_org", {
        "id": "acme", "name": "Acme", "roles": ["supplier"]})).result(10).ok
