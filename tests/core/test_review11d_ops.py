"""Review 11d (operations): an operator upgrading a node from release c797c06 and running
it day to day, following docs/operations.md. Each test pins a defect found on the way and
failed before its fix.

The ledger is the earlier release's demo ledger (``data/release-c797c06``, see
``test_upgrade.py``); commands run through the CLI as an operator types them, ``serve`` as
a real process.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from _serving import wait_serving
from supplyledger.cli.main import app
from supplyledger.cli.rules_cmd import rules_advice
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.localdb import LocalDB
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

from .test_upgrade import SECRETS
from .test_upgrade import old_ledger as old_ledger

NODE_PW = SECRETS["node_key_password"]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env={
        "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW, "COLUMNS": "400", **(env or {})})


def flat(text: str) -> str:
    return " ".join(text.split())


def _sql(d: Path, *stmts: str) -> None:
    conn = sqlite3.connect(d / DB_NAME)
    try:
        for s in stmts:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def _open_once(d: Path) -> None:
    with Node(Settings(d, verify_workers=0), load_node_key(d, NODE_PW)):
        pass


# -- upgrade: the first start's rebuild ------------------------------------------------------

def test_a_first_start_stopped_during_its_rebuild_leaves_the_tables_for_the_next_start(
        old_ledger: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The node dropped the tables of another release and recorded this release's schema in
    # one transaction, then refilled them in a second: Ctrl-C on a long first start (it
    # prints nothing while it replays the blocks) left them empty and recorded as current,
    # so the next start kept them empty: 55 missing trace_events rows here.
    _open_once(old_ledger)
    # trace_events as a release with another schema built it (ledger upgraded to it).
    _sql(old_ledger, "UPDATE projection_schema SET hash='built-by-another-release' "
         "WHERE name='trace_events'")
    replay = SQLiteStore.iter_blocks

    def interrupted(self: SQLiteStore, *a: Any, **kw: Any) -> Iterator[Any]:
        for n, block in enumerate(replay(self, *a, **kw)):
            if n == 300:
                raise KeyboardInterrupt  # the operator's Ctrl-C half-way through
            yield block

    monkeypatch.setattr(SQLiteStore, "iter_blocks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Node(Settings(old_ledger, verify_workers=0), load_node_key(old_ledger, NODE_PW))
    monkeypatch.setattr(SQLiteStore, "iter_blocks", replay)
    _open_once(old_ledger)
    rep = run_audit(old_ledger, workers=0)
    assert rep.ok, [(f.kind, f.table) for f in rep.findings][:5]


# -- backup: findings say what to do ---------------------------------------------------------

def test_a_backup_of_an_earlier_release_s_ledger_says_its_findings_are_the_upgrade_s(
        old_ledger: Path, tmp_path: Path) -> None:
    # It printed "audit FINDINGS" and exited 1, with nothing on what they were or what to
    # do: the operator backing up before an upgrade could not tell it from damage.
    res = run("backup", "--data", str(old_ledger), "--out", str(tmp_path / "copy"))
    assert res.exit_code == 1, res.output
    out = flat(res.stdout)
    assert re.search(r"6 finding\(s\): projection_schema in financing \(1\), "
                     r"projection_schema in sensor_breaches \(1\), "
                     r"projection_schema in shipments \(1\), "
                     r"projection_schema in trace_events \(1\), "
                     r"projection_schema in trace_unpacked \(1\), projection_schema in "
                     r"withdrawals \(1\)", out), out
    assert "built by an earlier release: the copy is whole" in out, out
    assert f"supplyledger repair --data {tmp_path / 'copy'}" in out, out


def test_a_backup_of_an_edited_ledger_says_repair_writes_the_tables_back(
        old_ledger: Path, tmp_path: Path) -> None:
    _open_once(old_ledger)
    _sql(old_ledger, "UPDATE trace_events SET disposition='active' "  # the demo's edit
         "WHERE disposition='non_conformant'")
    copy = tmp_path / "copy"
    res = run("backup", "--data", str(old_ledger), "--out", str(copy))
    assert res.exit_code == 1, res.output
    out = flat(res.stdout)
    assert re.search(r"\d+ finding\(s\): changed_row in trace_events \(\d+\);", out), out
    assert f"supplyledger repair --data {old_ledger}` (its node stopped)" in out, out
    # ... and the advice works as written on the copy.
    assert run("repair", "--data", str(copy)).exit_code == 0
    assert run_audit(copy, workers=0).ok


def test_a_backup_of_damaged_blocks_says_restore_from_another_copy(
        old_ledger: Path, tmp_path: Path) -> None:
    _open_once(old_ledger)
    _sql(old_ledger, "UPDATE blocks SET signature=X'00' WHERE height=5")
    res = run("backup", "--data", str(old_ledger), "--out", str(tmp_path / "copy"))
    assert res.exit_code == 1, res.output
    out = flat(res.stdout)
    assert "restore from an earlier backup or another organisation's copy" in out, out
    assert "repair" not in out.split("names each.")[1], out


# -- repair beside a running node ------------------------------------------------------------

def test_repair_beside_a_running_node_says_to_stop_it_not_to_use_the_api(
        old_ledger: Path) -> None:
    # The lock's message ("stop it first, or send transactions through its API") offered an
    # API that cannot repair anything.
    with Node(Settings(old_ledger, verify_workers=0), load_node_key(old_ledger, NODE_PW)):
        res = run("repair", "--data", str(old_ledger))
    assert res.exit_code == 2, res.output
    err = flat(res.stderr)
    assert "repair needs it stopped; stop it (Ctrl-C or SIGTERM), then run repair again" \
        in err, err
    assert "API" not in err and "[ledger_in_use]" in err, err


# -- rules: what to do next ------------------------------------------------------------------

def test_rules_prints_an_adoption_command_that_works_as_printed(
        old_ledger: Path, tmp_path: Path) -> None:
    # The table said "available to adopt" and nothing on how; the demo's admin has no key
    # file, only a web login (docs/operations.md shows how to download it).
    res = run("rules", "--data", str(old_ledger))
    assert res.exit_code == 0, res.output
    out = flat(res.stdout)
    assert "/contracts/rules/adopt" in out, out
    m = re.search(r"supplyledger (tx submit rules adopt --data \S+ --key ADMIN\.key "
                  r"--args '[^']+')", out)
    assert m, out
    key = tmp_path / "admin.key"  # what the admin's account page downloads
    db = LocalDB(old_ledger / DB_NAME)
    try:
        row = db.account_by_login("admin")
        assert row is not None
        key.write_bytes(row.sealed_key)
    finally:
        db.close()
    argv = [str(key) if a == "ADMIN.key" else a for a in shlex.split(m.group(1))]
    done = run(*argv, env={"SUPPLYLEDGER_KEY_PASSWORD": SECRETS["logins"]["admin"]})
    assert done.exit_code == 0, done.output
    adopted = re.search(r'"contract": "(\w+)", "version": (\d+)', m.group(1))
    assert adopted
    after = run("rules", "--data", str(old_ledger), "--json")
    assert f'"in_force": {adopted.group(2)}' in after.stdout.split(
        f'"contract": "{adopted.group(1)}"')[1].split("}")[0], after.stdout


def test_rules_a_release_cannot_run_names_what_it_lacks() -> None:
    rows = [{"contract": "orders", "in_force": 9, "implemented": [1, 2], "runnable": False,
             "newer": []},
            {"contract": "fx", "in_force": 1, "implemented": [1, 2], "runnable": True,
             "newer": [2]}]
    text = rules_advice(rows, Path("DIR"))
    assert "cannot run the ledger (it lacks orders v9)" in text
    assert "refuse to start" in text and "adopt" not in text


# -- serve -----------------------------------------------------------------------------------

def test_serve_with_a_wrong_node_password_names_the_node_key(old_ledger: Path) -> None:
    # It said only "wrong password or tampered key file": which of the operator's files
    # and passwords was not said (tx submit named it).
    res = run("serve", "--data", str(old_ledger), "--port", "1",
              env={"SUPPLYLEDGER_NODE_PASSWORD": "not-the-password"})
    assert res.exit_code == 2, res.output
    err = flat(res.stderr)
    assert f"node key {old_ledger / 'node.key'}: wrong password" in err, err
    assert "SUPPLYLEDGER_NODE_PASSWORD" in err, err


def _serve(d: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", "serve",
         "--data", str(d), "--port", str(port)],
        env={**os.environ, "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW, "COLUMNS": "400"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_on_a_port_in_use_stops_before_the_node_starts(old_ledger: Path) -> None:
    # uvicorn found the port taken only after the node had started (on an upgraded ledger:
    # after rebuilding its tables) and "serving" was printed; it logged the OSError and
    # exited 3, with no word on what to do.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        proc = _serve(old_ledger, taken.getsockname()[1])
        out, err = proc.communicate(timeout=120)
    finally:
        taken.close()
    assert proc.returncode == 2, (out, err)
    assert "serving" not in out, out
    assert "cannot listen on 127.0.0.1:" in err and "choose another --port" in err, err
    # The node never opened the ledger: the earlier release's tables are still there.
    assert {f.table for f in run_audit(old_ledger, workers=0).findings} == {
        "financing", "sensor_breaches", "shipments", "trace_events", "trace_unpacked",
        "withdrawals"}


def test_serve_still_serves_and_stops_on_sigterm(old_ledger: Path) -> None:
    # The address is checked (bound and released) before the node starts; uvicorn binds it.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _serve(old_ledger, port)
    try:
        wait_serving(proc, port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert run_audit(old_ledger, workers=0).ok  # upgraded by its first start
