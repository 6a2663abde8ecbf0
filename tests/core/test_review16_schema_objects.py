"""Schema objects someone added to a ledger's SQLite file: the audit names each, the repair
drops what holds no data.

A trigger can rewrite every later commit (a balance changed on each insert) while every row
the audit compares still matches; an index, a view or a table no migration creates is no
part of the ledger either. The audit compares the file's objects with those of a new ledger
of this release; SQLite's own (``sqlite_autoindex_*``, ``sqlite_stat*``) and an earlier
release's ledger (tests/core/test_upgrade.py) stay clean. The demo ledger audits clean in
tests/core/test_review11_tamper.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NotRepairable
from supplyledger.node.audit import run_audit
from supplyledger.node.repair import repair
from supplyledger.store.sqlite import DB_NAME

from .test_audit import Built
from .test_audit import built as built
from .test_upgrade import FIXTURE, _unpacked

SKIM = ("CREATE TRIGGER skim AFTER INSERT ON state BEGIN "
        "UPDATE state SET value = X'00' WHERE key = NEW.key; END")


def _copy(built: Built, tmp_path: Path, *sql: str) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    _run(d, *sql)
    return d


def _run(d: Path, *sql: str) -> None:
    conn = sqlite3.connect(d / DB_NAME)
    try:
        for stmt in sql:
            conn.execute(stmt)
        conn.commit()
    finally:
        conn.close()


def _objects(d: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {(r[0], r[1]) for r in conn.execute("SELECT type, name FROM sqlite_master")}
    finally:
        conn.close()


def _dump(d: Path, *tables: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


@pytest.mark.parametrize(("sql", "name", "kind"), [
    (SKIM, "skim", "trigger on state"),
    ("CREATE VIEW rich AS SELECT * FROM state", "rich", "view"),
    ("CREATE INDEX ix_txs_signer ON txs (signer)", "ix_txs_signer", "index on txs"),
    # An index on a projection table, named as the store would name one it declared.
    ("CREATE INDEX ix_participants_name ON participants (name)", "ix_participants_name",
     "index on participants"),
])
def test_an_added_object_is_a_finding_naming_its_type_and_sql(
        built: Built, tmp_path: Path, sql: str, name: str, kind: str) -> None:
    rep = run_audit(_copy(built, tmp_path, sql), workers=0)
    assert not rep.ok
    assert [(f.kind, f.table) for f in rep.findings] == [("unknown_object", name)]
    detail = rep.findings[0].detail
    assert detail.startswith(f"{kind} not created by supplyledger: ")
    assert sql.split(" ")[1] in detail and name in detail


def test_audit_json_points_at_the_trigger_and_exits_1(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, SKIM)
    res = CliRunner().invoke(app, ["audit", "--data", str(d), "--json"])
    assert res.exit_code == 1, res.output
    out = json.loads(res.output)
    assert [(f["kind"], f["table"]) for f in out["findings"]] == [("unknown_object", "skim")]
    assert "AFTER INSERT ON state" in out["findings"][0]["detail"]


def test_an_added_table_is_named_with_its_sql(built: Built, tmp_path: Path) -> None:
    rep = run_audit(_copy(built, tmp_path, "CREATE TABLE notes (body TEXT)",
                          "CREATE INDEX notes_body ON notes (body)"), workers=0)
    # Its index goes with it: one finding, for the table.
    assert [(f.kind, f.table) for f in rep.findings] == [("unknown_table", "notes")]
    assert "CREATE TABLE notes (body TEXT)" in rep.findings[0].detail


def test_sqlite_s_own_objects_are_no_finding(built: Built, tmp_path: Path) -> None:
    # ANALYZE writes sqlite_stat1 (and sqlite_stat4 where built in).
    d = _copy(built, tmp_path, "ANALYZE")
    assert any(name.startswith("sqlite_stat") for _, name in _objects(d))
    rep = run_audit(d, workers=0)
    assert rep.ok, rep.findings


def test_an_earlier_release_s_ledger_with_a_trigger_added(tmp_path: Path) -> None:
    d = _unpacked(FIXTURE, tmp_path)
    # shipments was built by that release (another schema): an index on it is that
    # release's business, gone when the table is rebuilt; the trigger is not.
    _run(d, "CREATE INDEX ix_shipments_old ON shipments (status, plan)",
         "CREATE TRIGGER pad AFTER INSERT ON balances BEGIN "
         "UPDATE balances SET amount = amount + 1 WHERE rowid = NEW.rowid; END")
    rep = run_audit(d, workers=0)
    kinds = {(f.kind, f.table) for f in rep.findings}
    assert ("unknown_object", "pad") in kinds and ("projection_schema", "shipments") in kinds
    assert {k for k, _ in kinds} == {"unknown_object", "projection_schema"}, kinds
    assert ("unknown_object", "ix_shipments_old") not in kinds

    out = repair(d, workers=0)
    assert out.ok and out.dropped == ["trigger pad"] and "shipments" in out.restored
    assert not {"pad", "ix_shipments_old"} & {n for _, n in _objects(d)}


def test_repair_drops_the_trigger_before_writing_the_state_back(
        built: Built, tmp_path: Path) -> None:
    key = f"trace/b/{built.batch}"
    # The state row deleted: the write-back inserts it, which the trigger would overwrite.
    d = _copy(built, tmp_path, SKIM, f"DELETE FROM state WHERE key='{key}'",
              "CREATE VIEW rich AS SELECT * FROM state")
    before = run_audit(d, workers=0)
    assert {(f.kind, f.table) for f in before.findings} >= {
        ("unknown_object", "skim"), ("unknown_object", "rich"), ("missing_row", "state")}

    out = repair(d, workers=0)

    assert out.ok and out.after is not None and out.after.ok, out.to_dict()
    assert out.restored == ["state"] and sorted(out.dropped) == ["trigger skim", "view rich"]
    assert _dump(d, "state", "blocks", "txs") == _dump(built.dir, "state", "blocks", "txs")
    assert _objects(d) == _objects(built.dir)


def test_repair_command_names_what_it_dropped(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, "CREATE INDEX ix_txs_signer ON txs (signer)")
    res = CliRunner().invoke(app, ["repair", "--data", str(d)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "in index ix_txs_signer (dropped); audit after: CLEAN" in res.output
    assert ("index", "ix_txs_signer") not in _objects(d)


def test_repair_refuses_an_added_table_and_says_why(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, "CREATE TABLE notes (body TEXT)",
              "INSERT INTO notes VALUES ('someone''s data')", SKIM)
    digest = _dump(d, "notes", "state")
    objects = _objects(d)
    with pytest.raises(NotRepairable, match="may hold someone's data") as exc:
        repair(d, workers=0)
    assert "notes" in exc.value.message and "move what they hold elsewhere" in exc.value.message
    # Nothing changed: not even the trigger, which alone the repair would drop.
    assert _dump(d, "notes", "state") == digest and _objects(d) == objects
