"""Single-use form tokens live in the node's local SQLite table: a restarted server (a new
app over the same data dir) still refuses to sign a form sent before the restart, claims
are atomic across processes' connections, they expire, and the audit names the table as
uncovered with its reason. The old tokens lived in memory and were lost on restart."""

from __future__ import annotations

import threading
from pathlib import Path

from supplyledger.api import create_app
from supplyledger.api.web.once import PENDING, Once
from supplyledger.node.audit import run_audit
from supplyledger.store.migrations import LOCAL_TABLES

from .conftest import World


def test_a_token_stays_single_use_across_a_server_restart(world: World) -> None:
    first = create_app(world.service).state.once
    who = world.did("mill")
    token = first.issue()
    assert first.claim(who, token) == (True, None)
    outcome = {"result": {"tx": "ab" * 32, "ok": True, "height": 3}, "error": None}
    first.settle(who, token, outcome)
    again = create_app(world.service).state.once  # the server object, recreated
    assert again is not first
    assert again.claim(who, token) == (False, outcome)
    assert again.claim(world.did("admin"), token) == (True, None)  # per user
    # a claim still running when the server stopped stays refused (signed or not: unknown)
    running = again.issue()
    assert again.claim(who, running) == (True, None)
    assert create_app(world.service).state.once.claim(who, running) == (False, PENDING)
    # a submission refused before signing releases its token: the corrected form goes
    freed = again.issue()
    assert again.claim(who, freed) == (True, None)
    again.settle(who, freed, None)
    assert again.claim(who, freed) == (True, None)
    # ...but a release never frees a token whose outcome is recorded
    again.settle(who, token, None)
    assert again.claim(who, token) == (False, outcome)
    assert again.claim(who, "") == (True, None)  # no token: not guarded


def test_concurrent_claims_from_two_connections_take_a_token_once(world: World) -> None:
    path = world.node.store.path
    a, b = Once(path), Once(path)
    try:
        wins: list[bool] = []
        lock = threading.Lock()

        def claim(once: Once, token: str) -> None:
            fresh, _ = once.claim("did:sl:x", token)
            with lock:
                wins.append(fresh)

        for i in range(20):
            threads = [threading.Thread(target=claim, args=(o, f"t{i}")) for o in (a, b) * 2]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert wins.count(True) == 20 and len(wins) == 80
    finally:
        a.close()
        b.close()


def test_claims_expire(world: World) -> None:
    now = [1_000_000.0]
    once = Once(world.node.store.path, ttl_s=60, clock=lambda: now[0])
    try:
        once.claim("did:sl:x", "tok")
        once.settle("did:sl:x", "tok", "Record shared.")
        now[0] += 59
        assert once.claim("did:sl:x", "tok") == (False, "Record shared.")
        now[0] += 2  # an old page: its token is forgotten, as a new form's would be
        assert once.claim("did:sl:x", "tok") == (True, None)
    finally:
        once.close()


def test_the_audit_lists_the_token_table_as_uncovered(world: World, tmp_path: Path) -> None:
    once = create_app(world.service).state.once
    once.claim(world.did("mill"), once.issue())
    report = run_audit(world.dir)
    assert report.ok, report
    assert {"table": "local_form_tokens", "reason": LOCAL_TABLES["local_form_tokens"]} in \
        report.uncovered_tables
