"""Review of docs/operations.md done as an operator would, on real ledgers and real
``supplyledger`` processes: a backup that cannot be written (a full disk is stood in for by
a file-size limit on the process: the same failed write, without a mount), commands beside
a running node, a ledger from a newer release, a node that can no longer commit, Ctrl-C,
and who may read the database."""

from __future__ import annotations

import os
import resource
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from _serving import wait_serving
from supplyledger.cli.main import app
from supplyledger.errors import NotRepairable, RulesUnsupported
from supplyledger.ingest.broker import free_port
from supplyledger.ledger.crypto import PrivateKey
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.backup import backup
from supplyledger.node.bootstrap import init_ledger, write_key
from supplyledger.node.repair import repair
from supplyledger.node.service import Node, wall_clock_ms
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

from .conftest import CHAIN, FAST_KDF, T0, Keys, Ledger
from .test_repair import _digest
from .test_review10_rules import _adopted_v2
from .test_upgrade import SECRETS
from .test_upgrade import old_ledger as old_ledger

NODE_PW = "node-pw"  # the `ledger` fixture's


def _cli(*args: str, limit_bytes: int | None = None, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    """``supplyledger ARGS`` in a process of its own, its files limited to ``limit_bytes``
    each (writes past it fail as on a full disk)."""
    return subprocess.run(_argv(*args), preexec_fn=_limit(limit_bytes), capture_output=True,
                          text=True, timeout=300, env=_env(env))


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from supplyledger.cli.main import app; app()", *args]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "400", **(extra or {})}


def _limit(limit_bytes: int | None) -> Callable[[], None] | None:
    if limit_bytes is None:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


Served = tuple[subprocess.Popen[str], str]


@contextmanager
def _serving(d: Path, *, limit_bytes: int | None = None) -> Iterator[Served]:
    """``supplyledger serve`` on ``d`` in its own process group (as a terminal runs it):
    the process and its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        _argv("serve", "--data", str(d), "--port", str(port)), preexec_fn=_limit(limit_bytes),
        env=_env({"SUPPLYLEDGER_NODE_PASSWORD": NODE_PW}), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_serving(proc, port)
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _register(url: str, admin: PrivateKey, org: str) -> dict[str, Any]:
    """Sign ``identity.register_org`` now and send it to the node's ``/api/tx``."""
    raw = make_tx(admin, chain=CHAIN, contract="identity", method="register_org",
                  args={"id": org, "name": org, "roles": ["supplier"]},
                  time_ms=wall_clock_ms(), nonce=secrets.token_hex(8)).raw
    r = httpx.post(f"{url}/api/tx", content=raw, timeout=60,
                   headers={"content-type": "application/json"})
    return {"status": r.status_code, **r.json()}


def _committed(d: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM txs")}
    finally:
        conn.close()


# -- backup: what cannot be copied ------------------------------------------------------------

def test_a_file_the_backup_cannot_write_is_named_and_nothing_is_left(
        ledger: Ledger, tmp_path: Path) -> None:
    # A private file larger than the file-size limit, the database below it: the copy of
    # private/ failed with shutil's list of (src, dst, repr) tuples, no error code.
    big = ledger.dir / "private" / "records" / "big.bin"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(2 << 20))
    out = tmp_path / "bk"
    res = _cli("backup", "--data", str(ledger.dir), "--out", str(out), limit_bytes=1 << 20)
    assert res.returncode == 2, res
    assert f"error: copying {big} to {out} failed: File too large [store_error]" \
        in res.stderr, res.stderr
    assert "[(" not in res.stderr, res.stderr
    assert not out.exists()


def test_a_database_copy_that_cannot_be_written_names_the_copy(
        ledger: Ledger, tmp_path: Path) -> None:
    # It said "copying the database of LEDGER failed": as if the ledger were at fault.
    out = tmp_path / "bk"
    res = _cli("backup", "--data", str(ledger.dir), "--out", str(out), limit_bytes=64 << 10)
    assert res.returncode == 2, res
    assert f"error: writing the copy {out / DB_NAME} failed: " in res.stderr, res.stderr
    assert "[store_error]" in res.stderr and not out.exists(), res.stderr


def test_a_backup_taken_while_serve_commits_restores_every_acknowledged_transaction(
        ledger: Ledger, tmp_path: Path) -> None:
    acked: list[tuple[float, str]] = []
    stop = threading.Event()
    with _serving(ledger.dir) as (_, url):
        def load() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                doc = _register(url, ledger.admin, f"org-{i}")
                acked.append((time.monotonic(), doc["receipt"]["tx"]))

        writer = threading.Thread(target=load)
        writer.start()
        try:
            while len(acked) < 5:
                time.sleep(0.05)
            started = time.monotonic()
            res = _cli("backup", "--data", str(ledger.dir), "--out", str(tmp_path / "bk"))
            while len(acked) < 5 + len([a for a in acked if a[0] < started]):
                time.sleep(0.05)  # commits went on beside the copy
        finally:
            stop.set()
            writer.join()
    assert res.returncode == 0 and "audit CLEAN" in res.stdout, res
    restored = tmp_path / "restored"  # the documented restore: a backup of the backup
    again = _cli("backup", "--data", str(tmp_path / "bk"), "--out", str(restored))
    assert again.returncode == 0, again
    assert run_audit(restored, workers=0).ok
    before = {tx for t, tx in acked if t < started}
    assert before and before <= _committed(restored)
    assert {tx for _, tx in acked} - _committed(restored)  # it is a snapshot, not the end


# -- beside a running node -------------------------------------------------------------------

def test_commands_that_would_write_say_the_ledger_is_in_use_before_any_password(
        ledger: Ledger, tmp_path: Path) -> None:
    # tx submit asked for the key's password, then the node key's; keys rotate for the key's
    # and the node key's: an operator typed both before learning to use the API.
    key = tmp_path / "admin.key"
    write_key(key, ledger.admin, "admin-password", FAST_KDF)
    ledger.start()
    lock_before = (ledger.dir / "node.lock").read_text()
    runner = CliRunner()
    no_passwords = {"SUPPLYLEDGER_KEY_PASSWORD": None, "SUPPLYLEDGER_NODE_PASSWORD": None}
    sub = runner.invoke(app, ["tx", "submit", "identity", "register_org", "--data",
                              str(ledger.dir), "--key", str(key), "--args",
                              '{"id": "acme", "name": "Acme", "roles": ["supplier"]}'],
                        env=no_passwords)
    assert sub.exit_code == 2, sub.output
    assert "in use by node (pid" in sub.output and "[ledger_in_use]" in sub.output, sub.output
    rot = runner.invoke(app, ["keys", "rotate", "--data", str(ledger.dir), "--key", str(key)],
                        env=no_passwords)
    assert rot.exit_code == 2, rot.output
    assert "pass --api" in rot.output and "[ledger_in_use]" in rot.output, rot.output
    assert not (tmp_path / "admin.new.key").exists()
    assert (ledger.dir / "node.lock").read_text() == lock_before  # the check wrote nothing


# -- a ledger from a newer release -----------------------------------------------------------

def test_a_node_leaves_a_ledger_with_rules_it_lacks_as_it_was(ledger: Ledger) -> None:
    # It rebuilt the query tables whose schema it did not know (as a newer release records
    # them) and only then refused the rules: the release that ran the ledger had to
    # rebuild them again, and "changes nothing" was not true.
    _adopted_v2(ledger)  # tally v2: a contract this release lacks
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    with conn:
        conn.execute("UPDATE projection_schema SET hash='newer' WHERE name='participants'")
    conn.close()
    digest = _digest(ledger.dir)
    with pytest.raises(RulesUnsupported, match="tally"):
        Node(Settings(ledger.dir, verify_workers=0), ledger.node_key, clock=lambda: T0)
    assert _digest(ledger.dir) == digest


def test_repair_of_a_ledger_with_rules_it_lacks_says_to_use_that_release(
        ledger: Ledger) -> None:
    # It said "restore the ledger from a backup or another organisation's copy": advice to
    # throw away a ledger that is whole.
    _adopted_v2(ledger)
    digest = _digest(ledger.dir)
    with pytest.raises(NotRepairable) as err:
        repair(ledger.dir, workers=0)
    msg = err.value.message
    assert "Use a release that implements those rules" in msg and "restore" not in msg, msg
    assert "nothing was changed" in msg and _digest(ledger.dir) == digest


# -- full disk ---------------------------------------------------------------------------------

def test_a_first_start_on_a_full_disk_names_the_cause_and_changes_nothing(
        old_ledger: Path) -> None:
    # SQLite had already rolled the rebuild back; the second ROLLBACK raised "cannot
    # rollback - no transaction is active", shown as a traceback in place of the cause.
    SQLiteStore(old_ledger).close()  # the schema steps first: the rebuild meets the limit
    digest = _digest(old_ledger)
    res = _cli("serve", "--data", str(old_ledger), "--port", str(free_port()),
               limit_bytes=64 << 10,
               env={"SUPPLYLEDGER_NODE_PASSWORD": SECRETS["node_key_password"]})
    assert res.returncode == 2, res
    assert "preparing the query tables (rebuilding " in res.stderr, res.stderr
    assert "nothing changed: disk I/O error [store_error]" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout and "serving" not in res.stdout, res
    assert _digest(old_ledger) == digest


def test_a_schema_step_on_a_full_disk_names_itself_and_changes_nothing(
        old_ledger: Path) -> None:
    # Migration 5 copies every transaction into the table that replaces txs: a disk that
    # cannot take the copy leaves the old table and its rows as they were.
    digest = _digest(old_ledger)
    res = _cli("serve", "--data", str(old_ledger), "--port", str(free_port()),
               limit_bytes=64 << 10,
               env={"SUPPLYLEDGER_NODE_PASSWORD": SECRETS["node_key_password"]})
    assert res.returncode == 2, res
    assert "migration 5 (transaction ids indexed by their first 12 hex digits" in res.stderr
    assert "failed: disk I/O error [migration_error]" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr + res.stdout and "serving" not in res.stdout, res
    assert _digest(old_ledger) == digest
    conn = sqlite3.connect(old_ledger / DB_NAME)
    try:
        assert max(r[0] for r in conn.execute("SELECT version FROM schema_migrations")) == 4
        assert conn.execute("SELECT COUNT(*) FROM txs").fetchone()[0] > 900
    finally:
        conn.close()


def test_serve_stops_with_the_cause_when_its_node_can_no_longer_commit(
        ledger: Ledger) -> None:
    # The node stopped after the failed commit, but serve went on answering reads and
    # refusing every write with 503, printing nothing: a supervisor saw a healthy process.
    acked: list[str] = []
    with _serving(ledger.dir, limit_bytes=(ledger.dir / DB_NAME).stat().st_size) as (proc, url):
        for i in range(2000):
            doc = _register(url, ledger.admin, f"org-{i}")
            if doc["status"] != 200:
                assert doc["error"]["code"] == "node_stopped", doc
                break
            acked.append(doc["receipt"]["tx"])
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "the node stopped accepting transactions (commit of block" in err, err
    assert "Fix the cause" in err and "[node_stopped]" in err, err
    assert acked and set(acked) <= _committed(ledger.dir)  # nothing acknowledged lost
    assert run_audit(ledger.dir, workers=0).ok


# -- Ctrl-C and file modes ---------------------------------------------------------------------

def test_ctrl_c_stops_serve_without_worker_tracebacks(ledger: Ledger) -> None:
    # Ctrl-C reaches the terminal's whole process group: each verifier process died of it
    # with a KeyboardInterrupt traceback while the node drained.
    with _serving(ledger.dir) as (proc, url):
        assert _register(url, ledger.admin, "acme")["status"] == 200  # workers busy once
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_a_new_ledger_and_its_backup_are_readable_by_their_owner_only(
        tmp_path: Path, keys: Keys) -> None:
    # ledger.sqlite (web logins' password hashes and sealed keys) was world-readable under
    # the usual umask, beside key files of mode 600.
    d = tmp_path / "ledger"
    before = os.umask(0o022)
    try:
        init_ledger(d, chain=CHAIN, time_ms=T0, node_password=NODE_PW,
                    admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF)
        rep = backup(d, tmp_path / "bk", workers=0)
    finally:
        os.umask(before)
    assert rep.audit is not None and rep.audit.ok
    for db in (d / DB_NAME, tmp_path / "bk" / DB_NAME):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600, db
