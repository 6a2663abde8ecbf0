"""Review 20, operations: `supplyledger serve` as an operator meets it, in real processes.

A verifier or the commit process killed while the node was idle left `serve` running and
`supplyledger_node_failed` at 0 until a submission was refused; a database file the node's
user cannot write was served (every login and every block then failed); a node key other
users may read went unremarked; the "serving" line was wrapped at the terminal's width
(two lines in a journal). `init` on a full disk left a database without its node key.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from _files import unwritable
from _serving import wait_serving
from supplyledger.ingest.broker import free_port
from supplyledger.ledger.crypto import generate
from supplyledger.ledger.keyfile import KdfParams
from supplyledger.node.bootstrap import init_ledger
from supplyledger.store.sqlite import DB_NAME

NODE_PW = "node-pw"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    d = tmp_path / "ledger"
    init_ledger(d, chain="ops-test", time_ms=T0, node_password=NODE_PW,
                admins=[("admin", generate("ed25519"), None)], kdf=KdfParams(n=2**10))
    return d


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from supplyledger.cli.main import app; app()", *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "SUPPLYLEDGER_NODE_PASSWORD": NODE_PW, "COLUMNS": "60", **extra}


@contextmanager
def _serving(d: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``serve`` on ``d`` in a process group of its own, killed whole at the end."""
    port = free_port()
    proc = subprocess.Popen(_argv("serve", "--data", str(d), "--port", str(port)),
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        wait_serving(proc, port)
        yield proc, port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def _child(proc: subprocess.Popen[Any], module: str) -> int:
    out = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", module], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0])


@pytest.mark.parametrize("module", ["supplyledger.node.verifier",
                                    "supplyledger.node.committer"])
def test_serve_exits_when_a_worker_process_dies_while_the_node_is_idle(
        ledger_dir: Path, module: str) -> None:
    with _serving(ledger_dir) as (proc, port):
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").text.count(
            "\nsupplyledger_node_failed 0\n") == 1
        os.kill(_child(proc, module), signal.SIGKILL)
        try:
            out, err = proc.communicate(timeout=30)  # well under a second here
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still runs with its {module} process dead, unnoticed")
    assert proc.returncode == 2, (out, err)
    what = "a verifier process" if module.endswith("verifier") else "the commit process"
    assert f"the node stopped accepting transactions ({what} died)" in err, err
    assert "by the kernel when memory ran out: see the system log" in err, err
    assert "free disk space" not in err and "Traceback" not in out + err, err
    # One line for a journal, whatever the terminal's width (COLUMNS=60 here).
    assert f"serving http://127.0.0.1:{port}/  (API: http://127.0.0.1:{port}/openapi.json)" \
        " — Ctrl-C to stop\n" in out, out


def test_serve_refuses_a_database_it_cannot_write_and_warns_of_open_key_files(
        ledger_dir: Path) -> None:
    # SQLite opens a file it may not write read-only without a word: serve answered as a
    # healthy node while every login (500, a traceback in the log) and block failed.
    (ledger_dir / "node.key").chmod(0o644)
    db = ledger_dir / DB_NAME
    with unwritable(db):
        try:
            res = subprocess.run(_argv("serve", "--data", str(ledger_dir), "--port",
                                       str(free_port())), env=_env(), capture_output=True,
                                 text=True, timeout=60, start_new_session=True)
        except subprocess.TimeoutExpired:
            pytest.fail("serve served a ledger it cannot write")
    assert res.returncode == 2, res
    assert f"error: {db} cannot be written: attempt to write a readonly database; make " \
        "the ledger directory and its files writable by the node's user" in res.stderr, res
    assert "serving" not in res.stdout and "Traceback" not in res.stderr, res
    assert f"warning: {ledger_dir / 'node.key'} is open to users other than its owner " \
        f"(mode 644): chmod 600 {ledger_dir / 'node.key'}\n" in res.stderr, res.stderr


def test_init_on_a_full_disk_keeps_nothing_and_can_be_run_again(tmp_path: Path) -> None:
    # It left ledger.sqlite (and its -wal) without node.key: `init` then refused the
    # directory ("already holds a ledger") and `serve` found "no ledger" in it.
    d = tmp_path / "new" / "ledger"
    env = _env(SUPPLYLEDGER_KEY_PASSWORD="admin-pw-1")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    res = subprocess.run(_argv("init", "--data", str(d)), env=env, capture_output=True,
                         text=True, timeout=120, preexec_fn=limit)
    assert res.returncode == 2, res
    assert f"error: creating the ledger in {d} failed, and nothing of it was kept: " \
        in res.stderr and "[store_error]" in res.stderr, res.stderr
    assert not (tmp_path / "new").exists()  # the directories it made went too
    again = subprocess.run(_argv("init", "--data", str(d)), env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again
    assert (d / "node.key").is_file() and (d / "keys" / "admin.key").is_file()
