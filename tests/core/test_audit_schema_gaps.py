"""Schema objects of the ledger's own that are missing or defined otherwise: the audit
compared only what a file held beyond a new ledger's, so a dropped index (look-ups then scan
whole tables) and a table re-created with a CHECK constraint (later commits can fail)
audited clean.

The audit now names each object of a new ledger of this release that the file lacks
(``missing_object``) and each table defined otherwise (``changed_schema``). The repair
creates a missing index again, re-creates ``state`` or ``meta`` as defined with their rows
written back, rebuilds a projection table, and refuses a record table (``blocks``, ``txs``)
defined otherwise, changing nothing: a ``txs`` table re-created with the UNIQUE constraint
on ids it had before migration 5, say.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supplyledger.cli.main import app
from supplyledger.errors import NotRepairable
from supplyledger.node.audit import run_audit
from supplyledger.node.bootstrap import load_node_key
from supplyledger.node.repair import repair
from supplyledger.node.service import Node
from supplyledger.node.settings import Settings
from supplyledger.store.restore import restore_derived
from supplyledger.store.sqlite import DB_NAME

from .test_audit import Built
from .test_audit import built as built
from .test_repair import _digest
from .test_upgrade import Release, _rebuilt_on_open
from .test_upgrade import release as release
from .test_upgrade import release_ledger as release_ledger


def _copy(built: Built, tmp_path: Path, *sql: str) -> Path:
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    conn = sqlite3.connect(d / DB_NAME)
    try:
        for stmt in sql:
            conn.execute(stmt)
        conn.commit()
    finally:
        conn.close()
    return d


def _schema(d: Path) -> dict[tuple[str, str], str]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {(r[0], r[1]): r[2] or "" for r in conn.execute(
            "SELECT type, name, sql FROM sqlite_master")}
    finally:
        conn.close()


def _rows(d: Path, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    finally:
        conn.close()


def _redefined(table: str, columns: str, suffix: str = "") -> tuple[str, ...]:
    """Statements that re-create ``table`` as ``columns`` with the same rows (SQLite's
    recipe for a changed definition: copy, drop, rename)."""
    return (f"CREATE TABLE {table}_new ({columns}){suffix}",
            f"INSERT INTO {table}_new SELECT * FROM {table}",
            f"DROP TABLE {table}", f"ALTER TABLE {table}_new RENAME TO {table}")


def _kinds(d: Path) -> list[tuple[str, str | None]]:
    return [(f.kind, f.table) for f in run_audit(d, workers=0).findings]


# -- missing ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "table"), [
    ("ix_trace_events_height_tx", "trace_events"),  # a projection table's
    ("local_form_tokens_expires", "local_form_tokens"),  # a migration's
])
def test_a_dropped_index_is_named_and_repair_creates_it_again(
        built: Built, tmp_path: Path, name: str, table: str) -> None:
    want = _schema(built.dir)[("index", name)]
    d = _copy(built, tmp_path, f"DROP INDEX {name}")
    rep = run_audit(d, workers=0)
    assert not rep.ok
    assert [(f.kind, f.table) for f in rep.findings] == [("missing_object", name)]
    assert rep.findings[0].detail == (f"index on {table} that supplyledger creates is missing "
                                      f"(`repair` creates it again): {' '.join(want.split())}")

    out = repair(d, workers=0)
    assert out.ok and out.after is not None and out.after.ok, out.to_dict()
    assert out.created == [f"index {name}"] and out.dropped == [] and out.restored == []
    assert _schema(d) == _schema(built.dir)


def test_repair_command_names_the_index_it_created(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, "DROP INDEX ix_orders_buyer")
    res = CliRunner().invoke(app, ["repair", "--data", str(d)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "in index ix_orders_buyer (created); audit after: CLEAN" in res.output


def test_a_missing_index_and_a_redefined_one_together(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, "DROP INDEX ix_orders_buyer", "DROP INDEX ix_participants_org",
              "CREATE UNIQUE INDEX ix_participants_org ON participants (did, org)")
    assert sorted(_kinds(d)) == [("missing_object", "ix_orders_buyer"),
                                 ("unknown_object", "ix_participants_org")]
    out = repair(d, workers=0)
    assert out.ok and out.dropped == ["index ix_participants_org"], out.to_dict()
    assert sorted(out.created) == ["index ix_orders_buyer", "index ix_participants_org"]
    assert _schema(d) == _schema(built.dir)


def test_a_dropped_table_is_named_once(built: Built, tmp_path: Path) -> None:
    # A projection table: "table unreadable", its indexes not named besides.
    d = _copy(built, tmp_path, "DROP TABLE trace_events")
    assert _kinds(d) == [("projection", "trace_events")]
    out = repair(d, workers=0)
    assert out.ok and out.restored == ["trace_events"], out.to_dict()
    assert _schema(d) == _schema(built.dir)
    # A core table the audit reads: its own `schema` finding (and the audit stops there).
    d2 = _copy(built, tmp_path / "b", "DROP TABLE meta")
    assert _kinds(d2) == [("schema", "meta")]


def test_a_dropped_bookkeeping_table_is_named_and_not_created_empty(
        built: Built, tmp_path: Path) -> None:
    # Created empty, schema_migrations would make the next node run every migration again.
    d = _copy(built, tmp_path, "DROP TABLE schema_migrations")
    rep = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in rep.findings] == [("missing_object",
                                                          "schema_migrations")]
    assert rep.findings[0].detail.startswith("table that supplyledger creates is missing; "
                                             "`repair` cannot create it again: CREATE TABLE")
    digest = _digest(d)
    with pytest.raises(NotRepairable, match="missing_object in schema_migrations"):
        repair(d, workers=0)
    assert _digest(d) == digest


# -- defined otherwise ------------------------------------------------------------------------

@pytest.mark.parametrize(("table", "columns", "suffix", "changed"), [
    ("state", "key TEXT PRIMARY KEY, value BLOB NOT NULL CHECK (length(value) < 4000)",
     " WITHOUT ROWID", "value BLOB NOT NULL CHECK (length (value) < 4000)) WITHOUT ROWID"),
    # A default a later insert would take where the node writes no value.
    ("meta", "key TEXT PRIMARY KEY, value TEXT NOT NULL DEFAULT 'x'", "",
     "value TEXT NOT NULL DEFAULT 'x')"),
])
def test_state_or_meta_defined_otherwise_is_re_created_with_its_rows(
        built: Built, tmp_path: Path, table: str, columns: str, suffix: str,
        changed: str) -> None:
    d = _copy(built, tmp_path, *_redefined(table, columns, suffix))
    assert _rows(d, table) == _rows(built.dir, table)  # the rows as they were
    rep = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in rep.findings] == [("changed_schema", table)]
    detail = rep.findings[0].detail
    assert detail.startswith("table defined otherwise than supplyledger defines it: stored `")
    assert f"`...{changed}` where supplyledger has `" in detail
    assert "`repair` re-creates it as defined" in detail

    out = repair(d, workers=0)
    assert out.ok and out.after is not None and out.after.ok, out.to_dict()
    assert out.restored == [table]
    assert _schema(d) == _schema(built.dir)
    assert _rows(d, table) == _rows(built.dir, table)


def test_a_projection_table_defined_otherwise_is_rebuilt(built: Built, tmp_path: Path) -> None:
    # Its recorded schema (projection_schema) still says this release's: only the SQL tells.
    cols = ("src TEXT, dst TEXT, kind TEXT CHECK (kind != 'aggregation'), tx TEXT, "
            "height INTEGER, PRIMARY KEY (src, dst, tx)")
    d = _copy(built, tmp_path, *_redefined("trace_links", cols),
              "CREATE INDEX ix_trace_links_dst ON trace_links (dst)")
    rep = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in rep.findings] == [("changed_schema", "trace_links")]
    assert "kind TEXT CHECK (kind != 'aggregation'), tx" in rep.findings[0].detail
    out = repair(d, workers=0)
    assert out.ok and out.restored == ["trace_links"], out.to_dict()
    assert _schema(d) == _schema(built.dir)


@pytest.mark.parametrize(("table", "columns", "changed"), [
    # UNIQUE on id, as before migration 5: no longer this release's definition.
    ("txs", "pos INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, height INTEGER NOT NULL, "
     "idx INTEGER NOT NULL, raw BLOB NOT NULL, signer TEXT NOT NULL, contract TEXT NOT NULL, "
     "method TEXT NOT NULL, ok INTEGER NOT NULL, receipt BLOB NOT NULL",
     "stored `...id TEXT NOT NULL UNIQUE, height"),
    ("blocks", "height INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, header BLOB NOT NULL, "
     "signature BLOB NOT NULL, time INTEGER NOT NULL CHECK (time < 1800000000000)",
     "stored `...time INTEGER NOT NULL CHECK (time < 1800000000000))`"),
])
def test_a_record_table_defined_otherwise_is_named_and_repair_refuses(
        built: Built, tmp_path: Path, table: str, columns: str, changed: str) -> None:
    # The table's own index is created again (it goes with the table), so that only the
    # table's definition differs.
    again = ["CREATE INDEX txs_id_prefix ON txs (substr(id, 1, 12))"] if table == "txs" else []
    d = _copy(built, tmp_path, *_redefined(table, columns), *again,
              "DROP INDEX ix_orders_buyer")
    rep = run_audit(d, workers=0)
    assert sorted((f.kind, f.table) for f in rep.findings) == [
        ("changed_schema", table), ("missing_object", "ix_orders_buyer")]
    detail = next(f.detail for f in rep.findings if f.kind == "changed_schema")
    assert changed in detail and "restore the ledger from a backup" in detail
    digest, schema = _digest(d), _schema(d)
    with pytest.raises(NotRepairable, match=f"changed_schema in {table}") as exc:
        repair(d, workers=0)
    assert exc.value.details["findings"] == ["changed_schema"]
    # Nothing changed, not even the index, which alone the repair would create.
    assert _digest(d) == digest and _schema(d) == schema


# -- no false alarm ---------------------------------------------------------------------------

def test_an_untouched_ledger_has_no_finding(built: Built) -> None:
    rep = run_audit(built.dir, workers=0)
    assert rep.ok, rep.findings


def test_an_earlier_release_s_ledger_gets_no_schema_finding(
        release_ledger: Path, release: Release) -> None:
    # Before a node of this release opens it: only its stale query tables are named.
    stale = _rebuilt_on_open(release_ledger)
    assert sorted((f.kind, f.table) for f in run_audit(release_ledger, workers=0).findings
                  ) == [("projection_schema", name) for name in stale]
    key = load_node_key(release_ledger, release.secrets["node_key_password"])
    with Node(Settings(release_ledger), key):
        pass  # the upgrade: migrations run, stale tables rebuilt
    rep = run_audit(release_ledger, workers=0)
    assert rep.ok, rep.findings[:5]


def test_restore_derived_re_creates_no_record_table(built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path)
    digest = _digest(d)
    for recreate in ({"txs": "CREATE TABLE txs (x)"}, {"state": "CREATE TABLE state (x)"}):
        # txs is the record; state without its rows would be emptied.
        with pytest.raises(ValueError, match="re-creates only state and meta, with their rows"):
            restore_derived(d, state=None, meta=None, tables={}, recreate=recreate)
    assert _digest(d) == digest


def test_a_backups_advice_follows_what_repair_can_fix(built: Built, tmp_path: Path) -> None:
    """A missing index is the repair's to fix, not damage to the blocks; a record table
    defined otherwise is not the repair's."""
    from supplyledger.cli.ops_cmd import backup_advice

    fixable = _copy(built, tmp_path / "a", "DROP INDEX ix_orders_buyer")
    advice = backup_advice(run_audit(fixable, workers=0), fixable, tmp_path / "out")
    assert "The blocks are intact" in advice and "supplyledger repair" in advice, advice
    broken = _copy(built, tmp_path / "b", *_redefined(
        "blocks", "height INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, header BLOB NOT "
        "NULL, signature BLOB NOT NULL, time INTEGER NOT NULL CHECK (time >= 0)"))
    report = run_audit(broken, workers=0)
    assert any(f.kind == "changed_schema" and f.table == "blocks" for f in report.findings)
    advice = backup_advice(report, broken, tmp_path / "out")
    assert "The blocks or transactions are damaged" in advice, advice


# -- tables of someone else's -------------------------------------------------------------------

NOTES = ("CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('someone''s data')")


def test_a_backups_advice_for_a_foreign_table_is_to_move_and_drop_it(
        built: Built, tmp_path: Path) -> None:
    """A table supplyledger did not create is no damage to the blocks: the advice names it
    and how to drop it, and restoring from a backup is not asked for."""
    from supplyledger.cli.ops_cmd import backup_advice

    d = _copy(built, tmp_path / "a", *NOTES)
    advice = backup_advice(run_audit(d, workers=0), d, tmp_path / "out")
    assert "The blocks are intact" in advice and "damaged" not in advice, advice
    assert "the table(s) notes were not created by supplyledger" in advice
    assert f"sqlite3 {d / DB_NAME} 'DROP TABLE \"notes\"'" in advice
    assert "repair" not in advice.split("sqlite3")[1], advice  # nothing else to repair

    both = _copy(built, tmp_path / "b", *NOTES, "DROP INDEX ix_orders_buyer")
    advice = backup_advice(run_audit(both, workers=0), both, tmp_path / "out")
    assert "The blocks are intact" in advice and "notes" in advice, advice
    assert f"supplyledger repair --data {both}" in advice, advice


def test_repair_with_only_a_foreign_table_says_the_blocks_are_fine_then_finishes(
        built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, *NOTES, "DROP INDEX ix_orders_buyer")
    schema = _schema(d)
    with pytest.raises(NotRepairable) as exc:
        repair(d, workers=0)
    msg = exc.value.message
    assert msg.startswith("nothing was changed: the table(s) notes were not created"), msg
    assert "restore the ledger from a backup" not in msg
    assert _schema(d) == schema  # not even the index was created again
    # Doing what it says, then repairing again, ends clean.
    conn = sqlite3.connect(d / DB_NAME)
    conn.execute('DROP TABLE "notes"')
    conn.close()
    out = repair(d, workers=0)
    assert out.ok and out.created == ["index ix_orders_buyer"], out.to_dict()


def test_repair_with_a_foreign_table_and_damaged_blocks_asks_for_a_backup(
        built: Built, tmp_path: Path) -> None:
    d = _copy(built, tmp_path, *NOTES, "UPDATE blocks SET time = time + 1 WHERE height = 1")
    with pytest.raises(NotRepairable) as exc:
        repair(d, workers=0)
    msg = exc.value.message
    assert "restore the ledger from a backup" in msg and "Also, the table(s) notes" in msg, msg


def test_backup_and_the_audit_page_advise_from_one_remedy() -> None:
    """``repair.remedy`` decides for both the backup's advice and the audit page; the page
    took query tables of an earlier release for an insider's edit."""
    from supplyledger.api.web.pages_ledger import audit_advice
    from supplyledger.contracts.registry import all_tables, load_builtin
    from supplyledger.node.audit import AuditReport, Finding
    from supplyledger.node.repair import remedy

    contracts = load_builtin()
    tables = {t.name: t for t in all_tables(contracts)}

    def report(*kinds: tuple[str, str | None]) -> AuditReport:
        return AuditReport(ok=not kinds, findings=[Finding(k, "x", table=t) for k, t in kinds])

    old = report(("projection_schema", "orders"))
    edited = report(("changed_row", "state"), ("unknown_table", "notes"))
    damaged = report(("tx_root", None), ("unknown_table", "notes"))
    assert [(r.kind, r.foreign, r.rest) for r in (remedy(x.findings, tables) for x in (
        report(), old, edited, damaged, report(("unknown_table", "notes")),
        report(("rules_unsupported", None), ("changed_row", "state"))))] == [
        ("none", [], False), ("rebuild", [], True), ("repair", ["notes"], True),
        ("restore", ["notes"], True), ("repair", ["notes"], False),
        ("other_release", [], False)]
    page = audit_advice(old, contracts) or ""
    assert "built by an earlier release" in page and "changed in its database" not in page
    assert "changed in its database" in (audit_advice(edited, contracts) or "")
    assert "restore from a backup" in (audit_advice(damaged, contracts) or "")
