"""Block commits in a process of their own (node/committer.py): acknowledged still means
durable, a failing or vanished commit process stops the node without losing or half-writing
anything, and the process never outlives its node or lets a second writer in."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supplyledger.errors import LedgerInUse, NodeStopped, StoreError
from supplyledger.ledger.tx import parse_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.committer import CommitProcess
from supplyledger.node.service import Node
from supplyledger.store.lock import WriterLock
from supplyledger.store.readonly import committed_ids, open_readonly
from supplyledger.store.records import BlockRecord
from supplyledger.store.sqlite import DB_NAME

from .conftest import Ledger

COMMITTER = "supplyledger.node.committer"


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the live processes whose parent is ``pid``."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry)] = cmd
    return out


def _commit_pid(parent: int) -> int:
    pids = [p for p, cmd in _children(parent).items() if COMMITTER in cmd]
    assert len(pids) == 1, _children(parent)
    return pids[0]


def _open_files(pid: int) -> set[str]:
    """What ``pid``'s descriptors point at (one closed while we look is skipped: the child
    opens and closes files as it imports)."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return out


def _within(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _exited(pid: int) -> bool:
    """Whether every thread of ``pid`` has exited. A killed process's main thread shows as a
    zombie while its other threads (the store's checkpointer) are still exiting, holding its
    descriptors and not yet reapable."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # reaped
    return state == "Z" and len(threads) <= 1


def _gone(pid: int) -> bool:
    return _within(lambda: _exited(pid))


def _org(ledger: Ledger, i: int) -> bytes:
    return ledger.tx(ledger.admin, "identity", "register_org",
                     {"id": f"org{i}", "name": f"Org {i}", "roles": ["supplier"]})


def _in_ledger(data_dir: Path, tx_ids: set[str]) -> set[str]:
    """Which of ``tx_ids`` are in a block of the ledger's file."""
    conn = open_readonly(data_dir)
    try:
        return committed_ids(conn, sorted(tx_ids))
    finally:
        conn.close()


def test_a_node_with_verifier_processes_commits_in_its_own_process(ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=5, verify_workers=2)
    pid = _commit_pid(os.getpid())
    assert node.commit_process_alive()
    receipts = [f.result(30) for f in [node.submit(_org(ledger, i)) for i in range(12)]]
    assert all(r.ok for r in receipts)
    acked = {r.tx_id for r in receipts}
    assert _in_ledger(ledger.dir, acked) == acked  # acknowledged means written
    assert len({r.height for r in receipts}) >= 3  # several blocks went through the child
    # Commit time is the child's own, reported in each answer.
    assert sum(node.metrics.commit_ns.counts) == node.metrics.blocks >= 3
    assert node.metrics.commit_ns.total > 0
    node.stop()
    assert _gone(pid)
    report = run_audit(ledger.dir)
    assert report.ok, report.findings


def test_verifying_in_process_commits_in_process_too(ledger: Ledger) -> None:
    node = ledger.start()  # verify_workers=0
    assert node.submit(_org(ledger, 0)).result(30).ok
    assert not node.commit_process_alive()
    assert not any(COMMITTER in cmd for cmd in _children(os.getpid()).values())


def test_a_killed_commit_process_stops_the_node_and_loses_nothing_acknowledged(
        ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=5, verify_workers=2)
    first = [f.result(30) for f in [node.submit(_org(ledger, i)) for i in range(5)]]
    child = _commit_pid(os.getpid())
    os.kill(child, signal.SIGKILL)
    assert _gone(child)
    assert _within(lambda: not node.commit_process_alive())
    later_raws = [_org(ledger, i) for i in range(5, 10)]
    later = [node.submit(raw) for raw in later_raws]
    errors = [f.exception(30) for f in later]
    assert all(isinstance(e, NodeStopped) for e in errors), errors
    assert isinstance(node.failure, StoreError)
    assert "the commit process exited (code -9)" in str(node.failure)
    assert isinstance(node.submit(_org(ledger, 11)).exception(5), NodeStopped)
    node.stop()
    acked = {r.tx_id for r in first}
    assert _in_ledger(ledger.dir, acked) == acked
    # The child was idle when killed: nothing sent afterwards reached the file.
    assert not _in_ledger(ledger.dir, {parse_tx(raw, max_bytes=1 << 16).id
                                       for raw in later_raws})
    report = run_audit(ledger.dir)
    assert report.ok, report.findings
    again = ledger.start(verify_workers=2)  # the directory is free and the chain goes on
    assert again.submit(_org(ledger, 12)).result(30).ok


def test_a_commit_the_database_refuses_stops_the_node_with_its_reason(
        ledger: Ledger) -> None:
    node = ledger.start(block_max_txs=50, verify_workers=2)
    assert node.submit(_org(ledger, 0)).result(30).ok
    blocked = node.height + 1
    # A row in the way of the next block: its INSERT fails inside the commit process.
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    conn.execute("INSERT INTO blocks VALUES (?,?,?,?,?)", (blocked, "x", b"", b"", 0))
    conn.commit()
    before = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("txs", "state", "participants")}
    conn.close()
    err = node.submit(_org(ledger, 1)).exception(30)
    assert isinstance(err, NodeStopped)
    assert f"commit of block {blocked} failed" in str(err)
    assert "UNIQUE constraint failed: blocks.height" in str(err)
    node.stop()
    conn = sqlite3.connect(f"file:{ledger.dir / DB_NAME}?mode=ro", uri=True)
    after = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in before}
    conn.close()
    assert after == before  # nothing of the refused block was written


def test_a_block_that_cannot_be_sent_stops_the_node_without_hanging(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while handing a block over (here injected: marshal refusing a value)
    answers its submitters and stops the node; stopping returns, as no answer is awaited
    for a block the child never got."""
    node = ledger.start(block_max_txs=5, verify_workers=2)
    first = node.submit(_org(ledger, 0)).result(30)
    assert first.ok

    def refuse(*_: object) -> None:
        raise ValueError("unmarshallable object")

    monkeypatch.setattr(CommitProcess, "send", refuse)
    raw = _org(ledger, 1)
    err = node.submit(raw).exception(30)
    assert isinstance(err, NodeStopped) and "unmarshallable object" in str(err)
    assert isinstance(node.submit(_org(ledger, 2)).exception(30), NodeStopped)
    node.stop()
    assert _in_ledger(ledger.dir, {first.tx_id, parse_tx(raw, max_bytes=1 << 16).id}) == {
        first.tx_id}
    report = run_audit(ledger.dir)
    assert report.ok, report.findings


def test_the_commit_process_writes_nothing_after_a_refused_block(ledger: Ledger) -> None:
    """The node sends block k+1 while k commits: when k fails, k+1 (already in the pipe)
    must not land, or the chain would have a gap."""
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    conn.execute("INSERT INTO blocks VALUES (?,?,?,?,?)", (1, "x", b"", b"", 0))
    conn.commit()
    lock = WriterLock(ledger.dir)
    proc = CommitProcess(ledger.dir, lock.fd)
    try:
        for height in (1, 2):
            proc.send(BlockRecord(height, f"h{height}", b"{}", b"", 0, ()), [], ([], {}))
        with pytest.raises(StoreError, match=r"UNIQUE constraint failed: blocks\.height"):
            proc.answer(1)
        with pytest.raises(StoreError, match="commit of block 2 not attempted: commit of "
                                             "block 1 failed"):
            proc.answer(2)
    finally:
        proc.close()
        lock.release()
    assert conn.execute("SELECT height, hash FROM blocks WHERE height > 0").fetchall() == [
        (1, "x")]
    conn.close()


_HOLDER = """
import sys, time
from pathlib import Path
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
d = Path(sys.argv[1])
Node(Settings(d, verify_workers=1), load_node_key(d, "node-pw")).start()  # the fixture's
print("started", flush=True)
time.sleep(600)
"""


def test_the_commit_process_holds_the_lock_and_goes_with_a_killed_node(
        ledger: Ledger) -> None:
    """SIGKILL of the node's process alone: its commit process, which inherited the writer
    lock, exits on its own (its stdin closes), and only then is the directory free."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(ledger.dir)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        child = _commit_pid(proc.pid)
        assert str(ledger.dir / "node.lock") in _open_files(child)
        with pytest.raises(LedgerInUse):
            WriterLock(ledger.dir)
    finally:
        proc.kill()
        proc.wait()
    assert _gone(child)
    WriterLock(ledger.dir).release()
    node: Node = ledger.start(verify_workers=2)
    assert node.submit(_org(ledger, 0)).result(30).ok
