"""Review 20, operations, without processes: what an operator met on a full disk, a
read-only database and files left to another user (the process-level half is in
``tests/crash/test_review20_ops.py``)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
import typer

from _files import unwritable
from supplyledger.cli.common import handle_errors
from supplyledger.errors import StoreError
from supplyledger.ledger.crypto import generate
from supplyledger.node.bootstrap import init_ledger
from supplyledger.store.localdb import LocalDB
from supplyledger.store.lock import LOCK_NAME, WriterLock
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Ledger


def test_a_failed_init_removes_what_it_wrote_and_keeps_what_was_there(tmp_path: Path) -> None:
    # A key file write that failed after the genesis commit left ledger.sqlite and
    # node.key: the directory then "already holds a ledger" that no node could open.
    d = tmp_path / "ledger"
    theirs = d / "keys" / "admin.key"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"someone's key")
    with pytest.raises(StoreError) as err:
        init_ledger(d, chain=CHAIN, time_ms=T0, node_password="node-pw",
                    admins=[("admin", generate("ed25519"), "admin-pw")], kdf=FAST_KDF)
    assert err.value.message == (f"creating the ledger in {d} failed, and nothing of it was "
                                 f"kept: {theirs}: File exists")
    assert sorted(p.name for p in d.rglob("*")) == ["admin.key", "keys"]
    assert theirs.read_bytes() == b"someone's key"


def test_a_login_the_database_cannot_store_is_a_store_error_in_the_log(
        ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    # sqlite3.OperationalError went up bare: HTTP 500 "internal_error" and a traceback.
    with unwritable(ledger.dir / DB_NAME):
        db = LocalDB(ledger.dir / DB_NAME)  # SQLite opens it read-only, without a word
        try:
            with caplog.at_level(logging.WARNING), pytest.raises(StoreError) as err:
                db.insert_session("h" * 64, "did:sl:x", 1, 2)
        finally:
            db.close()
    msg = ("writing this node's login sessions (local_sessions) failed: attempt to write a "
           "readonly database (free disk space, or make the ledger's files writable by the "
           "node's user)")
    assert err.value.message == msg
    assert [r.getMessage() for r in caplog.records] == [msg]
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    assert conn.execute("SELECT COUNT(*) FROM local_sessions").fetchone() == (0,)
    conn.close()


def test_a_lock_file_left_to_another_user_says_what_to_do(ledger: Ledger) -> None:
    lock = ledger.dir / LOCK_NAME
    lock.touch()
    with unwritable(lock), pytest.raises(StoreError) as err:
        WriterLock(ledger.dir)
    assert err.value.message.startswith(f"cannot open the lock file {lock}: ")
    assert err.value.message.endswith(
        " (run the node as the user that owns the ledger directory, and give that user the "
        "directory and its files: chown -R)")


def test_a_permission_error_in_a_command_says_what_to_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    @handle_errors
    def command() -> None:
        raise PermissionError(13, "Permission denied", "DIR/node.key")

    with pytest.raises(typer.Exit) as ex:
        command()
    assert ex.value.exit_code == 2
    assert capsys.readouterr().err == ("error: DIR/node.key: Permission denied (run the "
                                       "command as the user that owns the file, or fix its "
                                       "permissions)\n")
