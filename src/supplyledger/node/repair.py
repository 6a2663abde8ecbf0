"""Repair a ledger whose derived tables were edited: ``supplyledger repair``.

The blocks and transactions are the record; the state, the meta rows and the projection
tables follow from them. When the audit finds edits only in those, the repair writes back
what re-executing the blocks gives (the same rows the audit compared against) and audits
again. An index, trigger or view supplyledger did not create holds no data of its own: the
repair drops it first (a trigger on the state would otherwise rewrite what is written back),
and an index of supplyledger's that was redefined or is missing is created again as this
release defines it. ``state`` or ``meta`` defined otherwise is re-created as defined before
its rows are written back; a projection table defined otherwise is rebuilt like an edited
one. The drops, the write-back and the creations are one transaction: a failure (a full
disk) leaves the ledger as it was. When the blocks or transactions themselves are damaged,
or their tables defined otherwise (re-creating them would mean rewriting the record),
nothing here can say what they held, and a table supplyledger did not create may hold
someone's data: the repair refuses, names the findings and changes nothing (restore from a
backup or another organisation's copy; move such a table's data elsewhere). The node must
be stopped: the repair takes the ledger's writer lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from supplyledger.contracts.projection import Table
from supplyledger.errors import NotRepairable, StoreError
from supplyledger.node.audit import (
    DERIVED_CORE,
    AuditReport,
    Finding,
    Progress,
    audited,
    fresh_objects,
    run_audit,
)
from supplyledger.store import history
from supplyledger.store.lock import WriterLock
from supplyledger.store.restore import (
    DROPPABLE,
    highest_heights,
    restore_derived,
    unknown_txs,
)
from supplyledger.store.sqlite import DB_NAME

__all__ = ["Remedy", "RepairReport", "drop_hint", "foreign_tables", "remedy", "repair",
           "repairable"]

# All findings are needed to decide (the audit names an unknown table last): past this
# many the repair refuses rather than decide on part of them.
MAX_FINDINGS = 1_000_000
# The findings whose table (state, meta or a projection table) is written back whole.
# projection_schema: a table built by another release, written back as this one declares it;
# changed_schema: a table defined otherwise, re-created as this one defines it.
ROW_KINDS = {"changed_row", "missing_row", "extra_row", "projection", "projection_schema",
             "changed_schema"}


@dataclass
class RepairReport:
    before: AuditReport
    after: AuditReport | None = None
    restored: list[str] = field(default_factory=list)  # tables written back
    dropped: list[str] = field(default_factory=list)  # "<type> <name>" of objects dropped
    created: list[str] = field(default_factory=list)  # "<type> <name>" of objects created

    @property
    def ok(self) -> bool:
        final = self.before if self.after is None else self.after
        return final.ok

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "restored": self.restored, "dropped": self.dropped,
                "created": self.created,
                "before": self.before.to_dict(),
                "after": self.after.to_dict() if self.after else None}


def _repairable(f: Finding, projections: set[str], creatable: dict[str, str]) -> bool:
    if f.kind == "unknown_object":  # an index, trigger or view: dropped
        return True
    if f.kind == "missing_object":  # an index, trigger or view: created again; not a table
        return f.table in creatable
    return f.kind in ROW_KINDS and (f.table in DERIVED_CORE or f.table in projections)


def repairable(findings: Iterable[Finding], tables: dict[str, Table]) -> bool:
    """Whether ``repair`` would fix every one of ``findings`` of a ledger with projection
    ``tables``: rows and definitions written back from the blocks, objects dropped or
    created again."""
    projections, creatable = set(tables), _creatable(tables)
    return all(_repairable(f, projections, creatable) for f in findings)


@dataclass(frozen=True)
class Remedy:
    """What an audit's findings call for, as ``backup``'s advice and the audit page say it:

    - ``none``: nothing found;
    - ``other_release``: rules this release does not implement (audit with one that does);
    - ``rebuild``: only query tables built by another release (a node rebuilds them);
    - ``repair``: only what :func:`repair` writes back, drops or creates, besides the
      ``foreign`` tables (someone's: moved and dropped by hand first);
    - ``restore``: the record itself is damaged (a backup, another organisation's copy).
    """

    kind: str
    foreign: list[str] = field(default_factory=list)
    rest: bool = False  # findings besides the foreign tables


def remedy(findings: Sequence[Finding], tables: dict[str, Table]) -> Remedy:
    """The :class:`Remedy` for ``findings`` of a ledger with projection ``tables``."""
    kinds = {f.kind for f in findings}
    if not kinds:
        return Remedy("none")
    if "rules_unsupported" in kinds:
        return Remedy("other_release")
    if kinds == {"projection_schema"}:
        return Remedy("rebuild", rest=True)
    rest = [f for f in findings if f.kind != "unknown_table"]
    if repairable(rest, tables):
        return Remedy("repair", foreign_tables(findings), bool(rest))
    return Remedy("restore", foreign_tables(findings), True)


def foreign_tables(findings: Iterable[Finding]) -> list[str]:
    """The tables supplyledger did not create among ``findings``: no ledger data, but
    perhaps someone's, so only their owner may drop them."""
    return sorted({str(f.table) for f in findings if f.kind == "unknown_table"})


def drop_hint(db: Path, foreign: list[str]) -> str:
    """What to do about ``foreign`` tables in ledger file ``db``, in words and commands."""
    drops = "; ".join(f'DROP TABLE "{t}"' for t in foreign)
    return (f"the table(s) {', '.join(foreign)} were not created by supplyledger and may hold "
            "someone's data, so the repair does not drop them: move what they hold elsewhere, "
            f"then drop them (node stopped: `sqlite3 {db} '{drops}'`)")


def _creatable(tables: dict[str, Table]) -> dict[str, str]:
    """Name -> SQL of each index, trigger and view a new ledger of this release holds but
    SQLite's own (they come with their table)."""
    return {name: sql for (kind, name, _), sql in fresh_objects(tuple(tables.values())).items()
            if kind in DROPPABLE and sql}


def _table_sql(tables: dict[str, Table]) -> dict[str, str]:
    """Name -> SQL of each table a new ledger of this release holds."""
    return {name: sql for (kind, name, _), sql in fresh_objects(tuple(tables.values())).items()
            if kind == "table"}


def _to_drop(names: list[str], tables: dict[str, Table]) -> dict[str, tuple[str, str] | None]:
    """Each named object (the audit's ``unknown_object`` findings: restore_derived drops the
    indexes, triggers and views among them) with the (table, SQL) of the index this release
    creates under that name, if any: a redefined index is created again as defined."""
    expected = {name: (table, sql) for (kind, name, table), sql
                in fresh_objects(tuple(tables.values())).items() if kind == "index" and sql}
    return {name: expected.get(name) for name in names}


def _refuse_a_cut_chain(data_dir: Path, top: int, tables: dict[str, Table]) -> None:
    """Blocks cut off the end of the chain (with their transactions) leave no gap the audit
    can see, and their writes look like edited state: writing the state back would make
    the loss final. Query-table rows that name a block beyond the last one stored, or a
    transaction no stored block holds, give it away (or were forged: the blocks cannot
    tell which, so the repair refuses either way). A cut that left no such row is not
    detectable here (docs/operations.md, "Check and repair"); a ledger without blocks at
    all is the audit's own ``missing_block``."""
    where = [f"{n} names block {h}" for n, h in sorted(
        highest_heights(data_dir, tables.values()).items()) if h > top]
    where += [f"{n} names transaction {tx[:16]}…, which no stored block holds"
              for n, tx in sorted(unknown_txs(data_dir, tables.values()).items())]
    if where:
        raise NotRepairable(f"the blocks end at {top} but {'; '.join(where[:5])}: blocks were "
                            "removed (or these rows forged); restore the ledger from a backup "
                            "or another organisation's copy", findings=["missing_block"])


def repair(data_dir: Path, *, workers: int = 2, progress: Progress | None = None
           ) -> RepairReport:
    """Audit ``data_dir``; if it has findings and all of them are in derived tables, write
    those tables back from the blocks and audit again. Raises
    :class:`~supplyledger.errors.NotRepairable` (nothing written) otherwise, and
    :class:`~supplyledger.errors.LedgerInUse` while a node runs on the directory."""
    lock = WriterLock(data_dir, "supplyledger repair")
    try:
        return _repair(data_dir, workers, progress)
    except sqlite3.Error as exc:  # a damaged or foreign file, or a full disk under the audit
        raise StoreError(f"the ledger in {data_dir} could not be read or checked, nothing was "
                         f"changed: {exc}") from exc
    finally:
        lock.release()


def _repair(data_dir: Path, workers: int, progress: Progress | None) -> RepairReport:
    with audited(data_dir, workers=workers, progress=progress,
                 max_findings=MAX_FINDINGS + 1) as rebuilt:
        out = RepairReport(rebuilt.report)
        if rebuilt.report.ok:
            return out
        if len(rebuilt.report.findings) > MAX_FINDINGS:  # the rest were not kept
            raise NotRepairable(
                f"more than {MAX_FINDINGS} findings: too many to decide what the blocks "
                "can restore; restore the ledger from a backup",
                findings=sorted({f.kind for f in rebuilt.report.findings}))
        projections = set(rebuilt.tables)
        creatable = _creatable(rebuilt.tables)
        bad = [f for f in rebuilt.report.findings
               if not _repairable(f, projections, creatable)]
        unsupported = next((f for f in bad if f.kind == "rules_unsupported"), None)
        if unsupported is not None:  # the audit stopped there: the blocks may be intact
            raise NotRepairable(
                f"this release cannot re-execute block {unsupported.height} "
                f"({unsupported.detail}), so it can neither check nor repair the ledger; "
                "nothing was changed. Use a release that implements those rules (`supplyledger "
                "rules` names them), such as the one that ran it", findings=[unsupported.kind])
        if bad:
            shown = "; ".join(f"{f.kind} in {f.table or 'the ledger'}"
                              + (f" at block {f.height}" if f.height is not None else "")
                              + f": {f.detail}" for f in bad[:5])
            foreign = foreign_tables(bad)
            if len(foreign) == len(bad):  # the blocks are intact: no backup is needed
                raise NotRepairable(
                    f"nothing was changed: {drop_hint(data_dir / DB_NAME, foreign)}; then "
                    "repair again", findings=[f.kind for f in bad])
            raise NotRepairable(
                f"{len(bad)} finding(s) are not in tables the blocks can restore ({shown}"
                f"{'; …' if len(bad) > 5 else ''}); restore the ledger from a backup or "
                "another organisation's copy"
                + (f". Also, {drop_hint(data_dir / DB_NAME, foreign)}" if foreign else ""),
                findings=[f.kind for f in bad])
        _refuse_a_cut_chain(data_dir, rebuilt.report.blocks - 1, rebuilt.tables)
        hit = {f.table for f in rebuilt.report.findings if f.kind in ROW_KINDS}
        # One transaction, the drops first: a full disk between them and the write-back
        # would leave the objects dropped and the tables as edited.
        findings = rebuilt.report.findings
        done = restore_derived(
            data_dir,
            state=rebuilt.state_rows() if "state" in hit else None,
            meta={k: str(v) for k, v in rebuilt.meta.items()} if "meta" in hit else None,
            tables={t: history.table_rows(rebuilt.scratch, t)
                    for name, t in sorted(rebuilt.tables.items()) if name in hit},
            drop=_to_drop([str(f.table) for f in findings if f.kind == "unknown_object"],
                          rebuilt.tables),
            recreate={str(f.table): _table_sql(rebuilt.tables)[str(f.table)]
                      for f in findings if f.kind == "changed_schema"
                      and f.table in DERIVED_CORE},
            create={str(f.table): creatable[str(f.table)] for f in findings
                    if f.kind == "missing_object"})
        out.dropped, out.created = done.dropped, done.created
        out.restored = sorted(t for t in hit if t is not None)
    try:
        out.after = run_audit(data_dir, workers=workers)
    except sqlite3.Error as exc:  # written back already: say so, not "nothing changed"
        raise StoreError(f"the repair wrote back {', '.join(out.restored) or 'nothing'} and "
                         f"dropped {', '.join(out.dropped) or 'nothing'}, created "
                         f"{', '.join(out.created) or 'nothing'}, but the audit after "
                         f"it stopped: {exc}; run `supplyledger audit` again") from exc
    return out
