"""Contract rules versions: adoption by a consortium admin, each block re-executed under the
rules in force at its height, and a clear stop where the installed code lacks them.

``tally`` is a contract whose rules changed: v1 adds 1 per call, v2 adds 2. Releases are
played by the contract maps given to the node and the audit.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.contracts.builtin.identity import ROLES, genesis_writes
from supplyledger.contracts.executor import Executor, encode_writes
from supplyledger.contracts.registry import load_builtin
from supplyledger.contracts.runtime import ANY_PARTICIPANT, Contract, Ctx, call_from_env, method
from supplyledger.contracts.schema import Str
from supplyledger.errors import RulesUnsupported, UnknownContract, ValidationError
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import init_ledger
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import CHAIN, FAST_KDF, T0, Keys, Ledger


@method(roles=ANY_PARTICIPANT, args={"k": Str()})
def add(ctx: Ctx, a: dict[str, Any]) -> int:
    total = (ctx.get(a["k"]) or 0) + (1 if ctx.version == 1 else 2)
    ctx.put(a["k"], total)
    return int(total)


def release(*versions: int) -> dict[str, Contract]:
    """The built-in contracts plus ``tally`` implementing ``versions``."""
    return {**load_builtin(), "tally": Contract.of("tally", "adds", [add], versions=versions)}


def start(led: Ledger, contracts: dict[str, Contract]) -> Node:
    node = Node(Settings(led.dir, verify_workers=0), led.node_key, clock=lambda: T0,
                contracts=contracts).start()
    led.nodes.append(node)
    return node


def run(led: Ledger, node: Node, contract: str, method_name: str, args: dict[str, Any],
        key: Any = None) -> Any:
    return node.submit(led.tx(key or led.admin, contract, method_name, args)).result(10)


def stop(led: Ledger, node: Node) -> None:
    node.stop()
    led.nodes.remove(node)


def _adopted_history(led: Ledger) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{led.dir / DB_NAME}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT contract, version, previous FROM rules_adopted "
                            "WHERE contract = 'tally'").fetchall()
    finally:
        conn.close()


@pytest.fixture
def upgraded(ledger: Ledger) -> Ledger:
    """A ledger with two blocks under tally v1, the adoption of v2, two blocks under v2."""
    node = start(ledger, release(1, 2))
    assert [run(ledger, node, "tally", "add", {"k": "x"}).result for _ in range(2)] == [1, 2]
    r = run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2})
    assert r.ok and r.result == {"contract": "tally", "version": 2, "previous": 1}
    assert [run(ledger, node, "tally", "add", {"k": "x"}).result for _ in range(2)] == [4, 6]
    stop(ledger, node)
    return ledger


def test_each_block_is_audited_under_the_rules_of_its_height(upgraded: Ledger) -> None:
    rep = run_audit(upgraded.dir, workers=0, contracts=release(1, 2))
    assert rep.ok, rep.findings
    assert _adopted_history(upgraded) == [("tally", 2, 1)]


def test_audit_without_the_old_rules_stops_with_one_finding(upgraded: Ledger) -> None:
    rep = run_audit(upgraded.dir, workers=0, contracts=release(2))
    assert not rep.ok
    assert [f.kind for f in rep.findings] == ["rules_unsupported"]
    f = rep.findings[0]
    assert f.height == 1 and "tally rules v1" in f.detail and "implements v2" in f.detail


def test_audit_without_the_new_rules_stops_at_the_adoption(upgraded: Ledger) -> None:
    rep = run_audit(upgraded.dir, workers=0, contracts=release(1))
    assert [f.kind for f in rep.findings] == ["rules_unsupported"]
    assert rep.findings[0].height == 3  # blocks 1-2 re-executed clean under v1
    assert "v2" in rep.findings[0].detail


def test_a_node_refuses_a_ledger_whose_rules_it_lacks(upgraded: Ledger) -> None:
    with pytest.raises(RulesUnsupported) as exc:
        start(upgraded, release(1))
    assert exc.value.contract == "tally" and exc.value.version == 2
    assert exc.value.supported == [1]
    node = start(upgraded, release(2))  # the lock was released; a release with v2 runs it
    assert run(upgraded, node, "tally", "add", {"k": "x"}).result == 8


def test_adoption_rejections_change_nothing(ledger: Ledger, keys: Keys) -> None:
    node = start(ledger, release(1, 2))
    assert run(ledger, node, "identity", "register_org",
               {"id": "acme", "name": "Acme", "roles": ["supplier"]}).ok
    member = keys.ed[0]
    assert run(ledger, node, "identity", "register_member",
               {"org": "acme", "public_key": member.public.b64, "name": "m",
                "roles": ["supplier"]}).ok
    cases = [
        ({"contract": "tally", "version": 1}, None, "invalid_state"),  # already in force
        ({"contract": "tally", "version": 2}, member, "role_denied"),
    ]
    for args, key, code in cases:
        r = run(ledger, node, "rules", "adopt", args, key=key)
        assert not r.ok and r.error["code"] == code, (args, r.error)
    # What this code lacks is refused before ordering (another release would decide
    # otherwise): no receipt (test_review10_rules).
    with pytest.raises(RulesUnsupported):
        run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 3})
    with pytest.raises(UnknownContract):
        run(ledger, node, "rules", "adopt", {"contract": "nosuch", "version": 2})
    with pytest.raises(ValidationError):  # arguments the schema refuses: no receipt either
        run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 0})
    assert run(ledger, node, "tally", "add", {"k": "y"}).result == 1  # still v1
    assert run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2}).ok
    r = run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2})
    assert r.error["code"] == "invalid_state" and "rules only move forward" in r.error["message"]
    assert _adopted_history(ledger) == [("tally", 2, 1)]


def test_an_adoption_applies_to_the_calls_after_it_in_the_same_block(keys: Keys) -> None:
    admin = keys.admin
    state = {k: v for k, v in encode_writes(genesis_writes(
        [{"name": "admin", "org": "c", "roles": ["admin"], "public_key": admin.public.b64}],
        [{"id": "c", "name": "C", "roles": list(ROLES)}], T0)).items() if v is not None}
    contracts = release(1, 2)
    ex = Executor(contracts, state.get)
    txs = [make_tx(admin, chain="c", contract=c, method=m, args=a, time_ms=T0, nonce=i)
           for i, (c, m, a) in enumerate([
               ("tally", "add", {"k": "z"}),
               ("rules", "adopt", {"contract": "tally", "version": 2}),
               ("tally", "add", {"k": "z"})])]
    res = ex.execute([call_from_env(contracts, t.id, t.env, t.raw) for t in txs], height=1)
    assert [decode(r).get("result") for r in res.receipts] == [1, {
        "contract": "tally", "version": 2, "previous": 1}, 3]
    assert dict(res.writes)["rules/v/tally"] == canonical(2)


def test_rules_command_names_rules_the_release_lacks(ledger: Ledger) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["rules", "--data", str(ledger.dir), "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["contract"]: r for r in json.loads(out.output)["contracts"]}
    newest = load_builtin()["identity"].versions
    assert rows["identity"] == {"contract": "identity", "in_force": newest[-1],
                                "implemented": list(newest), "runnable": True, "newer": []}
    assert rows.keys() == load_builtin().keys()
    # A ledger written by a release with newer identity rules than this one's:
    conn = sqlite3.connect(ledger.dir / DB_NAME)
    with conn:
        conn.execute("INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)",
                     ("rules/v/identity", canonical(newest[-1] + 1)))
    conn.close()
    out = runner.invoke(app, ["rules", "--data", str(ledger.dir)])
    assert out.exit_code == 1 and "identity" in out.output and "not implemented" in out.output
    with pytest.raises(RulesUnsupported, match=f"identity rules v{newest[-1] + 1}"):
        ledger.start()


def test_a_new_ledger_starts_under_the_newest_rules(tmp_path: Path, keys: Keys) -> None:
    led = Ledger(tmp_path / "new", keys)
    init_ledger(led.dir, chain=CHAIN, time_ms=T0, node_password="pw",
                admins=[("admin", keys.admin, None)], node_key=keys.rsa, kdf=FAST_KDF,
                contracts=release(1, 2))
    try:
        node = start(led, release(1, 2))
        assert run(led, node, "tally", "add", {"k": "x"}).result == 2  # v2 from genesis
        r = run(led, node, "rules", "adopt", {"contract": "tally", "version": 2})
        assert r.error["code"] == "invalid_state"
        stop(led, node)
        assert _adopted_history(led) == [("tally", 2, 1)]
        assert run_audit(led.dir, workers=0, contracts=release(1, 2)).ok
        # The genesis document names the rules: a release without v2 stops at block 0.
        rep = run_audit(led.dir, workers=0, contracts=release(1))
        assert [(f.kind, f.height) for f in rep.findings] == [("rules_unsupported", 0)]
        with pytest.raises(RulesUnsupported):
            start(led, release(1))
    finally:
        for n in led.nodes:
            n.stop()


def test_versions_must_be_ascending_and_positive() -> None:
    for bad in ((), (2, 1), (0, 1), (1, 1)):
        with pytest.raises(ValueError):
            Contract.of("t", "", [add], versions=bad)
