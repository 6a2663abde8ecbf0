"""An index of the ledger's own redefined under its name: the audit compared schema objects
by type, name and table only, so a plain index replaced by a UNIQUE one (which would make
later commits fail) or by one on other columns passed. The audit now compares an expected
index's definition too, and the repair drops the impostor and creates the index again as
this release defines it."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from supplyledger.node.audit import run_audit
from supplyledger.node.repair import repair
from supplyledger.store.sqlite import DB_NAME

from .test_audit import Built
from .test_audit import built as built


def _indexes(d: Path) -> dict[str, tuple[str, str]]:
    conn = sqlite3.connect(f"file:{d / DB_NAME}?mode=ro", uri=True)
    try:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type='index' "
            "AND name NOT LIKE 'sqlite_%'")}
    finally:
        conn.close()


def _redefined(built: Built, tmp_path: Path) -> tuple[Path, str, str, str]:
    """A copy of the ledger whose index of participants by organisation became a UNIQUE one
    on other columns: (directory, index name, its SQL before, the SQL put in its place)."""
    name = "ix_participants_org"
    table, sql = _indexes(built.dir)[name]
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    impostor = f"CREATE UNIQUE INDEX {name} ON {table} (did, org)"
    conn = sqlite3.connect(d / DB_NAME)
    conn.execute(f'DROP INDEX "{name}"')
    conn.execute(impostor)
    conn.commit()
    conn.close()
    return d, name, sql, impostor


def test_a_redefined_index_is_a_finding_naming_both_definitions(
        built: Built, tmp_path: Path) -> None:
    d, name, sql, impostor = _redefined(built, tmp_path)
    rep = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in rep.findings] == [("unknown_object", name)]
    detail = rep.findings[0].detail
    assert detail.startswith("index on participants is not the one supplyledger creates")
    assert " ".join(sql.split()) in detail and impostor in detail
    assert run_audit(built.dir, workers=0).ok  # the untouched ledger: no finding


def test_repair_creates_the_index_again_as_defined(built: Built, tmp_path: Path) -> None:
    d, name, sql, _ = _redefined(built, tmp_path)
    out = repair(d, workers=0)
    assert out.ok and out.after is not None and out.after.ok, out.to_dict()
    assert out.dropped == [f"index {name}"]
    assert _indexes(d) == _indexes(built.dir)
    assert _indexes(d)[name] == ("participants", sql)


def test_added_objects_are_listed_when_the_audit_stops_early(
        built: Built, tmp_path: Path) -> None:
    """A block missing stops the audit (nothing after it can be checked); the trigger
    added beside it is named all the same."""
    d = tmp_path / "copy"
    shutil.copytree(built.dir, d)
    conn = sqlite3.connect(d / DB_NAME)
    conn.execute("DELETE FROM blocks WHERE height = 1")
    conn.execute("CREATE TRIGGER skim AFTER INSERT ON state BEGIN "
                 "UPDATE state SET value = X'00' WHERE key = NEW.key; END")
    conn.commit()
    conn.close()
    rep = run_audit(d, workers=0)
    assert [(f.kind, f.table) for f in rep.findings] == [("missing_block", None),
                                                        ("unknown_object", "skim")]
