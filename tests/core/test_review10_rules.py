"""Review of contract rules versions: outcomes that depended on the installed release
(adoptions of rules it lacks), ledgers naming contracts a release lacks, malformed genesis
``rules`` and the ``rules`` command on bad directories; plus the executor's version cache
under a trimmed state cache, restarts and repair.

``tally`` (from test_rules) adds 1 per call under v1, 2 under v2, and 3 would be a later
release's v3.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.contracts.registry import load_builtin
from supplyledger.errors import RulesUnsupported, UnknownContract
from supplyledger.ledger.encoding import canonical, decode
from supplyledger.node.audit import run_audit
from supplyledger.node.repair import repair
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.sqlite import DB_NAME

from .conftest import T0, Ledger
from .test_rules import release, run, start, stop


def _sql(led: Ledger, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(led.dir / DB_NAME)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _adopted_v2(led: Ledger) -> int:
    """tally v1 call, adoption of v2, v2 call, under a release with tally (1, 2); returns
    the adoption's height."""
    node = start(led, release(1, 2))
    assert run(led, node, "tally", "add", {"k": "x"}).result == 1
    adopt = run(led, node, "rules", "adopt", {"contract": "tally", "version": 2})
    assert adopt.ok
    assert run(led, node, "tally", "add", {"k": "x"}).result == 3
    stop(led, node)
    return int(adopt.height)


def test_an_adoption_of_rules_this_release_lacks_is_refused_and_not_recorded(
        ledger: Ledger) -> None:
    # Recorded as a failed call, a later release implementing v3 would re-execute it as
    # an adoption and every block after it differently: the refusal must leave no trace.
    node = start(ledger, release(1, 2))
    before = ledger.counts()["txs"]
    with pytest.raises(RulesUnsupported, match="tally rules v3"):
        run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 3})
    assert ledger.counts()["txs"] == before
    assert run(ledger, node, "tally", "add", {"k": "x"}).result == 1
    stop(ledger, node)
    rep = run_audit(ledger.dir, workers=0, contracts=release(1, 2, 3))
    assert rep.ok, rep.findings


def test_an_adoption_for_a_contract_this_release_lacks_is_refused_and_not_recorded(
        ledger: Ledger) -> None:
    node = ledger.start()  # the built-in contracts: no tally
    before = ledger.counts()["txs"]
    with pytest.raises(UnknownContract, match="tally"):
        run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2})
    assert ledger.counts()["txs"] == before
    node.stop()
    ledger.nodes.remove(node)
    assert run_audit(ledger.dir, workers=0, contracts=release(1, 2)).ok


def test_audit_by_a_release_without_the_contract_stops_at_its_first_use(
        ledger: Ledger) -> None:
    _adopted_v2(ledger)  # tally's first call is at height 1
    rep = run_audit(ledger.dir, workers=0, contracts=load_builtin())
    assert [(f.kind, f.height) for f in rep.findings] == [("rules_unsupported", 1)]
    assert "'tally'" in rep.findings[0].detail and rep.blocks == 1 and not rep.ok


def test_audit_by_a_release_without_the_contract_stops_at_its_adoption(
        ledger: Ledger) -> None:
    node = start(ledger, release(1, 2))
    adopt = run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2})
    stop(ledger, node)
    rep = run_audit(ledger.dir, workers=0, contracts=load_builtin())
    assert [(f.kind, f.height) for f in rep.findings] == [("rules_unsupported", adopt.height)]
    assert "no tally contract" in rep.findings[0].detail


def test_a_node_refuses_rules_of_a_contract_its_release_lacks(ledger: Ledger) -> None:
    _adopted_v2(ledger)
    with pytest.raises(RulesUnsupported, match="tally"):
        ledger.start()
    node = start(ledger, release(2))  # the directory lock was released
    assert run(ledger, node, "tally", "add", {"k": "x"}).result == 5


def test_rules_command_names_rules_of_contracts_the_release_lacks(ledger: Ledger) -> None:
    _adopted_v2(ledger)
    out = CliRunner().invoke(app, ["rules", "--data", str(ledger.dir), "--json"])
    assert out.exit_code == 1, out.output
    rows = {r["contract"]: r for r in json.loads(out.output)["contracts"]}
    assert rows["tally"] == {"contract": "tally", "in_force": 2, "implemented": [],
                             "runnable": False, "newer": []}


def test_a_tampered_rules_value_is_a_clear_error(ledger: Ledger) -> None:
    _sql(ledger, "INSERT OR REPLACE INTO state(key, value) VALUES (?, ?)", "rules/v/trace",
         canonical("two"))
    out = CliRunner().invoke(app, ["rules", "--data", str(ledger.dir)])
    assert out.exit_code == 2 and "rules/v/trace" in out.output, out.output
    with pytest.raises(RulesUnsupported, match="rules/v/trace"):
        ledger.start()


def test_rules_command_on_a_missing_directory_and_beside_a_running_node(
        ledger: Ledger, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["rules", "--data", str(tmp_path / "none")])
    assert out.exit_code == 2 and "no ledger" in out.output, out.output
    ledger.start()  # holds the writer lock: the report only reads
    out = CliRunner().invoke(app, ["rules", "--data", str(ledger.dir), "--json"])
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize("rules", [
    [["trace", 2]], {"trace": 0}, {"trace": -1}, {"trace": 2**53 - 1}, {"trace": "2"},
    {"trace": True}, {"trace": None}, {"nosuch": 2}])
def test_audit_of_a_genesis_with_malformed_rules_gives_findings(
        ledger: Ledger, rules: Any) -> None:
    tx_id, raw = _sql(ledger, "SELECT id, raw FROM txs WHERE height = 0")[0]
    doc = decode(bytes(raw))
    doc["rules"] = rules
    _sql(ledger, "UPDATE txs SET raw = ? WHERE id = ?", canonical(doc), tx_id)
    rep = run_audit(ledger.dir, workers=0)
    kinds = {f.kind for f in rep.findings}
    assert not rep.ok and kinds & {"genesis", "rules_unsupported"}, rep.findings


def test_versions_follow_adoptions_across_a_trimmed_cache_and_a_restart(
        ledger: Ledger) -> None:
    contracts = release(1, 2)
    node = Node(Settings(ledger.dir, verify_workers=0, state_cache_keys=1), ledger.node_key,
                clock=lambda: T0, contracts=contracts).start()
    ledger.nodes.append(node)
    assert run(ledger, node, "tally", "add", {"k": "a"}).result == 1
    failed = run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 1})
    assert failed.error["code"] == "invalid_state"  # a failed adoption changes nothing
    assert run(ledger, node, "tally", "add", {"k": "a"}).result == 2
    assert run(ledger, node, "rules", "adopt", {"contract": "tally", "version": 2}).ok
    for k in "bcdef":  # each block trims the state cache back to nothing
        assert run(ledger, node, "tally", "add", {"k": k}).result == 2
    stop(ledger, node)
    node = start(ledger, contracts)
    assert run(ledger, node, "tally", "add", {"k": "a"}).result == 4
    stop(ledger, node)
    assert run_audit(ledger.dir, workers=0, contracts=contracts).ok


def test_repair_restores_the_rules_in_force_and_their_history(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    height = _adopted_v2(ledger)
    _sql(ledger, "DELETE FROM state WHERE key = 'rules/v/tally'")
    _sql(ledger, "UPDATE rules_adopted SET previous = 7 WHERE contract = 'tally'")
    # Without the key a node would run v1 again: the audit names it, the repair restores it.
    monkeypatch.setattr("supplyledger.node.audit.load_builtin", lambda: release(1, 2))
    out = repair(ledger.dir, workers=0)
    assert {(f.kind, f.table) for f in out.before.findings} == {
        ("missing_row", "state"), ("changed_row", "rules_adopted")}
    assert out.ok and out.restored == ["rules_adopted", "state"]
    assert _sql(ledger, "SELECT contract, version, previous, height FROM rules_adopted "
                "WHERE contract = 'tally'") == [
        ("tally", 2, 1, height)]
    node = start(ledger, release(1, 2))
    assert run(ledger, node, "tally", "add", {"k": "x"}).result == 5
