"""Repair a ledger whose derived tables were edited: ``supplyledger repair``.

The blocks and transactions are the record; the state, the meta rows and the projection
tables follow from them. When the audit finds edits only in those, the repair writes back
what re-executing the blocks gives (the same rows the audit compared against), in one
transaction, and audits again. When the blocks or transactions themselves are damaged, or a
table supplyledger did not create is present, nothing here can say what they held: the
repair refuses, names the findings and changes nothing (restore from a backup or another
organisation's copy). The node must be stopped: the repair takes the ledger's writer lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from supplyledger.errors import NotRepairable
from supplyledger.node.audit import AuditReport, Finding, Progress, audited, run_audit
from supplyledger.store import history
from supplyledger.store.lock import WriterLock
from supplyledger.store.restore import restore_derived

__all__ = ["RepairReport", "repair"]

ROW_KINDS = {"changed_row", "missing_row", "extra_row", "projection"}


@dataclass
class RepairReport:
    before: AuditReport
    after: AuditReport | None = None
    restored: list[str] = field(default_factory=list)  # tables written back

    @property
    def ok(self) -> bool:
        final = self.before if self.after is None else self.after
        return final.ok

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "restored": self.restored, "before": self.before.to_dict(),
                "after": self.after.to_dict() if self.after else None}


def _repairable(f: Finding, projections: set[str]) -> bool:
    return f.kind in ROW_KINDS and (f.table in ("state", "meta") or f.table in projections)


def repair(data_dir: Path, *, workers: int = 2, progress: Progress | None = None
           ) -> RepairReport:
    """Audit ``data_dir``; if it has findings and all of them are in derived tables, write
    those tables back from the blocks and audit again. Raises
    :class:`~supplyledger.errors.NotRepairable` (nothing written) otherwise, and
    :class:`~supplyledger.errors.LedgerInUse` while a node runs on the directory."""
    lock = WriterLock(data_dir, "supplyledger repair")
    try:
        # All findings are needed to decide: a cap could hide a damaged block.
        with audited(data_dir, workers=workers, progress=progress,
                     max_findings=1_000_000) as rebuilt:
            out = RepairReport(rebuilt.report)
            if rebuilt.report.ok:
                return out
            bad = [f for f in rebuilt.report.findings
                   if not _repairable(f, set(rebuilt.tables))]
            if bad:
                shown = "; ".join(f"{f.kind} in {f.table or 'the ledger'}"
                                  + (f" at block {f.height}" if f.height is not None else "")
                                  + f": {f.detail}" for f in bad[:5])
                raise NotRepairable(
                    f"{len(bad)} finding(s) are not in tables the blocks can restore ({shown}"
                    f"{'; …' if len(bad) > 5 else ''}); restore the ledger from a backup or "
                    "another organisation's copy", findings=[f.kind for f in bad])
            hit = {f.table for f in rebuilt.report.findings}
            state = ((k, v) for k, v in sorted(rebuilt.state.items()) if v is not None)
            restore_derived(
                data_dir,
                state=state if "state" in hit else None,
                meta={k: str(v) for k, v in rebuilt.meta.items()} if "meta" in hit else None,
                tables={t: history.table_rows(rebuilt.proj, t)
                        for name, t in sorted(rebuilt.tables.items()) if name in hit})
            out.restored = sorted(t for t in hit if t is not None)
        out.after = run_audit(data_dir, workers=workers)
        return out
    finally:
        lock.release()
