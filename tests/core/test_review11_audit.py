"""Review 11 (the audit): its memory bounded whatever the size of the state, a clean stop
when the release lacks a method the ledger ran, an early stop that leaves no worker behind,
and ``repair`` refusing a tail of blocks cut off when only the rows naming their
transactions give it away. Each fix has a test that failed before it; the others guard
what the fixes moved (duplicate ids, a repair that must still go ahead)."""

from __future__ import annotations

import json
import pickle
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from supplyledger.contracts.executor import Executor
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, method
from supplyledger.contracts.schema import Int, Str
from supplyledger.errors import InvalidState, NotRepairable
from supplyledger.node import audit as audit_mod
from supplyledger.node import audit_work
from supplyledger.node.audit import run_audit
from supplyledger.node.audit_work import AuditWorkers
from supplyledger.node.repair import repair
from supplyledger.store import history
from supplyledger.store.sqlite import DB_NAME

from .conftest import Ledger
from .test_audit import Built
from .test_audit import built as built
from .test_repair import _copy, _digest, _edit
from .test_rules import add, release, run, start, stop

# -- memory: the re-executed state lives on disk, not in the executor's cache -------------


@pytest.fixture
def tiny_limits(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Limits far below the test ledger's ~230 state keys, and a Bloom filter so small that
    it says "maybe" for almost every key: every path to the scratch database is taken."""
    monkeypatch.setattr(audit_mod, "CACHE_KEYS", 20, raising=False)
    monkeypatch.setattr(audit_mod, "FLUSH_KEYS", 8, raising=False)
    monkeypatch.setattr(audit_work, "BLOOM_BITS", 64, raising=False)
    monkeypatch.setattr(history, "SCRATCH_CACHE_KIB", 64, raising=False)
    most = {"cache": 0, "block": 0}
    execute = Executor.execute

    def spy(self: Executor, *args: Any, **kwargs: Any) -> Any:
        res = execute(self, *args, **kwargs)
        most["cache"] = max(most["cache"], len(self.cache))
        most["block"] = max(most["block"], len(res.writes))
        return res

    monkeypatch.setattr(Executor, "execute", spy)
    return most


def test_the_scratch_database_keeps_state_and_ids_as_the_audit_needs_them() -> None:
    conn = history.scratch_tables([])
    try:
        history.write_scratch_state(conn, [("b", b"2"), ("a", b"1")])
        history.write_scratch_state(conn, [("b", None), ("c", b"3")])  # None: deleted
        assert list(history.scratch_state_rows(conn)) == [("a", b"1"), ("c", b"3")]
        assert history.scratch_state(conn, ["a", "b"]) == {"a": b"1"}
        assert history.record_ids(conn, [("x", 1), ("y", 2)]) == set()
        # Seen before at another position, or twice in one batch: the later ones.
        assert history.record_ids(conn, [("x", 3), ("z", 4), ("z", 5)]) == {3, 5}
    finally:
        conn.close()


def test_the_audits_state_cache_stays_bounded_and_a_clean_ledger_stays_clean(
        built: Built, tiny_limits: dict[str, int]) -> None:
    report = run_audit(built.dir, workers=0)
    assert report.ok, report.findings[:3]
    assert report.txs == built.txs
    # Past 20 keys the cache is trimmed to the writes not yet written down: under 8 from
    # earlier blocks plus the block's own (the old audit held all ~240 keys).
    bound = 20 + 8 + tiny_limits["block"]
    assert 0 < tiny_limits["cache"] <= bound, tiny_limits


def test_state_edits_are_named_with_the_state_on_disk(
        built: Built, tmp_path: Path, tiny_limits: dict[str, int]) -> None:
    d = _copy(built, tmp_path)
    changed, deleted = f"trace/b/{built.batch}", f"identity/p/{built.member}"
    _edit(d, ("UPDATE state SET value=CAST('{}' AS BLOB) WHERE key=?", (changed,)),
          ("DELETE FROM state WHERE key=?", (deleted,)),
          ("INSERT INTO state VALUES ('trace/b/forged', CAST('{}' AS BLOB))", ()))
    report = run_audit(d, workers=0)
    found = {(f.kind, f.row) for f in report.findings if f.table == "state"}
    assert found == {("changed_row", changed), ("missing_row", deleted),
                     ("extra_row", "trace/b/forged")}, report.findings


@pytest.mark.parametrize("stored_id", ["f" * 64, None])
def test_a_repeated_transaction_is_still_found(built: Built, tmp_path: Path,
                                               stored_id: str | None) -> None:
    # The ids seen moved to the scratch database: a copy of a stored transaction in a later
    # block is still named, under a made-up stored id or (since migration 5 took the
    # UNIQUE constraint off txs.id) under its own.
    stored_id = stored_id or built.tx
    d = _copy(built, tmp_path)
    conn = sqlite3.connect(d / DB_NAME)
    try:
        raw, signer = conn.execute("SELECT raw, signer FROM txs WHERE id=?",
                                   (built.tx,)).fetchone()
        n = conn.execute("SELECT COUNT(*) FROM txs WHERE height=?", (built.height,)).fetchone()[0]
        conn.execute("INSERT INTO txs VALUES (?,?,?,?,?,?,?,?,?,?)",
                     ((built.height << 20) + n, stored_id, built.height, n, raw, signer, "trace",
                      "record_event", 1, b"{}"))
        conn.commit()
    finally:
        conn.close()
    report = run_audit(d, workers=0)
    assert ("duplicate_tx", stored_id) in {(f.kind, f.row) for f in report.findings}


# -- an early stop with worker processes --------------------------------------------------

def test_workers_owing_answers_are_stopped_not_waited_for(built: Built) -> None:
    # An audit that stops early (a missing block, rules it lacks) still owes answers: a
    # worker blocked writing one nobody reads hung the close for 30 s, then raised.
    conn = sqlite3.connect(f"file:{built.dir / DB_NAME}?mode=ro", uri=True)
    try:  # the answer for every transaction is far more than a pipe holds
        answer = audit_work.audit_range(conn, lambda signer: None, load_builtin(), 0,
                                        built.height)
    finally:
        conn.close()
    assert len(pickle.dumps(answer)) > 1 << 17
    workers = AuditWorkers(str(built.dir / DB_NAME), 1)
    try:
        workers.request(0, built.height)
    finally:
        workers.close()
    assert all(p.poll() is not None for p in workers.procs)


def test_an_audit_that_stops_early_with_workers_reports(built: Built, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(audit_mod, "CHUNK_TXS", 40, raising=False)
    monkeypatch.setattr(audit_mod, "CHUNK", 2, raising=False)  # its name before the fix
    d = _copy(built, tmp_path)
    _edit(d, ("DELETE FROM blocks WHERE height=0", ()))
    report = run_audit(d, workers=2)
    assert [(f.kind, f.height) for f in report.findings] == [("missing_block", 0)]


# -- a release that lacks a method the ledger ran -----------------------------------------

@method(roles=ANY_PARTICIPANT, args={"k": Str(), "by": Int(min=1)})
def bump(ctx: Ctx, a: dict[str, Any]) -> int:
    if a["by"] > 100:
        raise InvalidState("bumps go up to 100", current=str(a["by"]))
    total = (ctx.get(a["k"]) or 0) + a["by"]
    ctx.put(a["k"], total)
    return int(total)


def _newer() -> dict[str, Contract]:
    """A later release whose tally gained ``bump`` without a new rules version."""
    return {**release(1), "tally": Contract.of("tally", "adds", [add, bump], versions=(1,))}


def test_audit_by_a_release_without_a_method_stops_once_naming_it(ledger: Ledger) -> None:
    node = start(ledger, _newer())
    assert run(ledger, node, "tally", "add", {"k": "x"}).ok
    first = run(ledger, node, "tally", "bump", {"k": "x", "by": 5})
    assert first.ok and first.result == 6
    for _ in range(3):
        assert run(ledger, node, "tally", "bump", {"k": "x", "by": 1}).ok
    assert not run(ledger, node, "tally", "bump", {"k": "x", "by": 101}).ok  # decided by it
    stop(ledger, node)
    assert run_audit(ledger.dir, workers=0, contracts=_newer()).ok

    rep = run_audit(ledger.dir, workers=0, contracts=release(1))
    assert [(f.kind, f.height, f.tx) for f in rep.findings] == [
        ("rules_unsupported", first.height, first.tx_id)], rep.findings
    assert "tally.bump" in rep.findings[0].detail and "no method 'bump'" in (
        rep.findings[0].detail)
    assert rep.blocks == first.height and not rep.ok


def test_a_failure_decided_with_the_method_also_stops_the_audit(ledger: Ledger) -> None:
    node = start(ledger, _newer())
    failed = run(ledger, node, "tally", "bump", {"k": "x", "by": 101})  # its body refuses
    assert failed.error["code"] == "invalid_state"
    stop(ledger, node)
    rep = run_audit(ledger.dir, workers=0, contracts=release(1))
    assert [(f.kind, f.height) for f in rep.findings] == [("rules_unsupported", failed.height)]


# -- repair: a cut tail given away by the transactions its rows name ---------------------

def test_repair_refuses_a_cut_tail_whose_rows_name_no_block_height(
        ledger: Ledger, tmp_path: Path) -> None:
    node = ledger.start()
    assert node.submit(ledger.tx(ledger.admin, "identity", "register_org", {
        "id": "acme", "name": "Acme", "roles": ["manufacturer"]})).result(10).ok
    member = node.submit(ledger.tx(ledger.admin, "identity", "register_member", {
        "org": "acme", "public_key": ledger.keys.ed[0].public.b64, "name": "maker",
        "roles": ["manufacturer"]})).result(10)
    assert member.ok
    node.stop()
    ledger.nodes.remove(node)
    d = tmp_path / "cut"
    shutil.copytree(ledger.dir, d)
    _edit(d, ("DELETE FROM txs WHERE height>=?", (member.height,)),
          ("DELETE FROM blocks WHERE height>=?", (member.height,)))
    # The member's rows name its transaction but no height: the old check saw nothing.
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        assert conn.execute("SELECT tx FROM participants WHERE tx=?",
                            (member.tx_id,)).fetchall()
    finally:
        conn.close()
    digest = _digest(d)
    with pytest.raises(NotRepairable, match=rf"blocks end at {member.height - 1} but "
                       rf"participants names transaction {member.tx_id[:16]}…, which no "
                       "stored block holds"):
        repair(d, workers=0)
    assert _digest(d) == digest


def test_repair_still_restores_rows_that_name_stored_transactions(
        built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    _edit(d, ("UPDATE participants SET roles='admin' WHERE did=?", (built.member,)),
          ("UPDATE trace_events SET tx=? WHERE batch=? AND seq=?",
           (built.failed_tx, built.batch, built.seq)))
    rep = repair(d, workers=0)
    assert rep.ok and rep.restored == ["participants", "trace_events"]
    assert json.dumps(rep.to_dict())
