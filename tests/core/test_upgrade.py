"""A ledger written by an earlier release, opened by this one.

``data/release-<commit>`` holds the demo ledger (``supplyledger demo --no-serve --weeks 4``,
its planted edit written back by ``repair``) as that release left it: blocks, state,
projections and web accounts. c797c06 ran every contract on rules v1; f0fdf52 ran trace v3
and most others on v2. Every later release must audit each clean,
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
from dataclasses import dataclass
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

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Release:
    name: str
    blocks: int
    # Projection tables (or their columns) added since that release: the audit must name
    # them before a node opens the ledger, or the first test checks nothing.
    new_tables: frozenset[str]

    @property
    def secrets(self) -> dict[str, Any]:
        return json.loads((DATA / f"release-{self.name}" / "logins.json").read_text())  # type: ignore[no-any-return]


RELEASES = [Release("c797c06", 917, frozenset({"withdrawals", "trace_unpacked", "financing"})),
            Release("f0fdf52", 920, frozenset())]


@pytest.fixture(params=RELEASES, ids=lambda r: r.name)
def release(request: pytest.FixtureRequest) -> Release:
    return request.param  # type: ignore[no-any-return]


def _unpacked(src_dir: Path, tmp_path: Path) -> Path:
    d = tmp_path / "ledger"
    shutil.copytree(src_dir, d, ignore=shutil.ignore_patterns("*.xz", "logins.json"))
    with lzma.open(src_dir / "ledger.sqlite.xz") as src, (d / DB_NAME).open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return d


@pytest.fixture
def release_ledger(tmp_path: Path, release: Release) -> Path:
    return _unpacked(DATA / f"release-{release.name}", tmp_path)


# The c797c06 ledger alone, for the operations tests that start from it.
FIXTURE = DATA / "release-c797c06"
SECRETS: dict[str, Any] = json.loads((FIXTURE / "logins.json").read_text())


@pytest.fixture
def old_ledger(tmp_path: Path) -> Path:
    return _unpacked(FIXTURE, tmp_path)


def _rules(d: Path) -> dict[str, dict[str, Any]]:
    res = CliRunner().invoke(app, ["rules", "--data", str(d), "--json"])
    assert res.exit_code == 0, res.output
    return {r["contract"]: r for r in json.loads(res.output)["contracts"]}


def _key(d: Path, login: str, release: Release) -> Any:
    db = LocalDB(d / DB_NAME)
    try:
        row = db.account_by_login(login)
        assert row is not None
        return unseal(row.sealed_key, release.secrets["logins"][login])
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
        release_ledger: Path, release: Release) -> None:
    # The audit said "table unreadable: no such column/table" for these, and would have
    # compared row by row a table whose columns stayed but whose meaning changed.
    stale = _rebuilt_on_open(release_ledger)
    assert release.new_tables <= set(stale), stale
    rep = run_audit(release_ledger, workers=0)
    assert rep.ok is (not stale) and rep.blocks == release.blocks
    assert sorted((f.kind, f.table) for f in rep.findings) == [
        ("projection_schema", name) for name in stale], rep.findings
    assert all("rebuilds it from the blocks" in f.detail for f in rep.findings)


def test_repair_rebuilds_an_earlier_release_s_tables_as_a_node_would(
        release_ledger: Path, release: Release) -> None:
    stale = _rebuilt_on_open(release_ledger)
    out = repair(release_ledger, workers=0)
    assert out.restored == sorted(stale) and out.ok, out.to_dict()
    assert _rebuilt_on_open(release_ledger) == []  # their schema recorded: a node keeps them


def test_an_earlier_release_s_ledger_audits_clean_once_this_release_has_opened_it(
        release_ledger: Path, release: Release) -> None:
    key = load_node_key(release_ledger, release.secrets["node_key_password"])
    with Node(Settings(release_ledger), key):
        pass  # opening rebuilds the projections whose schema this release changed
    rep = run_audit(release_ledger, workers=0)
    assert rep.ok, rep.findings[:5]
    assert rep.blocks == release.blocks


def test_an_upgraded_ledger_keeps_its_rules_until_an_admin_adopts_newer_ones(
        release_ledger: Path, release: Release) -> None:
    before = _rules(release_ledger)
    assert all(r["runnable"] for r in before.values())
    newer = {name: r["newer"][-1] for name, r in before.items() if r["newer"]}
    # This release has rules the earlier one did not: otherwise this test checks nothing.
    assert newer, "no contract has rules newer than the fixture ledger's"
    admin = _key(release_ledger, "admin", release)
    now = int(time.time() * 1000)
    with Node(Settings(release_ledger),
              load_node_key(release_ledger, release.secrets["node_key_password"])) as node:
        for n, (name, version) in enumerate(sorted(newer.items())):
            tx = make_tx(admin, chain=node.chain, contract="rules", method="adopt",
                         args={"contract": name, "version": version}, time_ms=now + n,
                         nonce=f"upgrade-{n}")
            assert node.submit(tx.raw).result(30).ok
    after = _rules(release_ledger)
    assert {name: after[name]["in_force"] for name in newer} == newer
    assert all(not r["newer"] for r in after.values())
    rep = run_audit(release_ledger, workers=0)
    assert rep.ok, rep.findings[:5]
    assert rep.blocks > release.blocks
