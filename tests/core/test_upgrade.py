"""A ledger written by an earlier release, opened by this one.

``data/release-c797c06`` holds the demo ledger (``supplyledger demo --no-serve --weeks 4``,
its planted edit written back by ``repair``) as release c797c06 left it: blocks, state,
projections and web accounts of that release. Every later release must audit it clean,
continue it under the rules its blocks were made with, and move to newer rules only when
an admin adopts them. A contract change that re-decides an old transaction differently
(a new refusal, another error message, another amount) fails here, unless it sits behind a
new rules version.
"""

from __future__ import annotations

import json
import lzma
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.ledger.keyfile import unseal
from supplyledger.ledger.tx import make_tx
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.repair import repair
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.localdb import LocalDB
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

FIXTURE = Path(__file__).parent / "data" / "release-c797c06"
SECRETS: dict[str, Any] = json.loads((FIXTURE / "logins.json").read_text())


@pytest.fixture
def old_ledger(tmp_path: Path) -> Path:
    d = tmp_path / "ledger"
    shutil.copytree(FIXTURE, d, ignore=shutil.ignore_patterns("*.xz", "logins.json"))
    with lzma.open(FIXTURE / "ledger.sqlite.xz") as src, (d / DB_NAME).open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return d


def _rules(d: Path) -> dict[str, dict[str, Any]]:
    res = CliRunner().invoke(app, ["rules", "--data", str(d), "--json"])
    assert res.exit_code == 0, res.output
    return {r["contract"]: r for r in json.loads(res.output)["contracts"]}


def _key(d: Path, login: str) -> Any:
    db = LocalDB(d / DB_NAME)
    try:
        row = db.account_by_login(login)
        assert row is not None
        return unseal(row.sealed_key, SECRETS["logins"][login])
    finally:
        db.close()


def _rebuilt_on_open(d: Path) -> list[str]:
    """The projection tables a node of this release drops and rebuilds when it opens a copy
    of ``d`` (their recorded schema is not this release's)."""
    copy = d.parent / "probe"
    shutil.copytree(d, copy)
    store = SQLiteStore(copy, all_tables(load_builtin()))
    try:
        return sorted(store.ensure_projections())
    finally:
        store.close()
        shutil.rmtree(copy)


def test_an_earlier_release_s_ledger_audited_before_a_node_opens_it_names_its_tables(
        old_ledger: Path) -> None:
    # The audit said "table unreadable: no such column/table" for these, and would have
    # compared row by row a table whose columns stayed but whose meaning changed.
    stale = _rebuilt_on_open(old_ledger)
    # Tables and a column this release added: otherwise this test checks nothing.
    assert {"withdrawals", "trace_unpacked", "financing"} <= set(stale), stale
    rep = run_audit(old_ledger, workers=0)
    assert rep.ok is False and rep.blocks == 917
    assert sorted((f.kind, f.table) for f in rep.findings) == [
        ("projection_schema", name) for name in stale], rep.findings
    assert all("rebuilds it from the blocks" in f.detail for f in rep.findings)


def test_repair_rebuilds_an_earlier_release_s_tables_as_a_node_would(
        old_ledger: Path) -> None:
    stale = _rebuilt_on_open(old_ledger)
    out = repair(old_ledger, workers=0)
    assert out.restored == sorted(stale) and out.ok, out.to_dict()
    assert _rebuilt_on_open(old_ledger) == []  # their schema recorded: a node keeps them


def test_an_earlier_release_s_ledger_audits_clean_once_this_release_has_opened_it(
        old_ledger: Path) -> None:
    with Node(Settings(old_ledger), load_node_key(old_ledger, SECRETS["node_key_password"])):
        pass  # opening rebuilds the projections whose schema this release changed
    rep = run_audit(old_ledger, workers=0)
    assert rep.ok, rep.findings[:5]
    assert rep.blocks == 917


def test_an_upgraded_ledger_keeps_its_rules_until_an_admin_adopts_newer_ones(
        old_ledger: Path) -> None:
    before = _rules(old_ledger)
    assert all(r["runnable"] for r in before.values())
    newer = {name: r["newer"][-1] for name, r in before.items() if r["newer"]}
    # This release has rules the earlier one did not: otherwise this test checks nothing.
    assert newer, "no contract has rules newer than the fixture ledger's"
    admin = _key(old_ledger, "admin")
    now = int(time.time() * 1000)
    with Node(Settings(old_ledger),
              load_node_key(old_ledger, SECRETS["node_key_password"])) as node:
        for n, (name, version) in enumerate(sorted(newer.items())):
            tx = make_tx(admin, chain=node.chain, contract="rules", method="adopt",
                         args={"contract": name, "version": version}, time_ms=now + n,
                         nonce=f"upgrade-{n}")
            assert node.submit(tx.raw).result(30).ok
    after = _rules(old_ledger)
    assert {name: after[name]["in_force"] for name in newer} == newer
    assert all(not r["newer"] for r in after.values())
    rep = run_audit(old_ledger, workers=0)
    assert rep.ok, rep.findings[:5]
    assert rep.blocks > 917
